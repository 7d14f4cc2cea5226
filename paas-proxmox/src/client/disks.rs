//! Guest disks: resize (containers and VMs) and moving a container's volume to another
//! container or storage.

use super::guest::GuestType;
use super::{ApiRequest, Method, ProxmoxClient, Upid};
use paas_core::Result;

/// Parameters of `POST /nodes/{node}/lxc/{vmid}/move_volume`.
///
/// Either `target_vmid` (reassign the volume to another container on the same node: the
/// volume is renamed to the target's `vm-<target>-disk-<n>` and keeps its data) or `storage`
/// (copy it to another storage), never both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MoveVolume {
    /// The config key of the volume (`mp0`, `unused1`; not `rootfs` for a reassign).
    pub volume: String,
    /// The container to give it to.
    pub target_vmid: Option<u32>,
    /// The key it gets there (default: the same as `volume`).
    pub target_volume: Option<String>,
    /// The storage to copy it to.
    pub storage: Option<String>,
    /// After a copy to another storage, delete the original (default: keep it as `unusedN`).
    pub delete: Option<bool>,
    /// Refuse if the source config changed since this digest was read.
    pub digest: Option<String>,
    /// Refuse if the target config changed since this digest was read.
    pub target_digest: Option<String>,
}

/// `POST /nodes/{node}/lxc/{vmid}/move_volume`.
pub fn move_volume_request(node: &str, vmid: u32, p: &MoveVolume) -> ApiRequest {
    ApiRequest::new(
        Method::Post,
        ["nodes", node, "lxc", &vmid.to_string(), "move_volume"],
    )
    .param("volume", &p.volume)
    .opt("target-vmid", p.target_vmid)
    .opt("target-volume", p.target_volume.as_deref())
    .opt("storage", p.storage.as_deref())
    .opt_flag("delete", p.delete)
    .opt("digest", p.digest.as_deref())
    .opt("target-digest", p.target_digest.as_deref())
}

/// `PUT /nodes/{node}/{lxc,qemu}/{vmid}/resize`: grow `disk` (`rootfs`, `mp0`, `scsi0`, ...)
/// to `size` (`12G`) or by it (`+2G`); PVE never shrinks.
pub fn resize_request(
    kind: GuestType,
    node: &str,
    vmid: u32,
    disk: &str,
    size: &str,
    digest: Option<&str>,
) -> ApiRequest {
    ApiRequest::new(
        Method::Put,
        ["nodes", node, kind.as_str(), &vmid.to_string(), "resize"],
    )
    .param("disk", disk)
    .param("size", size)
    .opt("digest", digest)
}

impl ProxmoxClient {
    /// Moves a container's volume to another container or storage; returns the task
    /// (`move_volume`). PVE refuses while the source container runs.
    ///
    /// ```no_run
    /// # async fn demo(c: &paas_proxmox::ProxmoxClient) -> paas_core::Result<()> {
    /// use paas_proxmox::client::{WaitOptions, disks::MoveVolume};
    /// let upid = c
    ///     .move_volume("pve1", 101, &MoveVolume {
    ///         volume: "mp0".into(),
    ///         target_vmid: Some(102),
    ///         ..MoveVolume::default()
    ///     })
    ///     .await?;
    /// c.wait_task(&upid, WaitOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn move_volume(&self, node: &str, vmid: u32, params: &MoveVolume) -> Result<Upid> {
        self.send(&move_volume_request(node, vmid, params)).await
    }

    /// Grows a guest disk; returns the task (`resize`).
    pub async fn resize_disk(
        &self,
        kind: GuestType,
        node: &str,
        vmid: u32,
        disk: &str,
        size: &str,
    ) -> Result<Upid> {
        self.send(&resize_request(kind, node, vmid, disk, size, None))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_volume_names_its_parameters_as_pve_does() {
        let r = move_volume_request(
            "pve1",
            101,
            &MoveVolume {
                volume: "mp0".into(),
                target_vmid: Some(102),
                target_volume: Some("mp1".into()),
                digest: Some("abc".into()),
                target_digest: Some("def".into()),
                ..MoveVolume::default()
            },
        );
        assert_eq!(r.to_string(), "POST /nodes/pve1/lxc/101/move_volume");
        let p = r.params();
        for kv in [
            ("volume", "mp0"),
            ("target-vmid", "102"),
            ("target-volume", "mp1"),
            ("digest", "abc"),
            ("target-digest", "def"),
        ] {
            assert!(p.contains(&(kv.0.into(), kv.1.into())), "{kv:?} in {p:?}");
        }
        let r = resize_request(GuestType::Qemu, "pve1", 100, "scsi0", "+2G", None);
        assert_eq!(r.to_string(), "PUT /nodes/pve1/qemu/100/resize");
    }
}
