//! Guest volumes on the nodes' storages: allocation (`vm-<vmid>-disk-<n>`), sizes, renames
//! (`move_volume` to another container), and the space each storage has left.
//!
//! A volume exists while a guest config references it (`rootfs`, `mpN`, `unusedN`, a QEMU
//! drive): the configs are the truth, as the logical volumes are on PVE, so destroying a guest
//! (or undoing a failed create) frees its volumes with nothing else to do. The registry in
//! [`State::volumes`] keeps what a config does not say: the exact size of an `unusedN` volume,
//! and a hidden *content id* that stays with the data through a rename, so tests can prove
//! that a data volume moved and was never recreated ([`PveSim::volumes`]).
//!
//! Sizes count as used in full (a thin pool that is written to the end): PVE's thin pools
//! report the blocks written, which a simulator cannot know. Nothing is refused for lack of
//! space, as thin provisioning over-commits.

use std::collections::BTreeSet;

use super::PveSim;
use super::state::{Guest, STORAGES, State};
use super::types::{GuestKind, SimVolume};

const GIB: u64 = 1 << 30;

/// What the registry knows of a volume beyond its config entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VolMeta {
    /// Size in bytes.
    pub size: u64,
    /// Identity of the data it holds (follows renames; a new allocation gets a new one).
    pub content: u64,
}

/// The registry key of a volume: volumes of the stock storages are node-local.
fn key(node: &str, volid: &str) -> String {
    format!("{node}/{volid}")
}

/// The storage of a volume id (`local-lvm:vm-100-disk-0` -> `local-lvm`).
pub(crate) fn storage_of(volid: &str) -> Option<&str> {
    volid
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty())
}

/// The `(name, plugin type, content)` of a storage every node has.
pub(crate) fn storage_def(
    name: &str,
) -> Option<&'static (&'static str, &'static str, &'static str)> {
    STORAGES.iter().find(|(n, _, _)| *n == name)
}

/// Whether `storage` holds `content` (`rootdir`, `images`, `vztmpl`, ...).
pub(crate) fn has_content(storage: &str, content: &str) -> bool {
    storage_def(storage).is_some_and(|(_, _, c)| c.split(',').any(|x| x == content))
}

/// Bytes a storage of a node with a `disk`-byte disk holds, as the PVE installer lays out an
/// LVM-thin install (pve-installer `Proxmox/Install.pm`): the root LV (`local`) gets a quarter
/// of the disk up to 96 GiB, swap an eighth up to 8 GiB, an eighth up to 16 GiB stays free,
/// and the thin pool `data` (`local-lvm`) gets the rest.
pub(crate) fn total_bytes(disk: u64, storage: &str) -> u64 {
    let root = (disk / 4).min(96 * GIB);
    let swap = (disk / 8).min(8 * GIB);
    let minfree = (disk / 8).min(16 * GIB);
    match storage {
        "local" => root,
        "local-lvm" => disk.saturating_sub(root + swap + minfree),
        _ => 0,
    }
}

/// What the root filesystem holds before any template: the installed system.
const SYSTEM_BYTES: u64 = 3 * GIB;

/// The volumes a guest's config references: `(config key, volume id, size=)`. Bind mounts,
/// device mounts, CD-ROMs and `none` are not volumes.
pub(crate) fn disk_refs(g: &Guest) -> Vec<(String, String, Option<u64>)> {
    let mut out = Vec::new();
    for (k, v) in &g.config {
        let is_disk = match g.kind {
            GuestKind::Lxc => k == "rootfs" || numbered(k, "mp") || numbered(k, "unused"),
            GuestKind::Qemu => [
                "scsi", "virtio", "sata", "ide", "efidisk", "tpmstate", "unused",
            ]
            .iter()
            .any(|p| numbered(k, p)),
        };
        if !is_disk || v.split(',').any(|p| p == "media=cdrom") {
            continue;
        }
        let first = v.split(',').next().unwrap_or_default();
        let volid = first
            .strip_prefix("volume=")
            .or_else(|| first.strip_prefix("file="))
            .unwrap_or(first);
        if volid.starts_with('/') || volid == "none" || storage_of(volid).is_none() {
            continue;
        }
        let size = v
            .split(',')
            .find_map(|p| p.strip_prefix("size="))
            .and_then(parse_size);
        out.push((k.clone(), volid.to_string(), size));
    }
    out
}

/// `mp3` for prefix `mp`: the prefix and a decimal index.
pub(crate) fn numbered(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// PVE's `parse_size` (pve-common JSONSchema.pm:990), a number without unit being bytes.
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    super::formats::parse_disk_size(s)
}

/// PVE's `format_size` (pve-common JSONSchema.pm:1009): the largest unit that divides evenly.
pub(crate) fn format_size(bytes: u64) -> String {
    let kb = bytes / 1024;
    if kb * 1024 != bytes {
        return bytes.to_string();
    }
    let mb = kb / 1024;
    if mb * 1024 != kb {
        return format!("{kb}K");
    }
    let gb = mb / 1024;
    if gb * 1024 != mb {
        return format!("{mb}M");
    }
    let tb = gb / 1024;
    if tb * 1024 != gb {
        return format!("{gb}G");
    }
    format!("{tb}T")
}

impl State {
    /// The size of a volume of `node`: the registry's, else the config's `size=`.
    pub(crate) fn volume_size(&self, node: &str, volid: &str, config_size: Option<u64>) -> u64 {
        self.volumes
            .get(&key(node, volid))
            .map(|m| m.size)
            .or(config_size)
            .unwrap_or(0)
    }

    /// The registry entry of a volume, made on first sight for a volume the simulator did not
    /// allocate itself (a seeded guest's).
    pub(crate) fn volume_meta(
        &mut self,
        node: &str,
        volid: &str,
        config_size: Option<u64>,
    ) -> VolMeta {
        let k = key(node, volid);
        if let Some(m) = self.volumes.get(&k) {
            return *m;
        }
        self.next_content += 1;
        let m = VolMeta {
            size: config_size.unwrap_or(0),
            content: self.next_content,
        };
        self.volumes.insert(k, m);
        m
    }

    /// Sets a volume's size (a resize).
    pub(crate) fn set_volume_size(&mut self, node: &str, volid: &str, size: u64) {
        let k = key(node, volid);
        let content = self.volume_meta(node, volid, Some(size)).content;
        self.volumes.insert(k, VolMeta { size, content });
    }

    /// Gives a volume the content id of another (a copy holds the same data).
    pub(crate) fn set_volume_content(&mut self, node: &str, volid: &str, content: u64) {
        if let Some(m) = self.volumes.get_mut(&key(node, volid)) {
            m.content = content;
        }
    }

    /// Bytes used on `storage` of `node`.
    pub(crate) fn storage_used(&self, node: &str, storage: &str) -> u64 {
        let mut used = if storage == "local" {
            self.templates
                .iter()
                .map(|t| t.size)
                .fold(SYSTEM_BYTES, u64::saturating_add)
        } else {
            0
        };
        for g in self.guests.values().filter(|g| g.node == node) {
            for (_, volid, size) in disk_refs(g) {
                if storage_of(&volid) == Some(storage) {
                    used = used.saturating_add(self.volume_size(node, &volid, size));
                }
            }
        }
        used
    }

    /// The volume names of `storage` on `node` that are in use.
    fn names_in_use(&self, node: &str, storage: &str) -> BTreeSet<String> {
        self.guests
            .values()
            .filter(|g| g.node == node)
            .flat_map(disk_refs)
            .filter_map(|(_, volid, _)| {
                let (s, name) = volid.split_once(':')?;
                (s == storage).then(|| name.rsplit('/').next().unwrap_or(name).to_string())
            })
            .collect()
    }

    /// PVE's `find_free_diskname`: the first `vm-<vmid>-disk-<n>` not in use on the storage,
    /// skipping `taken` (names handed out in the same call).
    fn free_disk_name(&self, node: &str, storage: &str, vmid: u32, taken: &[String]) -> String {
        let used = self.names_in_use(node, storage);
        let dir = storage_def(storage).is_some_and(|(_, plugin, _)| *plugin == "dir");
        (0..)
            .map(|n| {
                if dir {
                    format!("vm-{vmid}-disk-{n}.raw")
                } else {
                    format!("vm-{vmid}-disk-{n}")
                }
            })
            .find(|name| !used.contains(name) && !taken.iter().any(|t| t.ends_with(name.as_str())))
            .unwrap_or_default()
    }

    /// The volume id of a new disk of `vmid` on `storage` (`local-lvm:vm-100-disk-1`, or
    /// `local:100/vm-100-disk-1.raw` on a directory storage).
    fn volid_for(storage: &str, vmid: u32, name: &str) -> String {
        let dir = storage_def(storage).is_some_and(|(_, plugin, _)| *plugin == "dir");
        if dir {
            format!("{storage}:{vmid}/{name}")
        } else {
            format!("{storage}:{name}")
        }
    }

    /// Allocates new volumes for `vmid` on `node`, one per `(storage, bytes)`, in order, with
    /// fresh content ids; returns their volume ids.
    pub(crate) fn alloc_volumes(
        &mut self,
        node: &str,
        vmid: u32,
        disks: &[(String, u64)],
    ) -> Vec<String> {
        let mut made: Vec<String> = Vec::with_capacity(disks.len());
        for (storage, size) in disks {
            let name = self.free_disk_name(node, storage, vmid, &made);
            let volid = Self::volid_for(storage, vmid, &name);
            self.next_content += 1;
            let meta = VolMeta {
                size: *size,
                content: self.next_content,
            };
            self.volumes.insert(key(node, &volid), meta);
            made.push(volid);
        }
        made
    }

    /// PVE's `rename_volume` to another owner (LvmThinPlugin.pm): the volume gets the first
    /// free `vm-<target>-disk-<n>` name and keeps its data (content id) and size.
    pub(crate) fn rename_volume(
        &mut self,
        node: &str,
        volid: &str,
        config_size: Option<u64>,
        target: u32,
    ) -> String {
        let storage = storage_of(volid).unwrap_or_default().to_string();
        let meta = self.volume_meta(node, volid, config_size);
        let name = self.free_disk_name(node, &storage, target, &[]);
        let new = Self::volid_for(&storage, target, &name);
        self.volumes.remove(&key(node, volid));
        self.volumes.insert(key(node, &new), meta);
        new
    }

    /// A volume with its content id, as tests see it.
    pub(crate) fn sim_volume(
        &mut self,
        g_node: &str,
        vmid: u32,
        config_key: &str,
        volid: &str,
        size: Option<u64>,
    ) -> SimVolume {
        let meta = self.volume_meta(g_node, volid, size);
        SimVolume {
            vmid,
            key: config_key.to_string(),
            volid: volid.to_string(),
            size: meta.size,
            content_id: meta.content,
        }
    }
}

impl PveSim {
    /// The volumes of a guest (`rootfs`, `mp0`, `unused0`, QEMU drives), each with its size and
    /// the id of the data it holds, which stays the same when `move_volume` hands the volume
    /// to another container.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
    /// let sim = paas_proxmox::sim::PveSim::start().await?;
    /// let disks = sim.volumes(9000);
    /// assert_eq!(disks[0].key, "scsi0");
    /// # Ok(()) }
    /// ```
    pub fn volumes(&self, vmid: u32) -> Vec<SimVolume> {
        let mut st = self.inner.state();
        let Some(g) = st.guests.get(&vmid).cloned() else {
            return Vec::new();
        };
        let mut refs = disk_refs(&g);
        // PVE's order: rootfs, mp0, mp1, ..., then the rest (unusedN, QEMU drives) by key.
        refs.sort_by_key(|(k, _, _)| {
            let rank = if k == "rootfs" {
                0
            } else if numbered(k, "mp") {
                1 + k[2..].parse::<u64>().unwrap_or(0)
            } else {
                1 << 20
            };
            (rank, k.clone())
        });
        refs.into_iter()
            .map(|(k, volid, size)| st.sim_volume(&g.node, vmid, &k, &volid, size))
            .collect()
    }

    /// Every volume on the cluster with the given content id (a data volume is on exactly one
    /// guest: this is how a test proves it).
    pub fn volumes_with_content(&self, content_id: u64) -> Vec<SimVolume> {
        let vmids: Vec<u32> = self.inner.state().guests.keys().copied().collect();
        vmids
            .into_iter()
            .flat_map(|v| self.volumes(v))
            .filter(|v| v.content_id == content_id)
            .collect()
    }

    /// Bytes used and total of a storage of a node, as `GET .../storage/{storage}/status`
    /// reports them.
    pub fn storage_usage(&self, node: &str, storage: &str) -> Option<(u64, u64)> {
        let st = self.inner.state();
        let n = st.node(node)?;
        storage_def(storage)?;
        Some((
            st.storage_used(node, storage),
            total_bytes(n.maxdisk, storage),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print_like_pve() {
        assert_eq!(parse_size("8G"), Some(8 * GIB));
        assert_eq!(parse_size("1.5G"), Some(GIB * 3 / 2));
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("G"), None);
        assert_eq!(parse_size("abc"), None);
        assert_eq!(parse_size("8X"), None);
        assert_eq!(parse_size("1.2.3"), None);
        assert_eq!(format_size(8 * GIB), "8G");
        assert_eq!(format_size(GIB * 3 / 2), "1536M");
        assert_eq!(format_size(1 << 40), "1T");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn installer_layout_splits_the_disk() {
        let disk = 1024 * GIB;
        assert_eq!(total_bytes(disk, "local"), 96 * GIB);
        assert_eq!(
            total_bytes(disk, "local-lvm"),
            disk - 96 * GIB - 8 * GIB - 16 * GIB
        );
        assert_eq!(total_bytes(disk, "nfs"), 0);
    }
}
