//! Snapshots of containers and VMs: list, create, delete, rollback and a snapshot's config.

use super::guest::{GuestConfig, GuestType};
use super::{ApiRequest, BACKEND, Method, ProxmoxClient, Upid, num};
use paas_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// One entry of `GET .../snapshot`; the last one is `current` (the running state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The snapshot name, or `current`.
    pub name: String,
    /// Its description (`You are here!` for `current`).
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time, Unix seconds (absent for `current`).
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub snaptime: Option<u64>,
    /// The snapshot it was taken on top of.
    #[serde(default)]
    pub parent: Option<String>,
    /// QEMU: whether the VM's RAM was saved with it.
    #[serde(default, deserialize_with = "num::bool")]
    pub vmstate: bool,
    /// `prepare` or `delete` while a task works on it (or after one failed).
    #[serde(default)]
    pub snapstate: Option<String>,
    /// `current` only: whether the guest runs.
    #[serde(default, deserialize_with = "num::bool")]
    pub running: bool,
    /// `current` only: the config digest.
    #[serde(default)]
    pub digest: Option<String>,
}

impl Snapshot {
    /// Whether this is the `current` pseudo-entry rather than a snapshot.
    pub fn is_current(&self) -> bool {
        self.name == "current"
    }
}

/// Parameters of a new snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateSnapshot {
    /// The name (a config id: a letter, then letters, digits, `-`, `_`; at most 40).
    pub snapname: String,
    /// A description.
    pub description: Option<String>,
    /// QEMU only: also save the RAM of the running VM (a rollback then resumes it running).
    pub vmstate: Option<bool>,
}

fn snapshot_path(kind: GuestType, node: &str, vmid: u32, tail: &[&str]) -> Vec<String> {
    let mut p: Vec<String> = vec![
        "nodes".into(),
        node.into(),
        kind.as_str().into(),
        vmid.to_string(),
        "snapshot".into(),
    ];
    p.extend(tail.iter().map(|s| (*s).to_owned()));
    p
}

/// `GET .../snapshot`.
pub fn list_request(kind: GuestType, node: &str, vmid: u32) -> ApiRequest {
    ApiRequest::new(Method::Get, snapshot_path(kind, node, vmid, &[]))
}

/// `POST .../snapshot`; containers have no `vmstate` (an error before anything is sent).
pub fn create_request(
    kind: GuestType,
    node: &str,
    vmid: u32,
    p: &CreateSnapshot,
) -> Result<ApiRequest> {
    if kind == GuestType::Lxc && p.vmstate.is_some() {
        return Err(Error::invalid_input(format!(
            "snapshot '{}' of CT {vmid}: vmstate is only for QEMU VMs",
            p.snapname
        ))
        .with_backend(BACKEND));
    }
    Ok(
        ApiRequest::new(Method::Post, snapshot_path(kind, node, vmid, &[]))
            .param("snapname", &p.snapname)
            .opt("description", p.description.as_deref())
            .opt_flag("vmstate", p.vmstate),
    )
}

/// `DELETE .../snapshot/{snapname}` (`force`: drop it from the config even if removing
/// volume snapshots fails).
pub fn delete_request(
    kind: GuestType,
    node: &str,
    vmid: u32,
    snapname: &str,
    force: Option<bool>,
) -> ApiRequest {
    ApiRequest::new(Method::Delete, snapshot_path(kind, node, vmid, &[snapname]))
        .opt_flag("force", force)
}

/// `POST .../snapshot/{snapname}/rollback` (`start`: start the guest afterwards).
pub fn rollback_request(
    kind: GuestType,
    node: &str,
    vmid: u32,
    snapname: &str,
    start: Option<bool>,
) -> ApiRequest {
    ApiRequest::new(
        Method::Post,
        snapshot_path(kind, node, vmid, &[snapname, "rollback"]),
    )
    .opt_flag("start", start)
}

/// `GET .../snapshot/{snapname}/config`.
pub fn config_request(kind: GuestType, node: &str, vmid: u32, snapname: &str) -> ApiRequest {
    ApiRequest::new(
        Method::Get,
        snapshot_path(kind, node, vmid, &[snapname, "config"]),
    )
}

/// `PUT .../snapshot/{snapname}/config` (the description).
pub fn update_request(
    kind: GuestType,
    node: &str,
    vmid: u32,
    snapname: &str,
    description: &str,
) -> ApiRequest {
    ApiRequest::new(
        Method::Put,
        snapshot_path(kind, node, vmid, &[snapname, "config"]),
    )
    .param("description", description)
}

impl ProxmoxClient {
    /// The snapshots of a guest, and `current` last.
    ///
    /// ```no_run
    /// # async fn demo(c: paas_proxmox::ProxmoxClient) -> paas_core::Result<()> {
    /// use paas_proxmox::client::guest::GuestType;
    /// use paas_proxmox::client::snapshot::CreateSnapshot;
    /// use paas_proxmox::client::WaitOptions;
    /// let p = CreateSnapshot { snapname: "pre-upgrade".into(), ..CreateSnapshot::default() };
    /// let task = c.create_snapshot(GuestType::Lxc, "pve1", 100, &p).await?;
    /// c.wait_task(&task, WaitOptions::default()).await?;
    /// let names: Vec<String> = c.snapshots(GuestType::Lxc, "pve1", 100).await?
    ///     .into_iter().filter(|s| !s.is_current()).map(|s| s.name).collect();
    /// assert_eq!(names, ["pre-upgrade"]);
    /// # Ok(()) }
    /// ```
    pub async fn snapshots(&self, kind: GuestType, node: &str, vmid: u32) -> Result<Vec<Snapshot>> {
        self.send(&list_request(kind, node, vmid)).await
    }

    /// Takes a snapshot; returns the task (`vzsnapshot` / `qmsnapshot`). The guest carries
    /// `lock: snapshot` until it ends; a taken name or a locked guest fails the task.
    pub async fn create_snapshot(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
        params: &CreateSnapshot,
    ) -> Result<Upid> {
        self.send(&create_request(kind, node, vmid, params)?).await
    }

    /// Deletes a snapshot; returns the task (`vzdelsnapshot` / `qmdelsnapshot`).
    pub async fn delete_snapshot(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
        snapname: &str,
        force: Option<bool>,
    ) -> Result<Upid> {
        self.send(&delete_request(kind, node, vmid, snapname, force))
            .await
    }

    /// Rolls a guest back to a snapshot (it is stopped first); returns the task
    /// (`vzrollback` / `qmrollback`).
    pub async fn rollback_snapshot(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
        snapname: &str,
        start: Option<bool>,
    ) -> Result<Upid> {
        self.send(&rollback_request(kind, node, vmid, snapname, start))
            .await
    }

    /// The config a snapshot holds.
    pub async fn snapshot_config(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
        snapname: &str,
    ) -> Result<GuestConfig> {
        self.send(&config_request(kind, node, vmid, snapname)).await
    }

    /// Changes a snapshot's description.
    pub async fn set_snapshot_description(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
        snapname: &str,
        description: &str,
    ) -> Result<()> {
        let _: Option<serde_json::Value> = self
            .send(&update_request(kind, node, vmid, snapname, description))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_refuse_vmstate_before_sending() {
        let p = CreateSnapshot {
            snapname: "s1".into(),
            vmstate: Some(true),
            ..CreateSnapshot::default()
        };
        let e = create_request(GuestType::Lxc, "pve1", 100, &p).unwrap_err();
        assert_eq!(e.kind(), paas_core::ErrorKind::InvalidInput);
        let r = create_request(GuestType::Qemu, "pve1", 100, &p).unwrap();
        assert_eq!(r.to_string(), "POST /nodes/pve1/qemu/100/snapshot");
        assert!(r.params().contains(&("vmstate".into(), "1".into())));
    }
}
