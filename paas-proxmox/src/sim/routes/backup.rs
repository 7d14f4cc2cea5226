//! Backups: `POST /nodes/{node}/vzdump` and its worker (PM API2/VZDump.pm + VZDump.pm,
//! pinned 5829c814947b). The volumes it makes are in [`super::backup_volumes`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::backup_volumes::prune;
use super::check_node;
use super::worker::{Begun, guest_task};
use crate::sim::backups::{
    BackupVolume, Mark, archive_name, compression_ext, generate_notes, parse_prune,
    verify_notes_template,
};
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{STORAGES, State};
use crate::sim::tasks::Effect;
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// The content types a storage holds, or PVE's `storage 'x' does not exist`.
pub(crate) fn storage_content_types(sid: &str) -> Result<&'static str, String> {
    STORAGES
        .iter()
        .find(|(n, _, _)| *n == sid)
        .map(|(_, _, c)| *c)
        .ok_or_else(|| format!("storage '{sid}' does not exist"))
}

pub(crate) fn has_content(sid: &str, ty: &str) -> bool {
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
