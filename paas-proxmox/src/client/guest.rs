//! Endpoints LXC containers and QEMU VMs share: power, status, config, delete.
//!
//! Their paths differ only in `lxc` vs `qemu`, so each is written once over [`GuestType`].

use super::{ApiRequest, Method, ProxmoxClient, Upid, num};
use paas_core::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// LXC container or QEMU VM, as the API path names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestType {
    /// `/nodes/{node}/lxc/...`
    Lxc,
    /// `/nodes/{node}/qemu/...`
    Qemu,
}

impl GuestType {
    /// The path segment (`lxc` or `qemu`).
    pub fn as_str(self) -> &'static str {
        match self {
            GuestType::Lxc => "lxc",
            GuestType::Qemu => "qemu",
        }
    }

    /// The type of the task an action starts: `vzstart`, `qmdestroy`, ...
    pub fn task_type(self, action: &str) -> String {
        let prefix = match self {
            GuestType::Lxc => "vz",
            GuestType::Qemu => "qm",
        };
        format!("{prefix}{action}")
    }

    /// Reads `lxc` or `qemu` (as `/cluster/resources` reports `type`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "lxc" => Some(GuestType::Lxc),
            "qemu" => Some(GuestType::Qemu),
            _ => None,
        }
    }
}

/// `GET .../status/current`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuestStatus {
    /// `running`, `stopped`, ...
    #[serde(default)]
    pub status: String,
    /// VMID.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub vmid: Option<u64>,
    /// Name (hostname for LXC).
    #[serde(default, deserialize_with = "num::opt_string")]
    pub name: Option<String>,
    /// Seconds running.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub uptime: Option<u64>,
    /// Config lock held, if any.
    #[serde(default)]
    pub lock: Option<String>,
    /// Tags, `;`-separated.
    #[serde(default)]
    pub tags: Option<String>,
    /// Whether it is a template.
    #[serde(default, deserialize_with = "num::bool")]
    pub template: bool,
    /// Cores.
    #[serde(default, deserialize_with = "num::opt_f64")]
    pub cpus: Option<f64>,
    /// Memory configured, bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub maxmem: Option<u64>,
    /// Memory used, bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub mem: Option<u64>,
    /// QEMU: status as the QMP monitor reports it (`running`, `paused`, ...).
    #[serde(default)]
    pub qmpstatus: Option<String>,
}

/// A guest's configuration: option name to value, as PVE returns it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GuestConfig(pub BTreeMap<String, serde_json::Value>);

impl GuestConfig {
    /// An option as text (numbers are shown as PVE would write them).
    pub fn get(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// The digest to send back with an update (optimistic concurrency).
    pub fn digest(&self) -> Option<String> {
        self.get("digest")
    }
}

/// Changes to a guest's configuration (`PUT .../config`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigUpdate {
    /// Options to set, e.g. `("cores", "2")`.
    pub set: Vec<(String, String)>,
    /// Options to remove.
    pub delete: Vec<String>,
    /// Refuse the change if the config changed since this digest was read.
    pub digest: Option<String>,
}

impl ConfigUpdate {
    /// Sets an option.
    #[must_use]
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.set.push((key.to_owned(), value.to_string()));
        self
    }

    /// Removes an option.
    #[must_use]
    pub fn delete(mut self, key: &str) -> Self {
        self.delete.push(key.to_owned());
        self
    }

    /// Requires the config to still have `digest`.
    #[must_use]
    pub fn digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }
}

/// Options of a delete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Also remove the VMID from backup jobs, replication and HA.
    pub purge: Option<bool>,
    /// LXC only: destroy even if running.
    pub force: Option<bool>,
    /// Also destroy disks not referenced in the config.
    pub destroy_unreferenced_disks: Option<bool>,
}

/// Options of a graceful shutdown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownOptions {
    /// Seconds to wait for the guest to shut down.
    pub timeout: Option<u32>,
    /// Power off when the timeout passes.
    pub force_stop: Option<bool>,
}

fn guest_path<'a>(kind: GuestType, node: &'a str, vmid: &'a str) -> Vec<String> {
    vec![
        "nodes".into(),
        node.into(),
        kind.as_str().into(),
        vmid.into(),
    ]
}

fn with_tail(mut base: Vec<String>, tail: &[&str]) -> Vec<String> {
    base.extend(tail.iter().map(|s| (*s).to_owned()));
    base
}

/// `POST .../status/start`.
pub fn start_request(kind: GuestType, node: &str, vmid: u32) -> ApiRequest {
    ApiRequest::new(
        Method::Post,
        with_tail(
            guest_path(kind, node, &vmid.to_string()),
            &["status", "start"],
        ),
    )
}

/// `POST .../status/stop` (immediate power off).
pub fn stop_request(kind: GuestType, node: &str, vmid: u32) -> ApiRequest {
    ApiRequest::new(
        Method::Post,
        with_tail(
            guest_path(kind, node, &vmid.to_string()),
            &["status", "stop"],
        ),
    )
}

/// `POST .../status/shutdown`.
pub fn shutdown_request(
    kind: GuestType,
    node: &str,
    vmid: u32,
    opts: ShutdownOptions,
) -> ApiRequest {
    ApiRequest::new(
        Method::Post,
        with_tail(
            guest_path(kind, node, &vmid.to_string()),
            &["status", "shutdown"],
        ),
    )
    .opt("timeout", opts.timeout)
    .opt_flag("forceStop", opts.force_stop)
}

/// `GET .../status/current`.
pub fn status_request(kind: GuestType, node: &str, vmid: u32) -> ApiRequest {
    ApiRequest::new(
        Method::Get,
        with_tail(
            guest_path(kind, node, &vmid.to_string()),
            &["status", "current"],
        ),
    )
}

/// `GET .../config`.
pub fn config_request(kind: GuestType, node: &str, vmid: u32) -> ApiRequest {
    ApiRequest::new(
        Method::Get,
        with_tail(guest_path(kind, node, &vmid.to_string()), &["config"]),
    )
}

/// `PUT .../config`.
pub fn update_config_request(
    kind: GuestType,
    node: &str,
    vmid: u32,
    update: &ConfigUpdate,
) -> ApiRequest {
    let mut req = ApiRequest::new(
        Method::Put,
        with_tail(guest_path(kind, node, &vmid.to_string()), &["config"]),
    );
    for (k, v) in &update.set {
        req = req.param(k, v);
    }
    if !update.delete.is_empty() {
        req = req.param("delete", update.delete.join(","));
    }
    req.opt("digest", update.digest.as_deref())
}

/// `DELETE /nodes/{node}/{type}/{vmid}`.
pub fn delete_request(kind: GuestType, node: &str, vmid: u32, opts: DeleteOptions) -> ApiRequest {
    ApiRequest::new(Method::Delete, guest_path(kind, node, &vmid.to_string()))
        .opt_flag("purge", opts.purge)
        .opt_flag("force", opts.force)
        .opt_flag(
            "destroy-unreferenced-disks",
            opts.destroy_unreferenced_disks,
        )
}

impl ProxmoxClient {
    /// Sends a request that starts the task `action` of a guest, recovering its UPID if the
    /// response is lost (see [`super::TaskRecovery`]).
    async fn guest_task(
        &self,
        req: &ApiRequest,
        kind: GuestType,
        node: &str,
        vmid: u32,
        action: &str,
    ) -> Result<Upid> {
        let task_type = kind.task_type(action);
        let key = super::recover::TaskKey {
            node,
            task_type: &task_type,
            id: vmid,
        };
        self.send_task(req, key).await
    }

    /// Starts a guest; returns the task.
    pub async fn start_guest(&self, kind: GuestType, node: &str, vmid: u32) -> Result<Upid> {
        self.guest_task(&start_request(kind, node, vmid), kind, node, vmid, "start")
            .await
    }

    /// Powers a guest off at once; returns the task.
    pub async fn stop_guest(&self, kind: GuestType, node: &str, vmid: u32) -> Result<Upid> {
        self.guest_task(&stop_request(kind, node, vmid), kind, node, vmid, "stop")
            .await
    }

    /// Asks a guest to shut down; returns the task.
    pub async fn shutdown_guest(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
        opts: ShutdownOptions,
    ) -> Result<Upid> {
        self.guest_task(
            &shutdown_request(kind, node, vmid, opts),
            kind,
            node,
            vmid,
            "shutdown",
        )
        .await
    }

    /// A guest's current status.
    pub async fn guest_status(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
    ) -> Result<GuestStatus> {
        self.send(&status_request(kind, node, vmid)).await
    }

    /// A guest's configuration.
    pub async fn guest_config(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
    ) -> Result<GuestConfig> {
        self.send(&config_request(kind, node, vmid)).await
    }

    /// Changes a guest's configuration (synchronously).
    pub async fn update_guest_config(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
        update: &ConfigUpdate,
    ) -> Result<()> {
        let _: Option<serde_json::Value> = self
            .send(&update_config_request(kind, node, vmid, update))
            .await?;
        Ok(())
    }

    /// Destroys a guest; returns the task.
    pub async fn delete_guest(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
        opts: DeleteOptions,
    ) -> Result<Upid> {
        self.guest_task(
            &delete_request(kind, node, vmid, opts),
            kind,
            node,
            vmid,
            "destroy",
        )
        .await
    }
}

/// Splits a PVE tag list (`;`, also `,` and spaces on old servers) into tags.
pub fn split_tags(tags: Option<&str>) -> Vec<String> {
    tags.unwrap_or("")
        .split([';', ',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_update_encodes_delete_and_digest() {
        let u = ConfigUpdate::default()
            .set("cores", 2)
            .delete("net1")
            .delete("mp0")
            .digest("abc");
        let r = update_config_request(GuestType::Lxc, "pve", 100, &u);
        assert_eq!(r.to_string(), "PUT /nodes/pve/lxc/100/config");
        let p = r.params();
        assert!(p.contains(&("delete".into(), "net1,mp0".into())));
        assert!(p.contains(&("digest".into(), "abc".into())));
        assert!(p.contains(&("cores".into(), "2".into())));
    }

    #[test]
    fn tags_split_on_any_separator() {
        assert_eq!(split_tags(Some("a;b,c d;;")), vec!["a", "b", "c", "d"]);
        assert!(split_tags(None).is_empty());
    }
}
