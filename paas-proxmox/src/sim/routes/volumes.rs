//! `POST /nodes/{node}/lxc/{vmid}/move_volume` and `PUT /nodes/{node}/{lxc,qemu}/{vmid}/resize`.
//!
//! Both follow PVE's shape: lock-free checks in the request, then a forked worker (task
//! `move_volume` or `resize`) that takes the config locks, checks again and does the work.
//! Sources: pve-container 963730e937c5 `API2/LXC.pm` move_volume (:2433-2850) and resize_vm
//! (:2260-2430); qemu-server 4dbb6e4437fc `API2/Qemu.pm` resize_vm (:5791-5930).

use std::sync::Arc;

use serde_json::json;

use super::guest::spec;
use super::{check_node, lock_guest, missing_conf};
use crate::sim::core::Inner;
use crate::sim::ctconfig::{MountPoint, add_unused};
use crate::sim::server::Call;
use crate::sim::state::{Guest, State};
use crate::sim::tasks;
use crate::sim::types::GuestKind;
use crate::sim::volumes::{
    format_size, has_content, numbered, parse_size, storage_def, storage_of,
};
use crate::sim::wire::{ApiError, ApiResult, Reply};
use crate::sim::worker::{self, LockReq};

/// The container `vmid` on `node`, as `load_config` finds it (a missing one is PVE's
/// `Configuration file ... does not exist`).
fn ct<'a>(st: &'a State, node: &str, vmid: u32) -> Result<&'a Guest, String> {
    st.guests
        .get(&vmid)
        .filter(|g| g.node == node && g.kind == GuestKind::Lxc)
        .ok_or_else(|| missing_conf(node, GuestKind::Lxc, vmid).message)
}

/// GC AbstractConfig.pm:339 `check_lock`.
fn check_lock(g: &Guest) -> Result<(), String> {
    match g.lock() {
        Some(l) => Err(format!("{} is locked ({l})", g.noun())),
        None => Ok(()),
    }
}

/// PC Tools.pm:1222 `assert_if_modified`.
const MODIFIED: &str = "detected modified configuration - file changed by other user? Try again.";

/// What a reassign to another container moves.
struct Reassign {
    target: u32,
    key: String,
    target_key: String,
}

impl Reassign {
    /// CT API2/LXC.pm:2625-2700 `$load_and_check_reassign_configs`, in its order.
    fn check(
        &self,
        st: &State,
        node: &str,
        vmid: u32,
        digest: Option<&str>,
        target_digest: Option<&str>,
    ) -> Result<MountPoint, String> {
        let (key, tkey, target) = (&self.key, &self.target_key, self.target);
        if key == "rootfs" || tkey == "rootfs" {
            return Err("Cannot move to/from 'rootfs'".into());
        }
        if numbered(key, "unused") && !numbered(tkey, "unused") {
            return Err("Moving an unused volume to a used one is not possible".into());
        }
        let src_any = st
            .guests
            .get(&vmid)
            .ok_or_else(|| format!("could not find CT {vmid}"))?;
        let tgt_any = st
            .guests
            .get(&target)
            .ok_or_else(|| format!("could not find CT {target}"))?;
        if src_any.node != tgt_any.node {
            return Err(format!(
                "Both containers need to be on the same node ({} != {})",
                src_any.node, tgt_any.node
            ));
        }
        let src = ct(st, node, vmid)?;
        check_lock(src)?;
        let tgt = if target == vmid {
            src
        } else {
            let t = ct(st, node, target)?;
            check_lock(t)?;
            t
        };
        if src.is_template() || tgt.is_template() {
            return Err("Can't move volumes from or to template CT".into());
        }
        if let Some(d) = digest.filter(|d| !d.is_empty())
            && d != src.digest()
        {
            return Err(format!("Container {vmid}: {MODIFIED}"));
        }
        if let Some(d) = target_digest.filter(|d| !d.is_empty())
            && d != tgt.digest()
        {
            return Err(format!("Container {target}: {MODIFIED}"));
        }
        let Some(value) = src.config.get(key) else {
            return Err(format!(
                "volume '{key}' for container '{vmid}' does not exist"
            ));
        };
        if tgt.config.contains_key(tkey) {
            return Err(format!(
                "Target volume key '{tkey}' is already in use for container '{target}'"
            ));
        }
        let mp = MountPoint::parse(value);
        if !mp.is_volume() {
            return Err("Cannot move a bindmount or device mount to another container".into());
        }
        if src.running && !numbered(key, "unused") {
            return Err(
                "Cannot move in-use volume while the source CT is running - detach or shutdown first"
                    .into(),
            );
        }
        Ok(mp)
    }

    /// The worker's part (`$volume_reassignfn`): rename the volume to the target's name,
    /// remove it from the source config, add it to the target's.
    fn run(&self, st: &mut State, node: &str, vmid: u32, mut mp: MountPoint) -> Vec<String> {
        let (key, tkey, target) = (&self.key, &self.target_key, self.target);
        let size = mp.opts.get("size").and_then(|s| parse_size(s));
        let new = st.rename_volume(node, &mp.volume, size, target);
        let mut log = vec![format!(
            "moving volume '{key}' from container '{vmid}' to '{target}'"
        )];
        if let Some(g) = st.guests.get_mut(&vmid) {
            g.config.remove(key);
        }
        log.push(format!(
            "removing volume '{key}' from container '{vmid}' config"
        ));
        mp.volume = new.clone();
        let value = if numbered(tkey, "unused") {
            new
        } else {
            mp.print()
        };
        if let Some(g) = st.guests.get_mut(&target) {
            g.config.insert(tkey.clone(), value);
        }
        log.push(format!("target container '{target}' updated with '{tkey}'"));
        log
    }
}

/// `POST /nodes/{node}/lxc/{vmid}/move_volume`: to another container (`target-vmid`, task id
/// `100-mp0>101-mp0`) or to another storage (`storage`, task id `100`).
pub(crate) async fn move_volume(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    let target = call.int("target-vmid").and_then(|v| u32::try_from(v).ok());
    let storage = call.get("storage").map(str::to_string);
    let key = call.get("volume").unwrap_or_default().to_string();
    let target_key = call.get("target-volume").unwrap_or(&key).to_string();
    // CT :2510 `die "either set storage or target-vmid, but not both\n"` comes first.
    if storage.is_some() && target.is_some() {
        return Err(ApiError::internal(
            "either set storage or target-vmid, but not both",
        ));
    }
    {
        let st = inner.state();
        check_node(&st, &node)?;
    }
    match (target, storage) {
        (Some(target), _) => {
            let digest = call.get("digest").map(str::to_string);
            let target_digest = call.get("target-digest").map(str::to_string);
            let job = Reassign {
                target,
                key,
                target_key,
            };
            let mut st = inner.state();
            // :2815-2822: the target's VM.Config.Disk (not for root@pam), then, after the
            // checks, Datastore.AllocateSpace on the volume's storage.
            let authid = call.caller.authid();
            let perms = st.access.perms(&authid);
            if !perms.is_root() {
                perms.check_vm(target, None, &["VM.Config.Disk"], false)?;
            }
            let mp = job
                .check(
                    &st,
                    &node,
                    vmid,
                    digest.as_deref(),
                    target_digest.as_deref(),
                )
                .map_err(ApiError::internal)?;
            if let Some(sid) = storage_of(&mp.volume) {
                perms.check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"])?;
            }
            let id = format!("{vmid}-{}>{target}-{}", job.key, job.target_key);
            let timeout = inner.cfg.lock_timeout;
            let mut locks = vec![LockReq::exclusive(GuestKind::Lxc, vmid, timeout)];
            if target != vmid {
                locks.push(LockReq::exclusive(GuestKind::Lxc, target, timeout));
            }
            let job = Arc::new(job);
            let (check_job, run_node) = (job.clone(), node.clone());
            let check_node_name = node.clone();
            let (d1, d2) = (digest.clone(), target_digest.clone());
            let begin: worker::Begin = Box::new(move |st| {
                check_job
                    .check(st, &check_node_name, vmid, d1.as_deref(), d2.as_deref())
                    .map(|_| Vec::new())
            });
            let effect: tasks::Effect = Box::new(move |st, fail| {
                let mp = match job.check(st, &run_node, vmid, None, None) {
                    Ok(mp) => mp,
                    Err(e) => return (vec![], Err(e)),
                };
                if fail {
                    let name = |v: &str| v.split_once(':').map_or(v, |(_, n)| n).to_string();
                    return (
                        vec![],
                        Err(format!(
                            "lvrename 'pve/{}' => 'pve/vm-{}-disk-?' error:   Logical volume pve/{} in use.",
                            name(&mp.volume),
                            job.target,
                            name(&mp.volume)
                        )),
                    );
                }
                (job.run(st, &run_node, vmid, mp), Ok(()))
            });
            let mut task = spec(call, &node, "move_volume", vmid, vec![]);
            task.id = id;
            let upid = worker::spawn_locked(inner, &mut st, task, locks, begin, effect);
            Ok(Reply::data(json!(upid)))
        }
        (None, Some(storage)) => move_to_storage(inner, call, &node, vmid, &key, storage).await,
        (None, None) => {
            let msg = "both 'storage' and 'target-vmid' missing, either needs to be set";
            let mut errors = std::collections::BTreeMap::new();
            errors.insert("target-vmid".to_string(), msg.to_string());
            errors.insert("storage".to_string(), msg.to_string());
            Err(ApiError::params(errors))
        }
    }
}

/// The storage half of move_volume (CT :2525-2620): checked under the config lock in the
/// request, which then sets `lock: disk`; the worker copies the volume (same data, so the
/// same content id) and keeps the old one as `unusedN` unless `delete=1`.
async fn move_to_storage(
    inner: &Arc<Inner>,
    call: &Call,
    node: &str,
    vmid: u32,
    key: &str,
    storage: String,
) -> ApiResult {
    let guard = lock_guest(inner, GuestKind::Lxc, vmid, inner.cfg.lock_timeout, "").await?;
    let mut st = inner.state();
    let g = ct(&st, node, vmid).map_err(ApiError::internal)?;
    check_lock(g).map_err(ApiError::internal)?;
    if g.running {
        return Err(ApiError::internal(
            "cannot move volumes of a running container",
        ));
    }
    if numbered(key, "unused") {
        return Err(ApiError::internal(format!(
            "cannot move volume '{key}', only configured volumes can be moved to another storage"
        )));
    }
    let Some(value) = g.config.get(key).cloned() else {
        return Err(ApiError::internal(format!(
            "unable to parse volume ID '{key}'"
        )));
    };
    if let Some(d) = call.get("digest").filter(|d| !d.is_empty())
        && d != g.digest()
    {
        return Err(ApiError::internal(MODIFIED));
    }
    if let Some(g) = st.guests.get_mut(&vmid) {
        g.config.insert("lock".into(), "disk".into());
    }
    drop(guard);
    let delete = call.flag("delete");
    let (node, key) = (node.to_string(), key.to_string());
    let effect_node = node.clone();
    let effect: tasks::Effect = Box::new(move |st, fail| {
        let unlock = |st: &mut State| {
            if let Some(g) = st.guests.get_mut(&vmid) {
                g.config.remove("lock");
            }
        };
        let mut mp = MountPoint::parse(&value);
        let result = if storage_def(&storage).is_none() {
            Err(format!("storage '{storage}' does not exist"))
        } else if !has_content(&storage, "rootdir") {
            // LXC.pm:2590 alloc_disk.
            Err(format!(
                "content type 'rootdir' is not available or configured on storage '{storage}'"
            ))
        } else if fail {
            Err(format!(
                "command 'rsync --stats -X -A --numeric-ids -aH --whole-file --sparse --one-file-system --bwlimit=0 /var/lib/lxc/{vmid}/.copy-volume-2/ /var/lib/lxc/{vmid}/.copy-volume-1' failed: exit code 23"
            ))
        } else {
            Ok(())
        };
        if let Err(e) = result {
            unlock(st);
            return (vec![], Err(e));
        }
        let old = mp.volume.clone();
        let size = mp.opts.get("size").and_then(|s| parse_size(s));
        let meta = st.volume_meta(&effect_node, &old, size);
        let new = st
            .alloc_volumes(&effect_node, vmid, &[(storage.clone(), meta.size)])
            .pop()
            .unwrap_or_default();
        st.set_volume_content(&effect_node, &new, meta.content);
        mp.volume = new.clone();
        if let Some(g) = st.guests.get_mut(&vmid) {
            g.config.insert(key.clone(), mp.print());
            if !delete {
                add_unused(&mut g.config, &old);
            }
        }
        unlock(st);
        (vec![format!("moving volume '{old}' to '{new}'")], Ok(()))
    });
    let upid = tasks::spawn(
        inner,
        &mut st,
        spec(call, &node, "move_volume", vmid, vec![]),
        vec![],
        effect,
    );
    Ok(Reply::data(json!(upid)))
}

/// `+2G` or `12G`: whether it adds, and the bytes (PVE's `parse_size`; the schema pattern
/// `\+?\d+(\.\d+)?[KMGT]?` already holds).
fn requested(size: &str) -> (bool, u64) {
    let ext = size.starts_with('+');
    let bytes = parse_size(size.trim_start_matches('+')).unwrap_or(0);
    (ext, bytes)
}

/// A container resize: CT API2/LXC.pm:2317-2360 `$load_and_check`, in its order. Returns the
/// volume, its size and the new size.
fn ct_resize_check(
    st: &State,
    node: &str,
    vmid: u32,
    disk: &str,
    size: &str,
    digest: Option<&str>,
) -> Result<(String, u64, u64), String> {
    let g = ct(st, node, vmid)?;
    check_lock(g)?;
    if let Some(d) = digest.filter(|d| !d.is_empty())
        && d != g.digest()
    {
        return Err(MODIFIED.into());
    }
    // parse_volume of an absent key parses the empty string (inferred: the required
    // `volume` of the format is missing).
    let Some(value) = g.config.get(disk) else {
        return Err("format error\nvolume: property is missing and it is not optional".into());
    };
    let mp = MountPoint::parse(value);
    if !mp.is_volume() || storage_of(&mp.volume).is_none() {
        return Err(format!("unable to parse volume ID '{}'", mp.volume));
    }
    let name = mp.volume.split_once(':').map_or("", |(_, n)| n);
    let owner = name
        .rsplit('/')
        .next()
        .and_then(|n| n.strip_prefix("vm-").or_else(|| n.strip_prefix("subvol-")))
        .and_then(|n| n.split('-').next())
        .and_then(|n| n.parse::<u32>().ok());
    if let Some(owner) = owner
        && owner != vmid
    {
        // :2339, a die without "\n": Perl adds where it died.
        return Err(format!(
            "can't resize mount point owned by another container ({owner}) at /usr/share/perl5/PVE/API2/LXC.pm line 2339."
        ));
    }
    let current = st.volume_size(
        node,
        &mp.volume,
        mp.opts.get("size").and_then(|s| parse_size(s)),
    );
    let (ext, bytes) = requested(size);
    let new = if ext {
        current.saturating_add(bytes)
    } else {
        bytes
    };
    if new < current {
        return Err("unable to shrink disk size".into());
    }
    if new == current {
        return Err("disk is already at specified size".into());
    }
    Ok((mp.volume, current, new))
}

/// A VM resize: QS API2/Qemu.pm:5860-5915 `$updatefn`, all of it in the worker. `None` when
/// the disk already has the size (the task ends OK and changes nothing).
fn vm_resize_check(
    st: &State,
    node: &str,
    vmid: u32,
    disk: &str,
    size: &str,
    digest: Option<&str>,
    skiplock: bool,
) -> Result<Option<(String, u64, u64)>, String> {
    let g = st
        .guests
        .get(&vmid)
        .filter(|g| g.node == node && g.kind == GuestKind::Qemu)
        .ok_or_else(|| missing_conf(node, GuestKind::Qemu, vmid).message)?;
    if let Some(d) = digest.filter(|d| !d.is_empty())
        && d != g.digest()
    {
        return Err("checksum mismatch (file change by other user?)".into());
    }
    if !skiplock {
        check_lock(g)?;
    }
    let Some(value) = g.config.get(disk) else {
        return Err(format!("disk '{disk}' does not exist"));
    };
    let volid = value.split(',').next().unwrap_or_default().to_string();
    if volid.is_empty() || volid == "none" {
        return Err(format!("disk '{disk}' has no associated volume"));
    }
    if value.split(',').any(|p| p == "media=cdrom") {
        return Err("you can't resize a cdrom".into());
    }
    let config_size = value
        .split(',')
        .find_map(|p| p.strip_prefix("size="))
        .and_then(parse_size);
    let current = st.volume_size(node, &volid, config_size);
    let (ext, bytes) = requested(size);
    let new = if ext {
        current.saturating_add(bytes)
    } else {
        bytes
    };
    if new < current {
        return Err("shrinking disks is not supported".into());
    }
    if new == current {
        return Ok(None);
    }
    Ok(Some((volid, current, new)))
}

/// A disk's config value with `size=` set to `bytes`: a container mount point printed as
/// PVE prints it, a VM drive with its other options kept in place.
fn with_size(kind: GuestKind, value: &str, bytes: u64) -> String {
    if kind == GuestKind::Lxc {
        let mut mp = MountPoint::parse(value);
        mp.opts.insert("size".into(), bytes.to_string());
        return mp.print();
    }
    let size = format!("size={}", format_size(bytes));
    let mut parts: Vec<String> = value.split(',').map(str::to_string).collect();
    match parts.iter_mut().find(|p| p.starts_with("size=")) {
        Some(p) => *p = size,
        None => parts.push(size),
    }
    parts.join(",")
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// `PUT /nodes/{node}/{lxc,qemu}/{vmid}/resize`: returns the UPID of a `resize` task.
pub(crate) async fn resize(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    let disk = call.get("disk").unwrap_or_default().to_string();
    let size = call.get("size").unwrap_or_default().to_string();
    let digest = call.get("digest").map(str::to_string);
    let skiplock = call.flag("skiplock");
    let mut st = inner.state();
    check_node(&st, &node)?;
    if kind == GuestKind::Lxc {
        // CT :2418 `$load_and_check->(); # early checks before forking+locking`, with
        // Datastore.AllocateSpace on the volume's storage (:2344).
        let (volid, _, _) = ct_resize_check(&st, &node, vmid, &disk, &size, digest.as_deref())
            .map_err(ApiError::internal)?;
        if let Some(sid) = storage_of(&volid) {
            let authid = call.caller.authid();
            st.access
                .perms(&authid)
                .check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"])?;
        }
    }
    let begin: worker::Begin = Box::new(|_| Ok(Vec::new()));
    let effect_node = node.clone();
    let effect: tasks::Effect = Box::new(move |st, fail| {
        let checked = match kind {
            GuestKind::Lxc => {
                ct_resize_check(st, &effect_node, vmid, &disk, &size, digest.as_deref()).map(Some)
            }
            GuestKind::Qemu => vm_resize_check(
                st,
                &effect_node,
                vmid,
                &disk,
                &size,
                digest.as_deref(),
                skiplock,
            ),
        };
        let (volid, current, new) = match checked {
            Ok(Some(x)) => x,
            Ok(None) => return (vec![], Ok(())),
            Err(e) => return (vec![], Err(e)),
        };
        let lv = volid
            .split_once(':')
            .map_or(volid.as_str(), |(_, n)| n)
            .to_string();
        if fail {
            return (
                vec![],
                Err(format!(
                    "command '/sbin/lvextend -L {}k pve/{lv}' failed: exit code 5",
                    new / 1024
                )),
            );
        }
        st.set_volume_size(&effect_node, &volid, new);
        if let Some(g) = st.guests.get_mut(&vmid)
            && let Some(value) = g.config.get(&disk).cloned()
        {
            g.config.insert(disk.clone(), with_size(kind, &value, new));
        }
        let extents = |b: u64| b / (4 << 20);
        (
            vec![
                format!(
                    "  Size of logical volume pve/{lv} changed from {} ({} extents) to {} ({} extents).",
                    gib(current),
                    extents(current),
                    gib(new),
                    extents(new)
                ),
                format!("  Logical volume pve/{lv} successfully resized."),
            ],
            Ok(()),
        )
    });
    let locks = vec![LockReq::exclusive(kind, vmid, inner.cfg.lock_timeout)];
    let upid = worker::spawn_locked(
        inner,
        &mut st,
        spec(call, &node, "resize", vmid, vec![]),
        locks,
        begin,
        effect,
    );
    Ok(Reply::data(json!(upid)))
}
