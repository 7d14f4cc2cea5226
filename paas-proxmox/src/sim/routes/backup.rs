//! Backups: `POST /nodes/{node}/vzdump`, backup volumes in the storage content, their
//! attributes and removal, and pruning (PM API2/VZDump.pm + VZDump.pm, ST
//! API2/Storage/Content.pm + PruneBackups.pm + Storage.pm, pinned 5829c814947b /
//! 6f49432acc6d).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::allocate::backup_owner;
use super::check_node;
use super::worker::{Begun, guest_task};
use crate::sim::access::Perms;
use crate::sim::backups::{
    BackupVolume, Mark, archive_name, compression_ext, generate_notes, mark_group, parse_prune,
    verify_notes_template,
};
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{STORAGES, State};
use crate::sim::tasks::Effect;
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// The content types a storage holds, or PVE's `storage 'x' does not exist`.
fn storage_content_types(sid: &str) -> Result<&'static str, String> {
    STORAGES
        .iter()
        .find(|(n, _, _)| *n == sid)
        .map(|(_, _, c)| *c)
        .ok_or_else(|| format!("storage '{sid}' does not exist"))
}

fn has_content(sid: &str, ty: &str) -> bool {
    storage_content_types(sid).is_ok_and(|c| c.split(',').any(|x| x == ty))
}

fn vmid_list(v: Option<&str>) -> Vec<u32> {
    v.map(|s| {
        s.split([',', ';', ' '])
            .filter_map(|x| x.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

/// The command line the task log starts with (`PVE::VZDump::Common::command_line`).
fn command_line(call: &Call) -> String {
    let mut cmd = String::from("vzdump");
    if let Some(v) = call.get("vmid") {
        cmd.push(' ');
        cmd.push_str(&v.replace(',', " "));
    }
    for (k, v) in &call.params {
        if k == "vmid" {
            continue;
        }
        cmd.push_str(&format!(" --{k} '{v}'"));
    }
    cmd
}

/// One guest of a backup job, decided when the task starts.
struct JobEntry {
    vmid: u32,
    /// `Err`: the per-guest failure (`ERROR: Backup of VM N failed - ...`).
    prepared: Result<Prepared, String>,
}

struct Prepared {
    kind: GuestKind,
    name: String,
    mode: &'static str,
    /// Stopped for a `stop` mode backup: started again at the end.
    restart: bool,
}

/// `POST /nodes/{node}/vzdump`: returns the UPID of a `vzdump` task (id = the VMID when there
/// is one guest), or `OK` when none of the guests is on this node.
pub(crate) async fn vzdump(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let node = call.node().to_string();
    let authid = call.caller.authid();
    {
        let st = inner.state();
        check_node(&st, &node)?;
        let perms = st.access.perms(&authid);
        if call.flag("stdout") {
            return Err(ApiError::param(
                "stdout",
                "option is only allowed on the command line interface.",
            ));
        }
        // `assert_param_permission_vzdump` (PM API2/VZDump.pm:24-35, API2/Backup.pm:39-56).
        if !perms.is_root() {
            for key in ["tmpdir", "dumpdir", "script", "job-id"] {
                if call.params.contains_key(key) {
                    return Err(ApiError::param(key, "Only root may set this option."));
                }
            }
            if ["bwlimit", "ionice", "performance"]
                .iter()
                .any(|k| call.params.contains_key(*k))
            {
                perms.check("/", &["Sys.Modify"])?;
            }
            if call.params.contains_key("prune-backups") && call.get("dumpdir").is_none() {
                let sid = call.get("storage").unwrap_or("local");
                perms.check(&format!("/storage/{sid}"), &["Datastore.Allocate"])?;
            }
        }
        // `verify_vzdump_parameters`.
        for opt in ["all", "exclude", "pool"] {
            if call.get(opt).is_some_and(|v| v != "0") && call.params.contains_key("vmid") {
                return Err(ApiError::param(opt, "option conflicts with option 'vmid'"));
            }
        }
        if let Some(t) = call.get("notes-template") {
            verify_notes_template(t).map_err(|e| ApiError::param("notes-template", e))?;
        }
        let selects = call.flag("all")
            || call.flag("stop")
            || ["pool", "vmid", "exclude"]
                .iter()
                .any(|k| call.params.contains_key(*k));
        if !selects {
            return Err(ApiError::param("vmid", "property is missing"));
        }
    }
    // `get_included_guests`: the local guests (and unknown VMIDs, to fail visibly).
    let (local, skipped) = {
        let st = inner.state();
        let wanted: Vec<u32> = if let Some(pool) = call.get("pool") {
            st.access
                .pools
                .get(pool)
                .map(|p| p.vms.iter().copied().collect())
                .unwrap_or_default()
        } else if call.params.contains_key("vmid") {
            vmid_list(call.get("vmid"))
        } else {
            let exclude = vmid_list(call.get("exclude"));
            st.guests
                .keys()
                .copied()
                .filter(|v| !exclude.contains(v))
                .collect()
        };
        let mut local = Vec::new();
        let mut skipped = Vec::new();
        for vmid in wanted {
            match st.guests.get(&vmid) {
                Some(g) if g.node != node => skipped.push(vmid),
                _ => local.push(vmid),
            }
        }
        local.sort_unstable();
        local.dedup();
        (local, skipped)
    };
    let all = call.flag("all") || call.params.contains_key("exclude");
    if local.is_empty() && !all {
        return Ok(Reply::data(json!("OK")));
    }
    let storage = call.get("storage").unwrap_or("local").to_string();
    {
        let st = inner.state();
        if call.get("dumpdir").is_none() {
            st.access
                .perms(&authid)
                .check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"])?;
        }
    }
    let id = if local.len() == 1 {
        local[0].to_string()
    } else {
        String::new()
    };
    let opts = JobOptions {
        node: node.clone(),
        storage,
        dumpdir: call.get("dumpdir").map(str::to_string),
        mode: match call.get("mode") {
            Some("stop") => "stop",
            Some("suspend") => "suspend",
            _ => "snapshot",
        },
        ext: compression_ext(call.get("compress")),
        remove: call.get("remove") != Some("0"),
        prune: call.get("prune-backups").map(parse_prune),
        notes: call.get("notes-template").map(str::to_string),
        protected: call.flag("protected"),
        all,
        authid,
        now: inner.clock.now(),
        cmdline: command_line(call),
        skipped,
    };
    let clock = inner.clone();
    guest_task(inner, call, None, "vzdump", id, move |st| {
        begin_job(st, opts, local, clock)
    })
    .await
}

/// Options of one backup job.
struct JobOptions {
    node: String,
    storage: String,
    dumpdir: Option<String>,
    mode: &'static str,
    ext: Option<&'static str>,
    remove: bool,
    prune: Option<Result<BTreeMap<String, u64>, String>>,
    notes: Option<String>,
    protected: bool,
    all: bool,
    authid: String,
    now: i64,
    cmdline: String,
    skipped: Vec<u32>,
}

/// The worker's first steps (`PVE::VZDump->new`, `exec_backup` up to the per-guest loop):
/// storage checks fail the job; each guest is checked and locked (`lock: backup`).
fn begin_job(
    st: &mut State,
    opts: JobOptions,
    vmids: Vec<u32>,
    clock: Arc<Inner>,
) -> Result<Begun, String> {
    let mut log = vec![format!("INFO: starting new backup job: {}", opts.cmdline)];
    if !opts.skipped.is_empty() {
        let list: Vec<String> = opts.skipped.iter().map(u32::to_string).collect();
        log.push(format!("INFO: skip external VMs: {}", list.join(", ")));
    }
    if let Some(dir) = &opts.dumpdir {
        // The simulator has no file system to dump into.
        return Err(format!("dumpdir '{dir}' does not exist"));
    }
    let sid = opts.storage.clone();
    if let Err(e) = storage_content_types(&sid) {
        return Err(format!(
            "could not activate storage '{sid}': {e}\ncould not get storage information for '{sid}': {e}"
        ));
    }
    if !has_content(&sid, "backup") {
        return Err(format!(
            "could not get storage information for '{sid}': can't use storage '{sid}' for backups - wrong content type"
        ));
    }
    let keep = match opts.prune.clone() {
        Some(Ok(k)) => k,
        Some(Err(e)) => return Err(e),
        None => BTreeMap::new(),
    };
    let mut entries = Vec::new();
    for vmid in vmids {
        let exists = st.guests.contains_key(&vmid);
        // `exec_backup`: VM.Backup per guest; without `all` a missing right ends the job.
        if exists {
            let perms = st.access.perms(&opts.authid);
            if !perms.has(&format!("/vms/{vmid}"), &["VM.Backup"]) {
                if opts.all {
                    continue;
                }
                return Err(format!("Permission check failed (/vms/{vmid}, VM.Backup)"));
            }
        }
        let prepared = prepare_guest(st, &opts, &keep, vmid);
        entries.push(JobEntry { vmid, prepared });
    }
    let effect: Effect =
        Box::new(move |st, fail| finish_job(st, &opts, &keep, entries, fail, &clock));
    Ok((log, effect))
}

/// `exec_backup_task` up to the archive: checks, `lock: backup`, the mode.
fn prepare_guest(
    st: &mut State,
    opts: &JobOptions,
    keep: &BTreeMap<String, u64>,
    vmid: u32,
) -> Result<Prepared, String> {
    let limit: u64 = keep.values().sum();
    let existing = st
        .backups
        .iter()
        .filter(|b| b.node == opts.node && b.storage == opts.storage && b.vmid == vmid)
        .filter(|b| !b.protected)
        .count() as u64;
    let g = st
        .guests
        .get_mut(&vmid)
        .filter(|g| g.node == opts.node)
        .ok_or_else(|| format!("unable to find VM '{vmid}'"))?;
    if limit > 0 && !opts.remove && !opts.protected && existing >= limit {
        return Err(format!(
            "There is a max backup limit of {limit} enforced by the target storage or the vzdump parameters. Either increase the limit or delete old backups."
        ));
    }
    // `lock_vm`: `set_lock($vmid, 'backup')` runs `check_lock` first.
    if let Some(l) = g.lock() {
        return Err(format!("{} is locked ({l})", g.noun()));
    }
    g.config.insert("lock".into(), "backup".into());
    let running = g.running;
    let mode = if running { opts.mode } else { "stop" };
    let restart = running && mode == "stop";
    if restart {
        g.running = false;
        g.started = None;
    }
    Ok(Prepared {
        kind: g.kind,
        name: g.name(),
        mode,
        restart,
    })
}

/// The rest of each guest's backup, when the task's time is up: the archive, notes,
/// protection, pruning, and always the unlock.
fn finish_job(
    st: &mut State,
    opts: &JobOptions,
    keep: &BTreeMap<String, u64>,
    entries: Vec<JobEntry>,
    fail: bool,
    clock: &Arc<Inner>,
) -> (Vec<String>, Result<(), String>) {
    let mut log = Vec::new();
    let mut errors = 0;
    for entry in entries {
        let vmid = entry.vmid;
        let result = match entry.prepared {
            Err(e) => Err(e),
            Ok(p) => {
                let r = archive_guest(st, opts, keep, vmid, &p, fail, &mut log);
                if let Some(g) = st.guests.get_mut(&vmid) {
                    if g.lock() == Some("backup") {
                        g.config.remove("lock");
                    }
                    if p.restart && !g.running {
                        g.running = true;
                        g.started = Some(std::time::Instant::now());
                        g.started_epoch = clock.clock.now();
                        log.push("INFO: restarting vm".to_string());
                    }
                }
                r
            }
        };
        match result {
            Ok(()) => {
                log.push(format!("INFO: Finished Backup of VM {vmid} (00:00:01)"));
            }
            Err(e) => {
                errors += 1;
                log.push(format!("ERROR: Backup of VM {vmid} failed - {e}"));
            }
        }
    }
    if errors > 0 {
        log.push("INFO: Backup job finished with errors".to_string());
        (log, Err("job errors".to_string()))
    } else {
        log.push("INFO: Backup job finished successfully".to_string());
        (log, Ok(()))
    }
}

fn archive_guest(
    st: &mut State,
    opts: &JobOptions,
    keep: &BTreeMap<String, u64>,
    vmid: u32,
    p: &Prepared,
    fail: bool,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let Some(g) = st.guests.get(&vmid) else {
        return Err(format!("unable to find VM '{vmid}'"));
    };
    log.push(format!(
        "INFO: Starting Backup of VM {vmid} ({})",
        p.kind.as_str()
    ));
    log.push(format!("INFO: backup mode: {}", p.mode));
    let (name, format) = archive_name(p.kind, vmid, opts.now, opts.ext);
    let volid = format!("{}:backup/{name}", opts.storage);
    log.push(format!(
        "INFO: creating vzdump archive '/var/lib/vz/dump/{name}'"
    ));
    if fail {
        return Err(match p.kind {
            GuestKind::Lxc => "command 'tar cpf - --totals --one-file-system -p --sparse --numeric-owner --acls --xattrs -C /mnt/vzsnap0 ./etc/vzdump/pct.conf' failed: exit code 2".to_string(),
            GuestKind::Qemu => format!("job failed with err -5 - Input/output error (VM {vmid})"),
        });
    }
    let mut config = g.config.clone();
    config.remove("lock");
    let raw = g.disk_bytes().max(1 << 30) / 8;
    let size = if opts.ext.is_some() { raw / 3 } else { raw };
    let vars = [
        ("cluster", "pvesim".to_string()),
        ("guestname", p.name.clone()),
        ("node", opts.node.clone()),
        ("vmid", vmid.to_string()),
    ];
    let notes = opts
        .notes
        .as_deref()
        .map(|t| generate_notes(t, &vars))
        .filter(|n| !n.is_empty());
    if notes.is_some() {
        log.push("INFO: adding notes to backup".to_string());
    }
    if opts.protected {
        log.push("INFO: marking backup as protected".to_string());
    }
    log.push(format!("INFO: archive file size: {}MB", size >> 20));
    // The same name in the same second replaces the file, as the rename does in PVE.
    st.backups
        .retain(|b| !(b.node == opts.node && b.volid == volid));
    st.backups.push(BackupVolume {
        node: opts.node.clone(),
        storage: opts.storage.clone(),
        volid,
        vmid,
        kind: p.kind,
        ctime: opts.now,
        size,
        format,
        notes,
        protected: opts.protected,
        config,
    });
    if opts.remove && !keep.is_empty() {
        let keepstr: Vec<String> = keep.iter().map(|(k, v)| format!("{k}={v}")).collect();
        log.push(format!(
            "INFO: prune older backups with retention: {}",
            keepstr.join(", ")
        ));
        let removed = prune(
            st,
            &opts.node,
            &opts.storage,
            keep,
            Some(vmid),
            Some(p.kind),
            false,
        );
        for (volid, mark) in &removed {
            if *mark == Mark::Remove {
                log.push(format!("INFO: removing backup '{volid}'"));
            }
        }
        let n = removed.iter().filter(|(_, m)| *m == Mark::Remove).count();
        let extra = if n > 0 {
            " not covered by keep-retention policy"
        } else {
            ""
        };
        log.push(format!("INFO: pruned {n} backup(s){extra}"));
    }
    Ok(())
}

/// Marks (and unless `dry_run`, removes) the backups of one storage by retention, per guest
/// (`PVE::Storage::Plugin::prune_backups`); returns every considered backup with its mark.
fn prune(
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
