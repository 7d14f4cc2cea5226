//! Snapshots of containers and VMs: list, create, delete, rollback, snapshot config
//! (CT API2/LXC/Snapshot.pm, QS API2/Qemu.pm:5929-6420, GC AbstractConfig.pm:691-1217).
//!
//! A snapshot is a copy of the guest's config map (the snapshot section of the config file),
//! so a rollback restores every key the simulator tracks, volumes included.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::find_guest;
use super::guest::is_numeric_key;
use super::worker::{Begun, check_lock, guest_mut, guest_task};
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{Guest, STORAGES};
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// Keys of the current config a snapshot does not copy (`__snapshot_copy_config`).
fn copied(key: &str) -> bool {
    !matches!(
        key,
        "snapshots" | "snapstate" | "snaptime" | "vmstate" | "lock" | "digest" | "description"
    ) && !is_indexed(key, "unused")
}

fn is_indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The volume keys of a config (mount points / disks, not CD-ROMs).
fn volumes(kind: GuestKind, config: &BTreeMap<String, String>) -> Vec<(String, String)> {
    config
        .iter()
        .filter(|(k, v)| match kind {
            GuestKind::Lxc => *k == "rootfs" || is_indexed(k, "mp"),
            GuestKind::Qemu => {
                ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
                    .iter()
                    .any(|p| is_indexed(k, p))
                    && !v.contains("media=cdrom")
            }
        })
        .filter_map(|(k, v)| {
            let volid = v.split(',').next()?;
            volid.contains(':').then(|| (k.clone(), volid.to_string()))
        })
        .collect()
}

/// `has_feature('snapshot')`: raw images on a directory storage cannot be snapshotted.
fn snapshot_supported(kind: GuestKind, config: &BTreeMap<String, String>) -> bool {
    volumes(kind, config).iter().all(|(_, volid)| {
        let store = volid.split(':').next().unwrap_or_default();
        let plugin = STORAGES
            .iter()
            .find(|(n, _, _)| *n == store)
            .map(|(_, p, _)| *p);
        plugin != Some("dir") || volid.ends_with(".qcow2")
    })
}

fn task_type(kind: GuestKind, action: &str) -> &'static str {
    match (kind, action) {
        (GuestKind::Lxc, "create") => "vzsnapshot",
        (GuestKind::Lxc, "delete") => "vzdelsnapshot",
        (GuestKind::Lxc, _) => "vzrollback",
        (GuestKind::Qemu, "create") => "qmsnapshot",
        (GuestKind::Qemu, "delete") => "qmdelsnapshot",
        (GuestKind::Qemu, _) => "qmrollback",
    }
}

/// A config map as `GET .../config` types it.
fn config_json(config: &BTreeMap<String, String>) -> Map<String, Value> {
    config
        .iter()
        .map(|(k, v)| {
            let value = match v.parse::<i64>() {
                Ok(n) if is_numeric_key(k) || k == "snaptime" => json!(n),
                _ => json!(v),
            };
            (k.clone(), value)
        })
        .collect()
}

/// `GET .../snapshot`: every snapshot, then `current` ("You are here!").
pub(crate) fn list(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let st = inner.state();
    let g = find_guest(&st, call.node(), kind, call.vmid())?;
    let mut out = Vec::new();
    for (name, snap) in &g.snapshots {
        let mut item = json!({
            "name": name,
            "snaptime": snap.get("snaptime").and_then(|t| t.parse::<i64>().ok()).unwrap_or(0),
            "description": snap.get("description").cloned().unwrap_or_default(),
        });
        if kind == GuestKind::Qemu {
            item["vmstate"] = json!(u8::from(snap.contains_key("vmstate")));
        }
        if let Some(p) = snap.get("parent").filter(|p| !p.is_empty()) {
            item["parent"] = json!(p);
        }
        if let Some(s) = snap.get("snapstate") {
            item["snapstate"] = json!(s);
        }
        out.push(item);
    }
    let mut current = json!({
        "name": "current",
        "digest": g.digest(),
        "running": u8::from(g.running),
        "description": "You are here!",
    });
    if let Some(p) = g.config.get("parent").filter(|p| !p.is_empty()) {
        current["parent"] = json!(p);
    }
    out.push(current);
    Ok(Reply::data(Value::Array(out)))
}

/// `POST .../snapshot`: returns the UPID of `vzsnapshot` / `qmsnapshot`. The guest carries
/// `lock: snapshot` and the snapshot `snapstate: prepare` until the task ends.
pub(crate) async fn create(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    let snapname = call.get("snapname").unwrap_or_default().to_string();
    let reserved = match kind {
        GuestKind::Lxc => ["current", "vzdump"].contains(&snapname.as_str()),
        GuestKind::Qemu => snapname == "current" || snapname.eq_ignore_ascii_case("pending"),
    };
    if reserved {
        return Err(ApiError::internal(format!(
            "unable to use snapshot name '{snapname}' (reserved name)"
        )));
    }
    if kind == GuestKind::Qemu {
        // qemu-server loads the config before forking.
        let st = inner.state();
        find_guest(&st, &node, kind, vmid)?;
    }
    let description = call.get("description").map(str::to_string);
    let want_vmstate = call.flag("vmstate");
    let now = inner.clock.now();
    let worker_node = node.clone();
    let name = snapname.clone();
    guest_task(
        inner,
        call,
        Some((kind, vmid)),
        task_type(kind, "create"),
        vmid.to_string(),
        move |st| -> Result<Begun, String> {
            let g = guest_mut(st, &worker_node, kind, vmid)?;
            // `__snapshot_prepare`, in PVE's order.
            if g.is_template() {
                return Err("you can't take a snapshot if it's a template".into());
            }
            check_lock(g)?;
            if g.snapshots.contains_key(&name) {
                return Err(format!("snapshot name '{name}' already used"));
            }
            if !snapshot_supported(kind, &g.config) {
                return Err("snapshot feature is not available".into());
            }
            let mut snap: BTreeMap<String, String> = g
                .config
                .iter()
                .filter(|(k, _)| copied(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut log = Vec::new();
            if want_vmstate && kind == GuestKind::Qemu && g.running {
                let store = volumes(kind, &g.config)
                    .first()
                    .and_then(|(_, v)| v.split(':').next().map(str::to_string))
                    .unwrap_or_else(|| "local-lvm".into());
                snap.insert("vmstate".into(), format!("{store}:vm-{vmid}-state-{name}"));
                snap.insert("runningmachine".into(), "pc-i440fx-10.1+pve0".into());
                snap.insert("runningcpu".into(), "x86-64-v2-AES".into());
                log.push(format!("saving VM state and RAM using storage '{store}'"));
            }
            snap.insert("snapstate".into(), "prepare".into());
            snap.insert("snaptime".into(), now.to_string());
            if let Some(d) = description.as_ref().filter(|d| !d.is_empty()) {
                snap.insert("description".into(), d.clone());
            }
            let vols = volumes(kind, &snap);
            g.snapshots.insert(name.clone(), snap);
            g.config.insert("lock".into(), "snapshot".into());
            let effect_node = worker_node.clone();
            let effect: crate::sim::tasks::Effect = Box::new(move |st, fail| {
                let Ok(g) = guest_mut(st, &effect_node, kind, vmid) else {
                    return (vec![], Err(format!("snapshot '{name}' does not exist")));
                };
                if g.lock() == Some("snapshot") {
                    g.config.remove("lock");
                }
                if fail {
                    // "snapshot create failed: starting cleanup": the half-made snapshot goes.
                    g.snapshots.remove(&name);
                    let vol = vols.first().map(|(_, v)| v.clone()).unwrap_or_default();
                    let lv = vol.rsplit(['/', ':']).next().unwrap_or_default().to_string();
                    return (
                        vec!["snapshot create failed: starting cleanup".into()],
                        Err(format!(
                            "lvcreate snapshot 'pve/snap_{lv}_{name}' error:   Cannot create new thin volume, free space in thin pool pve/data reached threshold."
                        )),
                    );
                }
                let Some(snap) = g.snapshots.get_mut(&name) else {
                    return (vec![], Err(format!("snapshot '{name}' does not exist")));
                };
                snap.remove("snapstate");
                g.config.insert("parent".into(), name.clone());
                let log = vols
                    .iter()
                    .map(|(_, v)| {
                        let lv = v.rsplit(['/', ':']).next().unwrap_or_default();
                        format!("  Logical volume \"snap_{lv}_{name}\" created.")
                    })
                    .collect();
                (log, Ok(()))
            });
            Ok((log, effect))
        },
    )
    .await
}

/// `DELETE .../snapshot/{snapname}`: `vzdelsnapshot` / `qmdelsnapshot`, with
/// `lock: snapshot-delete` and `snapstate: delete` while it runs.
pub(crate) async fn delete(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    let name = call.get("snapname").unwrap_or_default().to_string();
    let force = call.flag("force");
    guest_task(
        inner,
        call,
        Some((kind, vmid)),
        task_type(kind, "delete"),
        vmid.to_string(),
        move |st| -> Result<Begun, String> {
            let g = guest_mut(st, &node, kind, vmid)?;
            if !g.snapshots.contains_key(&name) {
                return Err(format!("snapshot '{name}' does not exist"));
            }
            // `set_lock($vmid, 'snapshot-delete')` runs `check_lock`.
            check_lock(g)?;
            if g.is_template() {
                return Err("you can't delete a snapshot if vm is a template".into());
            }
            g.config.insert("lock".into(), "snapshot-delete".into());
            if let Some(s) = g.snapshots.get_mut(&name) {
                s.insert("snapstate".into(), "delete".into());
            }
            let effect_node = node.clone();
            let effect: crate::sim::tasks::Effect = Box::new(move |st, fail| {
                let Ok(g) = guest_mut(st, &effect_node, kind, vmid) else {
                    return (vec![], Err(format!("snapshot '{name}' does not exist")));
                };
                if fail && !force {
                    // GC AbstractConfig.pm:1063-1066 `die $err if !$force;` leaves the
                    // `snapshot-delete` lock and `snapstate: delete` behind: PVE needs a
                    // `pct unlock` / `qm unlock` then (here: `PveSim::set_guest_lock`).
                    return (
                        vec![],
                        Err(format!(
                            "lvremove 'pve/snap_vm-{vmid}-disk-0_{name}' error:   Logical volume pve/snap_vm-{vmid}-disk-0_{name} in use."
                        )),
                    );
                }
                let parent = g.snapshots.get(&name).and_then(|s| s.get("parent").cloned());
                let relink = |map: &mut BTreeMap<String, String>| {
                    if map.get("parent") == Some(&name) {
                        match &parent {
                            Some(p) => map.insert("parent".into(), p.clone()),
                            None => map.remove("parent"),
                        };
                    }
                };
                relink(&mut g.config);
                for (sn, s) in g.snapshots.iter_mut() {
                    if *sn != name {
                        relink(s);
                    }
                }
                g.snapshots.remove(&name);
                g.config.remove("lock");
                (vec![], Ok(()))
            });
            Ok((vec![], effect))
        },
    )
    .await
}

/// `POST .../snapshot/{snapname}/rollback`: `vzrollback` / `qmrollback`. The guest is
/// stopped, carries `lock: rollback`, and gets the snapshot's config back (keeping its
/// description, unused disks and snapshot list); a VM snapshot with RAM starts it again, as
/// does `start=1`.
pub(crate) async fn rollback(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    let name = call.get("snapname").unwrap_or_default().to_string();
    let start = call.flag("start");
    let clock = inner.clone();
    guest_task(
        inner,
        call,
        Some((kind, vmid)),
        task_type(kind, "rollback"),
        vmid.to_string(),
        move |st| -> Result<Begun, String> {
            let g = guest_mut(st, &node, kind, vmid)?;
            if g.is_template() {
                return Err("you can't rollback if vm is a template".into());
            }
            let Some(snap) = g.snapshots.get(&name) else {
                return Err(format!("snapshot '{name}' does not exist"));
            };
            if let Some(state) = snap.get("snapstate") {
                return Err(format!(
                    "unable to rollback to incomplete snapshot (snapstate = {state})"
                ));
            }
            check_lock(g)?;
            let mut log = Vec::new();
            if g.running {
                stop(g);
                log.push(match kind {
                    GuestKind::Lxc => format!("stopping CT {vmid}"),
                    GuestKind::Qemu => format!("stopping VM {vmid}"),
                });
            }
            g.config.insert("lock".into(), "rollback".into());
            let effect_node = node.clone();
            let effect: crate::sim::tasks::Effect = Box::new(move |st, fail| {
                let Ok(g) = guest_mut(st, &effect_node, kind, vmid) else {
                    return (vec![], Err(format!("snapshot '{name}' does not exist")));
                };
                if fail {
                    // A failed volume rollback (GC AbstractConfig.pm:1206-1213, between the
                    // two locked phases) leaves `lock: rollback`, as in PVE.
                    return (
                        vec![],
                        Err(format!(
                            "lvconvert 'pve/snap_vm-{vmid}-disk-0_{name}' error:   Merging of thin snapshot pve/snap_vm-{vmid}-disk-0_{name} will occur on next activation."
                        )),
                    );
                }
                let Some(snap) = g.snapshots.get(&name).cloned() else {
                    g.config.remove("lock");
                    return (vec![], Err(format!("snapshot '{name}' does not exist")));
                };
                apply(g, &snap, &name);
                let mut log = Vec::new();
                if snap.contains_key("vmstate") || start {
                    g.running = true;
                    g.started = Some(std::time::Instant::now());
                    g.started_epoch = clock.clock.now();
                    log.push(format!("starting {} {vmid}", g.noun()));
                }
                (log, Ok(()))
            });
            Ok((log, effect))
        },
    )
    .await
}

fn stop(g: &mut Guest) {
    g.running = false;
    g.started = None;
}

/// `__snapshot_apply_config`: the snapshot's keys, plus the current description and unused
/// disks; `parent` points at the snapshot.
fn apply(g: &mut Guest, snap: &BTreeMap<String, String>, name: &str) {
    let mut config: BTreeMap<String, String> = g
        .config
        .iter()
        .filter(|(k, _)| *k == "description" || is_indexed(k, "unused"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in snap {
        if copied(k) && !matches!(k.as_str(), "runningmachine" | "runningcpu") {
            config.insert(k.clone(), v.clone());
        }
    }
    config.insert("parent".into(), name.to_string());
    g.config = config;
}

/// `GET .../snapshot/{snapname}`: the directory index (no existence check in PVE).
pub(crate) fn index() -> ApiResult {
    Ok(Reply::data(json!([{"cmd": "rollback"}, {"cmd": "config"}])))
}

/// `GET .../snapshot/{snapname}/config`.
pub(crate) fn config(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let st = inner.state();
    let g = find_guest(&st, call.node(), kind, call.vmid())?;
    let name = call.get("snapname").unwrap_or_default();
    let snap = g
        .snapshots
        .get(name)
        .ok_or_else(|| ApiError::internal(format!("snapshot '{name}' does not exist")))?;
    let mut map = config_json(snap);
    map.remove("lxc");
    Ok(Reply::data(Value::Object(map)))
}

/// `PUT .../snapshot/{snapname}/config`: the description (synchronous, under the lock).
pub(crate) async fn update_config(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let Some(description) = call.get("description") else {
        return Ok(Reply::data(Value::Null));
    };
    let vmid = call.vmid();
    let _guard = super::lock_guest(inner, kind, vmid, inner.cfg.lock_timeout, "").await?;
    let mut st = inner.state();
    let g = super::find_guest_mut(&mut st, call.node(), kind, vmid)?;
    super::check_lock(g)?;
    let name = call.get("snapname").unwrap_or_default();
    let snap = g
        .snapshots
        .get_mut(name)
        .ok_or_else(|| ApiError::internal(format!("snapshot '{name}' does not exist")))?;
    if description.is_empty() {
        snap.remove("description");
    } else {
        snap.insert("description".into(), description.to_string());
    }
    Ok(Reply::data(Value::Null))
}

/// Routes `.../{lxc,qemu}/{vmid}/snapshot...` by the rest of the path template.
pub(crate) async fn dispatch(
    inner: &Arc<Inner>,
    method: &str,
    path: &str,
    kind: GuestKind,
    call: &Call,
) -> ApiResult {
    let tail = path.split("/snapshot").nth(1).unwrap_or_default();
    match (method, tail) {
        ("GET", "") => list(inner, call, kind),
        ("POST", "") => create(inner, call, kind).await,
        ("GET", "/{snapname}") => index(),
        ("DELETE", "/{snapname}") => delete(inner, call, kind).await,
        ("POST", "/{snapname}/rollback") => rollback(inner, call, kind).await,
        ("GET", "/{snapname}/config") => config(inner, call, kind),
        ("PUT", "/{snapname}/config") => update_config(inner, call, kind).await,
        _ => Err(ApiError::not_implemented(method, path)),
    }
}
