//! Container storage and data volumes: which storage of a node takes container disks, the
//! data volume (`mp0`) as a guest reports it, and moving it from one container to another
//! with `move_volume`.
//!
//! The data volume's promise is that it outlives the guests of an app: a move hands the very
//! volume (PVE renames the logical volume to the new owner) and never copies or recreates it,
//! and a move that is retried, or whose answer was lost, ends `Ok` once the target holds it.

use super::ProxmoxProvisioner;
use crate::client::BACKEND;
use crate::client::disks::MoveVolume;
use crate::client::error::{ErrorClass, class_of};
use crate::client::guest::{GuestConfig, GuestType};
use crate::client::storage::StorageFilter;
use paas_core::model::NodeName;
use paas_core::ports::{GuestKind, GuestRef, GuestState, VolumeInfo};
use paas_core::{Error, Result};

/// The config key of the data volume.
pub(crate) const DATA_VOLUME_KEY: &str = "mp0";

const GIB: u64 = 1 << 30;

/// The data volume of a container config (`mp0: local-lvm:vm-101-disk-1,mp=/srv,size=8G`).
/// `None` without one, or for a bind mount (not a volume).
pub(crate) fn data_volume_of(config: &GuestConfig) -> Option<VolumeInfo> {
    let value = config.get(DATA_VOLUME_KEY)?;
    let mut volume = None;
    let mut mount = None;
    let mut size = None;
    for part in value.split(',') {
        match part.split_once('=') {
            Some(("volume", v)) => volume = Some(v),
            Some(("mp", v)) => mount = Some(v),
            Some(("size", v)) => size = parse_size(v),
            Some(_) => {}
            None => volume = Some(part),
        }
    }
    let volume = volume.filter(|v| !v.starts_with('/') && v.contains(':'))?;
    let mount_path = mount?.parse().ok()?;
    let size_gb = size.map_or(0, |b| u32::try_from(b.div_ceil(GIB)).unwrap_or(u32::MAX));
    Some(VolumeInfo {
        volume: volume.to_owned(),
        size_gb,
        mount_path,
    })
}

/// PVE's disk sizes: a number with an optional `K`, `M`, `G` or `T` (bytes without).
fn parse_size(s: &str) -> Option<u64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let mult = match unit {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = n * mult;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (bytes < 1.8e19).then_some(bytes as u64)
}

/// The size in bytes of a VM disk config value (`local-lvm:vm-101-disk-0,size=8G`).
pub(crate) fn disk_size(value: &str) -> Option<u64> {
    value
        .split(',')
        .find_map(|p| p.strip_prefix("size="))
        .and_then(parse_size)
}

impl ProxmoxProvisioner {
    /// The storage for a container's disks on `node`: the configured one, else the enabled,
    /// active storage holding `rootdir` with the most space available (remembered per node;
    /// forgotten when a create names it and fails).
    pub(crate) async fn container_storage(&self, node: &NodeName) -> Result<String> {
        if let Some(s) = &self.opts.rootfs_storage {
            return Ok(s.clone());
        }
        if let Some(s) = self.storage_cache().get(node.as_str()) {
            return Ok(s.clone());
        }
        let filter = StorageFilter {
            content: Some("rootdir".into()),
            enabled: Some(true),
            ..StorageFilter::default()
        };
        let found = self
            .opts
            .retry
            .run("listing the node's storages", || {
                self.client.node_storages(node.as_str(), &filter)
            })
            .await
            .map_err(|e| e.context(format!("finding container storage on node '{node}'")))?;
        let best = found
            .iter()
            .filter(|s| s.active && s.holds("rootdir"))
            .max_by_key(|s| s.avail.unwrap_or(0))
            .ok_or_else(|| {
                Error::invalid_input(format!(
                    "node '{node}' has no active storage for container disks (content \
                     'rootdir'): add one in Proxmox VE, or set ProvisionerOptions::rootfs_storage"
                ))
                .with_backend(BACKEND)
            })?;
        self.storage_cache()
            .insert(node.as_str().to_owned(), best.storage.clone());
        Ok(best.storage.clone())
    }

    /// Forgets the container storage found for `node` (after a create that used it failed
    /// on the storage).
    pub(crate) fn forget_container_storage(&self, node: &NodeName) {
        self.storage_cache().remove(node.as_str());
    }

    async fn config_of(&self, g: &GuestRef) -> Result<GuestConfig> {
        let kind = match g.kind {
            GuestKind::Lxc => GuestType::Lxc,
            GuestKind::Vm => GuestType::Qemu,
        };
        self.opts
            .retry
            .run("reading a guest config", || {
                self.client
                    .guest_config(kind, g.node.as_str(), g.vmid.get())
            })
            .await
    }

    /// `move_data_volume` of the port: `move_volume` of `mp0` from `from` to `to`.
    pub(crate) async fn move_volume_between(&self, from: &GuestRef, to: &GuestRef) -> Result<()> {
        let what = format!(
            "moving the data volume of container {} to container {} on node '{}'",
            from.vmid, to.vmid, from.node
        );
        if from.kind != GuestKind::Lxc || to.kind != GuestKind::Lxc {
            return Err(Error::invalid_input(format!(
                "{what}: data volumes belong to LXC containers, not VMs"
            ))
            .with_backend(BACKEND));
        }
        if from.node != to.node {
            return Err(Error::invalid_input(format!(
                "cannot move the data volume of container {} on node '{}' to container {} on \
                 node '{}': Proxmox VE moves volumes between containers of one node only",
                from.vmid, from.node, to.vmid, to.node
            ))
            .with_backend(BACKEND));
        }
        if from.vmid == to.vmid {
            return Err(Error::invalid_input(format!(
                "{what}: source and target are the same container"
            ))
            .with_backend(BACKEND));
        }
        let (src, dst) = futures::try_join!(self.config_of(from), self.config_of(to))
            .map_err(|e| e.context(&what))?;
        match (data_volume_of(&src), data_volume_of(&dst)) {
            // A retried move (or one whose answer was lost) finds it done.
            (None, Some(_)) => return Ok(()),
            (None, None) => {
                return Err(Error::not_found(format!(
                    "{what}: neither container holds a data volume ({DATA_VOLUME_KEY})"
                ))
                .with_backend(BACKEND));
            }
            (Some(_), Some(v)) => {
                return Err(Error::conflict(format!(
                    "{what}: container {} already holds a data volume ({}); destroy or move \
                     it first",
                    to.vmid, v.volume
                ))
                .with_backend(BACKEND));
            }
            (Some(_), None) => {}
        }
        // PVE refuses only a running source; a running target would get the volume hot-plugged
        // under a live app, which the port does not allow either.
        let (s1, s2) = futures::try_join!(self.guest_status(from), self.guest_status(to))
            .map_err(|e| e.context(&what))?;
        for s in [&s1, &s2] {
            if s.state != GuestState::Stopped {
                return Err(Error::conflict(format!(
                    "{what}: container {} is not stopped; stop both containers first",
                    s.guest.vmid
                ))
                .with_backend(BACKEND));
            }
            if let Some(lock) = &s.lock {
                return Err(Error::conflict(format!(
                    "{what}: container {} is locked ({lock}) by a running operation; retry \
                     when it ends",
                    s.guest.vmid
                ))
                .retryable(true)
                .with_backend(BACKEND));
            }
        }
        let params = MoveVolume {
            volume: DATA_VOLUME_KEY.into(),
            target_vmid: Some(to.vmid.get()),
            target_volume: Some(DATA_VOLUME_KEY.into()),
            // The digests make PVE refuse if either config changed since it was read here.
            digest: src.digest(),
            target_digest: dst.digest(),
            ..MoveVolume::default()
        };
        let node = from.node.as_str();
        let res = self
            .opts
            .retry
            .run("moving a volume", || async {
                let upid = self
                    .client
                    .move_volume(node, from.vmid.get(), &params)
                    .await?;
                self.client.wait_task(&upid, self.wait_opts()).await?;
                Ok(())
            })
            .await;
        let Err(err) = res else {
            return Ok(());
        };
        // Whatever failed, the volume is where the configs say: done if the target holds it.
        if let Ok((src, dst)) = futures::try_join!(self.config_of(from), self.config_of(to))
            && data_volume_of(&src).is_none()
            && data_volume_of(&dst).is_some()
        {
            return Ok(());
        }
        let err = if class_of(&err) == Some(ErrorClass::Modified) {
            // A config changed between the read and the move: this call reads both again, so
            // calling it again is the fix.
            Error::conflict(format!("{what}: {}", err.message()))
                .retryable(true)
                .with_backend(BACKEND)
                .with_source(err)
        } else {
            err.context(what)
        };
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(mp0: &str) -> GuestConfig {
        let mut m = BTreeMap::new();
        m.insert("mp0".to_owned(), serde_json::json!(mp0));
        GuestConfig(m)
    }

    #[test]
    fn data_volume_is_read_from_mp0() {
        let v = data_volume_of(&config(
            "local-lvm:vm-101-disk-1,mp=/srv/data,backup=1,size=8G",
        ))
        .unwrap();
        assert_eq!(v.volume, "local-lvm:vm-101-disk-1");
        assert_eq!(v.size_gb, 8);
        assert_eq!(v.mount_path.as_str(), "/srv/data");
        let v = data_volume_of(&config("volume=local-lvm:vm-1-disk-2,mp=/d,size=1536M")).unwrap();
        assert_eq!(v.size_gb, 2, "1.5 GiB rounds up");
        assert!(
            data_volume_of(&config("/host/dir,mp=/d")).is_none(),
            "a bind mount"
        );
        assert!(data_volume_of(&GuestConfig::default()).is_none());
        assert_eq!(
            disk_size("local-lvm:vm-1-disk-0,iothread=1,size=32G"),
            Some(32 << 30)
        );
        assert_eq!(parse_size("x"), None);
    }
}
