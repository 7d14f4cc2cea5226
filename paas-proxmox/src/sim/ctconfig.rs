//! Container config keys with more to them than a string: mount points (`rootfs`, `mpN`,
//! `unusedN`), which allocate volumes, and the OCI runtime `env`.
//!
//! Sources (pve-container 963730e937c5): `API2/LXC.pm` create_vm (the `STORAGE:SIZE` syntax,
//! the storage checks), `LXC.pm` create_disks, `LXC/Config.pm` (mount point format,
//! `update_pct_config`, `vmconfig_apply_pending`, `env` and its config-file encoding).

use std::collections::BTreeMap;

use super::server::Call;
use super::state::State;
use super::volumes::{format_size, has_content, numbered, parse_size, storage_def, storage_of};
use super::wire::ApiError;

/// A mount point property string: `[volume=]<volume>,mp=<path>[,key=value...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountPoint {
    /// Volume id, `STORAGE:SIZE_GB` for a new one, or a host path (bind mount).
    pub volume: String,
    /// Every other key, by name.
    pub opts: BTreeMap<String, String>,
}

impl MountPoint {
    /// Reads a value the schema already accepted.
    pub fn parse(s: &str) -> Self {
        let mut volume = String::new();
        let mut opts = BTreeMap::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("volume", v)) => volume = v.to_string(),
                Some((k, v)) => {
                    opts.insert(k.to_string(), v.to_string());
                }
                None => volume = part.to_string(),
            }
        }
        MountPoint { volume, opts }
    }

    /// Whether it is a storage volume (not a bind or device mount: PVE's
    /// `classify_mountpoint`).
    pub fn is_volume(&self) -> bool {
        !self.volume.starts_with('/')
    }

    /// PVE's `print_property_string` for the mount point format: the default key (volume)
    /// first, then the required `mp`, then the rest sorted; `size` printed by `format_size`.
    pub fn print(&self) -> String {
        let mut out = self.volume.clone();
        if let Some(mp) = self.opts.get("mp") {
            out.push_str(",mp=");
            out.push_str(mp);
        }
        for (k, v) in self.opts.iter().filter(|(k, _)| k.as_str() != "mp") {
            out.push(',');
            out.push_str(k);
            out.push('=');
            if k == "size" {
                out.push_str(&parse_size(v).map_or_else(|| v.clone(), format_size));
            } else {
                out.push_str(v);
            }
        }
        out
    }

    /// `STORAGE:SIZE_GB` (pve-container's `$NEW_DISK_RE`): the storage and the size in bytes
    /// (`int(size_gb * 1024) * 1024` KiB, as create_disks computes it).
    pub fn new_disk(&self) -> Option<(String, u64)> {
        let (storage, size) = self.volume.split_once(':')?;
        if storage.is_empty() || storage.contains(char::is_whitespace) || !is_decimal(size) {
            return None;
        }
        let gb: f64 = size.parse().ok()?;
        let kib = (gb * 1024.0).floor() as u64 * 1024;
        Some((storage.to_string(), kib * 1024))
    }
}

/// `^\d+(\.\d+)?$`
fn is_decimal(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// The mount point keys of a request, `rootfs` first, then `mpN` by index (PVE's
/// `foreach_volume` order, which decides who gets `disk-0`).
fn mount_keys(params: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<(u32, String)> = params
        .keys()
        .filter_map(|k| {
            if k == "rootfs" {
                Some((0, k.clone()))
            } else if numbered(k, "mp") {
                k[2..].parse::<u32>().ok().map(|n| (n + 1, k.clone()))
            } else {
                None
            }
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

/// CT API2/LXC.pm:343-351 `$check_and_activate_storage`.
fn check_ct_storage(sid: &str) -> Result<(), ApiError> {
    if storage_def(sid).is_none() {
        return Err(ApiError::internal(format!(
            "storage '{sid}' does not exist"
        )));
    }
    if !has_content(sid, "rootdir") {
        return Err(ApiError::param(
            "storage",
            format!("storage '{sid}' does not support container directories"),
        ));
    }
    Ok(())
}

/// The mount points of a container create, checked as create_vm checks them before it takes
/// any lock: numbers become `<storage>:<n>` (CT :369-370), mount points need a `rootfs`
/// (:380), every storage named must exist and hold `rootdir` (:349), and without a `rootfs`
/// the default storage (`storage`, else `local`) gets a 4 GB one (:518).
pub(crate) fn plan_ct_create(call: &Call) -> Result<Vec<(String, MountPoint)>, ApiError> {
    let storage = call.get("storage").unwrap_or("local");
    let mut plan = Vec::new();
    for key in mount_keys(&call.params) {
        let value = call.get(&key).unwrap_or_default();
        let value = if is_decimal(value) {
            format!("{storage}:{value}")
        } else {
            value.to_string()
        };
        plan.push((key, MountPoint::parse(&value)));
    }
    if !plan.is_empty() && !plan.iter().any(|(k, _)| k == "rootfs") {
        return Err(ApiError::internal(
            "mount points configured, but 'rootfs' not set - aborting",
        ));
    }
    for (_, mp) in plan.iter().filter(|(_, mp)| mp.is_volume()) {
        match storage_of(&mp.volume) {
            Some(sid) => check_ct_storage(sid)?,
            None => {
                return Err(ApiError::internal(format!(
                    "unable to parse volume ID '{}'",
                    mp.volume
                )));
            }
        }
    }
    if plan.is_empty() {
        check_ct_storage(storage)?;
        plan.push((
            "rootfs".to_string(),
            MountPoint::parse(&format!("{storage}:4")),
        ));
    }
    Ok(plan)
}

/// Allocates the new volumes of `plan` for `vmid` (create_disks) and writes the mount points
/// into `config` as PVE prints them (`local-lvm:vm-100-disk-0,size=8G`).
pub(crate) fn create_ct_disks(
    st: &mut State,
    node: &str,
    vmid: u32,
    plan: Vec<(String, MountPoint)>,
    config: &mut BTreeMap<String, String>,
) {
    let wanted: Vec<(String, u64)> = plan.iter().filter_map(|(_, mp)| mp.new_disk()).collect();
    let mut made = st.alloc_volumes(node, vmid, &wanted).into_iter();
    for (key, mut mp) in plan {
        if let Some((_, bytes)) = mp.new_disk()
            && let Some(volid) = made.next()
        {
            mp.volume = volid;
            mp.opts.insert("size".into(), bytes.to_string());
        }
        if key == "rootfs" {
            mp.opts.remove("mp");
        }
        config.insert(key, mp.print());
    }
}

/// The checks update_pct_config makes on mount points set by a config update (CT
/// LXC/Config.pm:1290-1296): the storage must exist and hold `rootdir`.
pub(crate) fn check_ct_update(call: &Call) -> Result<(), ApiError> {
    for key in mount_keys(&call.params) {
        let mp = MountPoint::parse(call.get(&key).unwrap_or_default());
        if !mp.is_volume() {
            continue;
        }
        let Some(sid) = storage_of(&mp.volume) else {
            return Err(ApiError::internal(format!(
                "unable to parse volume ID '{}'",
                mp.volume
            )));
        };
        if storage_def(sid).is_none() {
            return Err(ApiError::internal(format!(
                "storage '{sid}' does not exist"
            )));
        }
        if !has_content(sid, "rootdir") {
            return Err(ApiError::internal(format!(
                "storage '{sid}' does not allow content type 'rootdir' (Container)"
            )));
        }
    }
    Ok(())
}

/// What vmconfig_apply_pending does to the mount points and `env` of a stopped container
/// after a config update wrote the raw values: a `STORAGE:SIZE` mount point gets a new
/// volume, a replaced or deleted volume mount point becomes `unusedN` (its data kept), and
/// `env` is stored as the config file would keep it.
pub(crate) fn apply_ct_update(
    st: &mut State,
    node: &str,
    vmid: u32,
    before: &BTreeMap<String, String>,
    call: &Call,
    deleted: &[String],
) {
    let Some(mut config) = st.guests.get(&vmid).map(|g| g.config.clone()) else {
        return;
    };
    let mut freed: Vec<String> = Vec::new();
    for key in deleted.iter().filter(|k| numbered(k, "mp")) {
        if let Some(old) = before.get(key).map(|v| MountPoint::parse(v))
            && old.is_volume()
        {
            freed.push(old.volume);
        }
    }
    for key in mount_keys(&call.params) {
        let mut mp = MountPoint::parse(call.get(&key).unwrap_or_default());
        if let Some((storage, bytes)) = mp.new_disk()
            && let Some(volid) = st.alloc_volumes(node, vmid, &[(storage, bytes)]).pop()
        {
            mp.volume = volid;
            mp.opts.insert("size".into(), bytes.to_string());
        }
        if let Some(old) = before.get(&key).map(|v| MountPoint::parse(v))
            && old.is_volume()
            && old.volume != mp.volume
        {
            freed.push(old.volume);
        }
        if key == "rootfs" {
            mp.opts.remove("mp");
        }
        config.insert(key, mp.print());
    }
    for volid in freed {
        add_unused(&mut config, &volid);
    }
    if let Some(env) = call.get("env") {
        config.insert("env".into(), stored_env(env));
    }
    if let Some(g) = st.guests.get_mut(&vmid) {
        g.config = config;
    }
}

/// GC AbstractConfig.pm:428 `add_unused_volume`: the lowest free `unusedN`, no duplicates.
pub(crate) fn add_unused(config: &mut BTreeMap<String, String>, volid: &str) {
    if config
        .iter()
        .any(|(k, v)| numbered(k, "unused") && v == volid)
    {
        return;
    }
    if let Some(n) = (0..256).find(|n| !config.contains_key(&format!("unused{n}"))) {
        config.insert(format!("unused{n}"), volid.to_string());
    }
}

/// The `env` value as PVE reads it back: write_pct_config writes one
/// `lxc.environment.runtime: KEY=value` line per NUL-separated entry (LXC/Config.pm:1224-1227)
/// and parse_pct_config joins them with NUL again (:1134-1141), trimming trailing white space
/// (`(.*?)\s*$`); a line feed in a value ends the line, and what follows is not a config line.
pub(crate) fn stored_env(value: &str) -> String {
    value
        .split('\0')
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.split('\n')
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_print_like_pve() {
        let mp = MountPoint::parse("local-lvm:vm-100-disk-1,size=8589934592,backup=1,mp=/srv");
        assert_eq!(
            mp.print(),
            "local-lvm:vm-100-disk-1,mp=/srv,backup=1,size=8G"
        );
        let mp = MountPoint::parse("volume=local-lvm:2.5,mp=/data");
        assert_eq!(mp.new_disk(), Some(("local-lvm".into(), 2560 << 20)));
        assert!(
            MountPoint::parse("local-lvm:vm-1-disk-0")
                .new_disk()
                .is_none()
        );
        assert!(!MountPoint::parse("/mnt/host,mp=/x").is_volume());
    }

    #[test]
    fn env_survives_the_config_file_as_pve_reads_it() {
        assert_eq!(stored_env("A=1\0B=two words"), "A=1\0B=two words");
        assert_eq!(stored_env("A=x  \0B=y\nZ=1"), "A=x\0B=y");
    }
}
