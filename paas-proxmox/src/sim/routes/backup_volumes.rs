//! Backup volumes: listing them in the storage content (filtered by `check_volume_access`),
//! their attributes, their removal, and pruning by retention (ST API2/Storage/Content.pm,
//! PruneBackups.pm, Storage.pm and Plugin.pm `prune_backups`, pinned 6f49432acc6d).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::allocate::backup_owner;
use super::backup::{has_content, storage_content_types};
use super::check_node;
use super::worker::{Begun, guest_task};
use crate::sim::access::Perms;
use crate::sim::backups::{BackupVolume, Mark, mark_group, parse_prune};
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::State;
use crate::sim::tasks::Effect;
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// Marks (and unless `dry_run`, removes) the backups of one storage by retention, per guest
/// (`PVE::Storage::Plugin::prune_backups`); returns every considered backup with its mark.
pub(crate) fn prune(
    st: &mut State,
    node: &str,
    storage: &str,
    keep: &BTreeMap<String, u64>,
    vmid: Option<u32>,
    kind: Option<GuestKind>,
    dry_run: bool,
) -> Vec<(String, Mark)> {
    let mut groups: BTreeMap<(GuestKind, u32), Vec<usize>> = BTreeMap::new();
    for (i, b) in st.backups.iter().enumerate() {
        if b.node != node || b.storage != storage {
            continue;
        }
        if vmid.is_some_and(|v| v != b.vmid) || kind.is_some_and(|k| k != b.kind) {
            continue;
        }
        groups.entry((b.kind, b.vmid)).or_default().push(i);
    }
    let mut marks: Vec<(usize, Mark)> = Vec::new();
    for idx in groups.values() {
        let entries: Vec<(i64, bool)> = idx
            .iter()
            .map(|i| (st.backups[*i].ctime, st.backups[*i].protected))
            .collect();
        for (i, m) in idx.iter().zip(mark_group(&entries, keep)) {
            marks.push((*i, m));
        }
    }
    marks.sort_by(|a, b| {
        st.backups[a.0]
            .volid
            .to_lowercase()
            .cmp(&st.backups[b.0].volid.to_lowercase())
    });
    let out: Vec<(String, Mark)> = marks
        .iter()
        .map(|(i, m)| (st.backups[*i].volid.clone(), *m))
        .collect();
    if !dry_run {
        let remove: Vec<String> = out
            .iter()
            .filter(|(_, m)| *m == Mark::Remove)
            .map(|(v, _)| v.clone())
            .collect();
        st.backups
            .retain(|b| !(b.node == node && remove.contains(&b.volid)));
    }
    out
}

/// The backup volumes of `storage` on `node`, as the storage content lists them.
pub(crate) fn content_entries(st: &State, node: &str, storage: &str) -> Vec<Value> {
    st.backups
        .iter()
        .filter(|b| b.node == node && b.storage == storage)
        .map(BackupVolume::content_json)
        .collect()
}

/// Whether the caller may see a volume of the storage content (`check_volume_access`, as
/// the content listing applies it to every item).
pub(crate) fn volume_visible(perms: &Perms<'_>, storage: &str, entry: &Value) -> bool {
    let spath = format!("/storage/{storage}");
    if perms.has(&spath, &["Datastore.Allocate"]) {
        return true;
    }
    let owner = entry["vmid"].as_u64();
    match entry["content"].as_str().unwrap_or_default() {
        "iso" | "vztmpl" | "import" => {
            perms.has_any(&spath, &["Datastore.AllocateSpace", "Datastore.Audit"])
        }
        "backup" => owner.is_some_and(|o| {
            perms.has(&spath, &["Datastore.AllocateSpace"])
                && perms.has(&format!("/vms/{o}"), &["VM.Backup"])
        }),
        "images" | "rootdir" => owner.is_some_and(|o| {
            perms.has(&spath, &["Datastore.Audit"])
                && perms.has(&format!("/vms/{o}"), &["VM.Config.Disk"])
        }),
        _ => false,
    }
}

/// `$real_volume_id`: `local:backup/x` or `backup/x` with the storage of the path.
fn real_volume_id(call: &Call) -> Result<(String, String), ApiError> {
    let storage = call.get("storage").unwrap_or_default();
    let volume = call.get("volume").unwrap_or_default();
    match volume.split_once(':') {
        Some((sid, _)) if !storage.is_empty() && sid != storage => Err(ApiError::param(
            "volume",
            format!("storage ID mismatch ({sid} != {storage})\n"),
        )),
        Some((sid, _)) => Ok((volume.to_string(), sid.to_string())),
        None if storage.is_empty() => Err(ApiError::param(
            "volume",
            "no storage specified - incomplete volume ID",
        )),
        None => Ok((format!("{storage}:{volume}"), storage.to_string())),
    }
}

fn find_backup<'a>(st: &'a State, node: &str, volid: &str) -> Option<&'a BackupVolume> {
    st.backups
        .iter()
        .find(|b| b.node == node && b.volid == volid)
}

/// `GET .../content/{volume}`: a backup's size, format, notes and protection.
pub(crate) fn volume_attributes(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let (volid, storage) = real_volume_id(call)?;
    let authid = call.caller.authid();
    let st = inner.state();
    check_node(&st, call.node())?;
    storage_content_types(&storage).map_err(ApiError::internal)?;
    if let Some(t) = st.templates.iter().find(|t| t.volid == volid) {
        let perms = st.access.perms(&authid);
        let spath = format!("/storage/{storage}");
        if !perms.has(&spath, &["Datastore.Allocate"]) {
            perms.check_any(&spath, &["Datastore.AllocateSpace", "Datastore.Audit"])?;
        }
        let name = volid.rsplit('/').next().unwrap_or_default();
        return Ok(Reply::data(json!({
            "path": format!("/var/lib/vz/template/cache/{name}"),
            "size": t.size,
            "used": t.size,
            "format": t.format,
        })));
    }
    let b = find_backup(&st, call.node(), &volid).ok_or_else(|| {
        ApiError::internal(format!("volume_size_info on '{volid}' failed - no format"))
    })?;
    if !volume_visible(&st.access.perms(&authid), &storage, &b.content_json()) {
        return Err(missing_privileges(
            &st.access.perms(&authid),
            &storage,
            b.vmid,
            &volid,
        ));
    }
    let name = volid
        .split_once(":backup/")
        .map(|(_, n)| n)
        .unwrap_or_default();
    let mut v = json!({
        "path": format!("/var/lib/vz/dump/{name}"),
        "size": b.size,
        "used": b.size,
        "format": "raw",
        "protected": u8::from(b.protected),
    });
    if let Some(n) = &b.notes {
        v["notes"] = json!(n);
    }
    Ok(Reply::data(v))
}

/// The 403 `check_volume_access` raises for a backup the caller may not touch.
fn missing_privileges(perms: &Perms<'_>, storage: &str, owner: u32, _volid: &str) -> ApiError {
    let spath = format!("/storage/{storage}");
    perms
        .check(&spath, &["Datastore.AllocateSpace"])
        .and_then(|()| perms.check(&format!("/vms/{owner}"), &["VM.Backup"]))
        .err()
        .unwrap_or_else(|| ApiError::new(403, "Permission check failed"))
}

/// `PUT .../content/{volume}`: `notes` and `protected` of a backup.
pub(crate) fn update_volume(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let (volid, storage) = real_volume_id(call)?;
    let authid = call.caller.authid();
    let mut st = inner.state();
    check_node(&st, call.node())?;
    storage_content_types(&storage).map_err(ApiError::internal)?;
    let (owner, entry) = match find_backup(&st, call.node(), &volid) {
        Some(b) => (b.vmid, b.content_json()),
        None => {
            return Err(ApiError::internal(format!(
                "unable to parse directory volume name '{}'",
                volid.split_once(':').map(|(_, n)| n).unwrap_or_default()
            )));
        }
    };
    let perms = st.access.perms(&authid);
    if !volume_visible(&perms, &storage, &entry) {
        return Err(missing_privileges(&perms, &storage, owner, &volid));
    }
    let node = call.node().to_string();
    if let Some(b) = st
        .backups
        .iter_mut()
        .find(|b| b.node == node && b.volid == volid)
    {
        if let Some(n) = call.get("notes") {
            b.notes = (!n.is_empty()).then(|| n.to_string());
        }
        if let Some(p) = call.get("protected") {
            b.protected = p == "1";
        }
    }
    Ok(Reply::data(Value::Null))
}

/// `DELETE .../content/{volume}`: an `imgdel` task; a backup needs `Datastore.AllocateSpace`
/// and `VM.Backup` on its guest (else `Datastore.Allocate`); a protected one is refused.
pub(crate) async fn delete_volume(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let (volid, storage) = real_volume_id(call)?;
    let node = call.node().to_string();
    let authid = call.caller.authid();
    let owner = {
        let st = inner.state();
        check_node(&st, &node)?;
        storage_content_types(&storage).map_err(ApiError::internal)?;
        let volname = volid.split_once(':').map(|(_, n)| n).unwrap_or_default();
        let owner = backup_owner(volname);
        let perms = st.access.perms(&authid);
        match owner {
            Some(o) if volname.starts_with("backup/") => {
                perms.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"])?;
                perms.check(&format!("/vms/{o}"), &["VM.Backup"])?;
            }
            _ => perms.check(&format!("/storage/{storage}"), &["Datastore.Allocate"])?,
        }
        owner
    };
    let id = match owner {
        Some(o) => format!("{o}@{storage}"),
        None => storage.clone(),
    };
    guest_task(
        inner,
        call,
        None,
        "imgdel",
        id,
        move |_st| -> Result<Begun, String> {
            let name = volid
                .split_once(':')
                .map(|(_, n)| n.to_string())
                .unwrap_or_default();
            let effect: Effect = Box::new(move |st, fail| {
                let Some(i) = st
                    .backups
                    .iter()
                    .position(|b| b.node == node && b.volid == volid)
                else {
                    let file = name.strip_prefix("backup/").unwrap_or(&name);
                    return (
                        vec![format!(
                            "disk image '/var/lib/vz/dump/{file}' does not exist"
                        )],
                        Ok(()),
                    );
                };
                if st.backups[i].protected {
                    return (
                        vec![],
                        Err(format!(
                            "cannot remove protected volume '{name}' on '{}'",
                            st.backups[i].storage
                        )),
                    );
                }
                if fail {
                    return (
                        vec![],
                        Err(format!(
                            "unlink '/var/lib/vz/dump/{name}' failed - Input/output error"
                        )),
                    );
                }
                st.backups.remove(i);
                (vec![format!("Removed volume '{volid}'")], Ok(()))
            });
            Ok((vec![], effect))
        },
    )
    .await
}

fn prune_options(call: &Call, storage: &str) -> Result<BTreeMap<String, u64>, ApiError> {
    match call.get("prune-backups") {
        Some(v) => parse_prune(v).map_err(|e| ApiError::param("prune-backups", e)),
        // The simulated storage.cfg configures no `prune-backups` for any storage.
        None => Err(ApiError::internal(format!(
            "no prune-backups options configured for storage '{storage}'"
        ))),
    }
}

fn kind_filter(call: &Call) -> Option<GuestKind> {
    match call.get("type") {
        Some("lxc") => Some(GuestKind::Lxc),
        Some("qemu") => Some(GuestKind::Qemu),
        _ => None,
    }
}

/// `GET .../prunebackups`: what a prune would keep and remove.
pub(crate) fn prune_dry_run(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let storage = call.get("storage").unwrap_or_default().to_string();
    let node = call.node().to_string();
    let mut st = inner.state();
    check_node(&st, &node)?;
    storage_content_types(&storage).map_err(ApiError::internal)?;
    if !has_content(&storage, "backup") {
        return Err(ApiError::internal(format!(
            "storage '{storage}' does not support backups"
        )));
    }
    let keep = prune_options(call, &storage)?;
    let vmid = call.int("vmid").and_then(|v| u32::try_from(v).ok());
    let marks = prune(
        &mut st,
        &node,
        &storage,
        &keep,
        vmid,
        kind_filter(call),
        true,
    );
    let list: Vec<Value> = marks
        .into_iter()
        .filter_map(|(volid, mark)| {
            let b = st
                .backups
                .iter()
                .find(|b| b.node == node && b.volid == volid)?;
            Some(json!({
                "volid": volid,
                "ctime": b.ctime,
                "mark": mark.as_str(),
                "type": b.kind.as_str(),
                "vmid": b.vmid,
            }))
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

/// `DELETE .../prunebackups`: a `prunebackups` task removing what the retention does not
/// keep. With `vmid`, `Datastore.AllocateSpace` and `VM.Backup` suffice; otherwise
/// `Datastore.Allocate` is needed.
pub(crate) async fn prune_delete(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let storage = call.get("storage").unwrap_or_default().to_string();
    let node = call.node().to_string();
    let vmid = call.int("vmid").and_then(|v| u32::try_from(v).ok());
    let authid = call.caller.authid();
    let keep_param = call.get("prune-backups").map(parse_prune);
    {
        let st = inner.state();
        check_node(&st, &node)?;
        let perms = st.access.perms(&authid);
        match vmid {
            Some(v) => {
                perms.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"])?;
                perms.check(&format!("/vms/{v}"), &["VM.Backup"])?;
            }
            None => perms.check(&format!("/storage/{storage}"), &["Datastore.Allocate"])?,
        }
    }
    if let Some(Err(e)) = &keep_param {
        return Err(ApiError::param("prune-backups", e.clone()));
    }
    let kind = kind_filter(call);
    let id = match vmid {
        Some(v) => format!("{v}@{storage}"),
        None => storage.clone(),
    };
    guest_task(
        inner,
        call,
        None,
        "prunebackups",
        id,
        move |_| -> Result<Begun, String> {
            storage_content_types(&storage)?;
            if !has_content(&storage, "backup") {
                return Err(format!("storage '{storage}' does not support backups"));
            }
            let keep = match keep_param {
                Some(Ok(k)) => k,
                _ => {
                    return Err(format!(
                        "no prune-backups options configured for storage '{storage}'"
                    ));
                }
            };
            let effect: Effect = Box::new(move |st, _fail| {
                let marks = prune(st, &node, &storage, &keep, vmid, kind, false);
                let log = marks
                    .iter()
                    .filter(|(_, m)| *m == Mark::Remove)
                    .map(|(v, _)| format!("removing backup '{v}'"))
                    .collect();
                (log, Ok(()))
            });
            Ok((vec![], effect))
        },
    )
    .await
}
