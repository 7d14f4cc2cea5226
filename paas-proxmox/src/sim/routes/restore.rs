//! Restores: `POST /nodes/{node}/lxc` with `restore=1` (task `vzrestore`, CT API2/LXC.pm
//! create_vm) and `POST /nodes/{node}/qemu` with `archive=` (task `qmrestore`), plus the plain
//! QEMU create (`qmcreate`) the restore shares its code with (QS API2/Qemu.pm create_vm).
//! An existing guest is replaced only with `force=1`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::guest::spec;
use super::{check_node, lock_guest};
use crate::sim::backups::BackupVolume;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{Guest, STORAGES, State, noun};
use crate::sim::tasks;
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

fn is_indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn is_qemu_drive(key: &str) -> bool {
    ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
        .iter()
        .any(|p| is_indexed(key, p))
}

fn storage_has(sid: &str, content: &str) -> Option<bool> {
    STORAGES
        .iter()
        .find(|(n, _, _)| *n == sid)
        .map(|(_, _, c)| c.split(',').any(|x| x == content))
}

/// `size=8G` of a volume property string, in GiB.
fn size_gib(value: &str) -> f64 {
    value
        .split(',')
        .find_map(|p| p.strip_prefix("size="))
        .and_then(crate::sim::state::parse_size)
        .map(|b| b as f64 / f64::from(1u32 << 30))
        .unwrap_or(4.0)
}

fn gib(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}G", v as u64)
    } else {
        format!("{v}G")
    }
}

/// A new volume name on `store` (`local` is a directory storage: raw files in a folder).
fn new_volume(store: &str, vmid: u32, n: usize, kind: GuestKind) -> String {
    match (store, kind) {
        ("local", GuestKind::Lxc) => format!("local:{vmid}/vm-{vmid}-disk-{n}.raw"),
        ("local", GuestKind::Qemu) => format!("local:{vmid}/vm-{vmid}-disk-{n}.raw"),
        _ => format!("{store}:vm-{vmid}-disk-{n}"),
    }
}

/// Replaces the volume of a `rootfs` / `mpN` / drive value, keeping its other options.
fn with_volume(value: &str, volid: &str) -> String {
    let mut parts = value.split(',');
    let _old = parts.next();
    std::iter::once(volid.to_string())
        .chain(parts.map(str::to_string))
        .collect::<Vec<_>>()
        .join(",")
}

/// Replaces the MAC address in a network property string.
fn with_mac(kind: GuestKind, value: &str, mac: &str) -> String {
    match kind {
        GuestKind::Lxc => value
            .split(',')
            .map(|p| {
                if p.starts_with("hwaddr=") {
                    format!("hwaddr={mac}")
                } else {
                    p.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        GuestKind::Qemu => {
            let mut parts: Vec<String> = value.split(',').map(str::to_string).collect();
            if let Some(first) = parts.first_mut()
                && let Some((model, _)) = first.split_once('=')
            {
                *first = format!("{model}={mac}");
            }
            parts.join(",")
        }
    }
}

/// `check_vmid_unused`: `CT 100 already exists on node 'pve1'`.
fn already_exists(st: &State, vmid: u32) -> Option<ApiError> {
    st.guests.get(&vmid).map(|g| {
        ApiError::internal(format!(
            "{} {vmid} already exists on node '{}'",
            noun(g.kind),
            g.node
        ))
    })
}

/// Parameters of the LXC create call that do not go into the config.
const LXC_NOT_CONFIG: [&str; 16] = [
    "node",
    "vmid",
    "ostemplate",
    "restore",
    "force",
    "unique",
    "storage",
    "pool",
    "start",
    "password",
    "ssh-public-keys",
    "ignore-unpack-errors",
    "bwlimit",
    "ha-managed",
    "unprivileged",
    "rootfs",
];

/// `POST /nodes/{node}/lxc` with `restore=1`: a `vzrestore` task restoring the archive in
/// `ostemplate` into container `vmid` (a new one, or with `force=1` the stopped existing one).
pub(crate) async fn lxc(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    let force = call.flag("force");
    let storage = call.get("storage").unwrap_or("local").to_string();
    let archive = call.get("ostemplate").unwrap_or_default().to_string();
    let same_exists = {
        let st = inner.state();
        check_node(&st, &node)?;
        let same = st
            .guests
            .get(&vmid)
            .is_some_and(|g| g.node == node && g.kind == GuestKind::Lxc);
        if !(same && force) {
            if let Some(e) = already_exists(&st, vmid) {
                return Err(e);
            }
        } else if st.guests.get(&vmid).is_some_and(|g| g.running) {
            return Err(ApiError::internal("can't overwrite running container"));
        }
        super::allocate::check_lxc_create(&st, call, vmid, same && force)?;
        // `$check_and_activate_storage` of the default storage when rootfs is not given.
        if !call.params.contains_key("rootfs") {
            match storage_has(&storage, "rootdir") {
                None => {
                    return Err(ApiError::internal(format!(
                        "storage '{storage}' does not exist"
                    )));
                }
                Some(false) => {
                    return Err(ApiError::param(
                        "storage",
                        format!("storage '{storage}' does not support container directories"),
                    ));
                }
                Some(true) => {}
            }
        }
        same
    };
    let prefix = format!("unable to restore CT {vmid} - ");
    let guard = lock_guest(inner, GuestKind::Lxc, vmid, inner.cfg.lock_timeout, &prefix).await?;
    let mut st = inner.state();
    // `create_and_lock_config($vmid, $force)`, under the file lock.
    match st.guests.get_mut(&vmid) {
        Some(g) if same_exists && g.node == node && g.kind == GuestKind::Lxc => {
            if let Some(l) = g.lock() {
                return Err(ApiError::internal(format!("{prefix}CT is locked ({l})")));
            }
            g.config.insert("lock".into(), "create".into());
        }
        Some(g) => {
            return Err(ApiError::internal(format!(
                "{prefix}{} {vmid} already exists on node '{}'",
                noun(g.kind),
                g.node
            )));
        }
        None => {
            let dhcp_ip = st.new_dhcp_ip();
            st.guests.insert(
                vmid,
                Guest {
                    vmid,
                    node: node.clone(),
                    kind: GuestKind::Lxc,
                    config: BTreeMap::from([("lock".to_string(), "create".to_string())]),
                    running: false,
                    started: None,
                    started_epoch: 0,
                    dhcp_ip,
                    snapshots: BTreeMap::new(),
                },
            );
        }
    }
    let overrides: BTreeMap<String, String> = call
        .params
        .iter()
        .filter(|(k, _)| !LXC_NOT_CONFIG.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rootfs_param = call.get("rootfs").map(str::to_string);
    let unprivileged = call.get("unprivileged").map(str::to_string);
    let unique = call.flag("unique");
    let start = call.flag("start");
    let pool = call.get("pool").map(str::to_string);
    let effect_node = node.clone();
    let effect: tasks::Effect = Box::new(move |st, fail| {
        let log = vec![format!(
            "recovering backed-up configuration from '{archive}'"
        )];
        let backup = st
            .backups
            .iter()
            .find(|b| b.node == effect_node && b.volid == archive)
            .cloned();
        let Some(backup) = backup else {
            // Before any disk was touched: the create lock goes, a new config with it.
            if same_exists {
                if let Some(g) = st.guests.get_mut(&vmid) {
                    g.config.remove("lock");
                }
            } else {
                st.guests.remove(&vmid);
            }
            return (
                log,
                Err(format!(
                    "unable to restore CT {vmid} - can't find file '{archive}'"
                )),
            );
        };
        if fail {
            // Past `$destroy_config_on_error = 1`: the container is gone, old disks too.
            st.guests.remove(&vmid);
            return (
                log,
                Err(format!(
                    "unable to restore CT {vmid} - command 'tar xpf - --zstd --totals --one-file-system -p --sparse --numeric-owner --acls --xattrs --xattrs-include=user.* --xattrs-include=security.capability --warning=no-file-ignored --warning=no-xattr-write -C /var/lib/lxc/{vmid}/rootfs --skip-old-files --anchored --exclude ./dev/*' failed: exit code 2"
                )),
            );
        }
        let macs: Vec<String> = if unique {
            (0..8).map(|_| st.new_mac()).collect()
        } else {
            Vec::new()
        };
        let mut config = restored_lxc_config(
            &backup,
            &overrides,
            rootfs_param.as_deref(),
            &storage,
            vmid,
            unprivileged.as_deref(),
        );
        if unique {
            let nets: Vec<String> = config
                .keys()
                .filter(|k| is_indexed(k, "net"))
                .cloned()
                .collect();
            for (key, mac) in nets.iter().zip(macs) {
                if let Some(v) = config.get(key).cloned() {
                    config.insert(key.clone(), with_mac(GuestKind::Lxc, &v, &mac));
                }
            }
        }
        let Some(g) = st.guests.get_mut(&vmid) else {
            return (
                log,
                Err(format!(
                    "unable to restore CT {vmid} - configuration file vanished"
                )),
            );
        };
        g.config = config;
        g.snapshots.clear();
        let mut log = log;
        log.push(format!("restoring '{archive}' now.."));
        log.push("merging backed-up and given configuration..".to_string());
        if start {
            g.running = true;
            g.started = Some(Instant::now());
            g.started_epoch = 0;
            log.push(format!("starting CT {vmid}"));
        }
        if let Some(pool) = &pool {
            st.access.add_vm_to_pool(vmid, pool);
        }
        (log, Ok(()))
    });
    let effect = super::guest::wrap_epoch(inner, effect, vmid);
    let upid = tasks::spawn(
        inner,
        &mut st,
        spec(call, &node, "vzrestore", vmid, vec![]),
        vec![guard],
        effect,
    );
    Ok(Reply::data(json!(upid)))
}

/// `sanitize_and_merge_config` plus the recovered mount points: the given parameters win;
/// volumes are made anew on `storage` with the backed-up sizes (CT LXC/Create.pm:526-580,
/// CT API2/LXC.pm:466-522).
fn restored_lxc_config(
    backup: &BackupVolume,
    overrides: &BTreeMap<String, String>,
    rootfs_param: Option<&str>,
    storage: &str,
    vmid: u32,
    unprivileged: Option<&str>,
) -> BTreeMap<String, String> {
    let mut config = overrides.clone();
    for (k, v) in &backup.config {
        let skip = matches!(
            k.as_str(),
            "digest" | "rootfs" | "snapshots" | "unprivileged" | "parent" | "template" | "lock"
        ) || is_indexed(k, "mp")
            || is_indexed(k, "unused");
        if !skip {
            config.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut n = 0;
    match rootfs_param {
        Some(r) => {
            let (store, size) = r
                .split(',')
                .next()
                .and_then(|v| v.split_once(':'))
                .unwrap_or((storage, "4"));
            let gb: f64 = size.trim_end_matches('G').parse().unwrap_or(4.0);
            config.insert(
                "rootfs".into(),
                format!(
                    "{},size={}",
                    new_volume(store, vmid, 0, GuestKind::Lxc),
                    gib(gb)
                ),
            );
        }
        None => {
            let mut vols: Vec<(&String, &String)> = backup
                .config
                .iter()
                .filter(|(k, v)| {
                    (*k == "rootfs" || is_indexed(k, "mp"))
                        && v.split(',').next().is_some_and(|x| x.contains(':'))
                })
                .collect();
            // rootfs first: it gets disk-0.
            vols.sort_by_key(|(k, _)| *k != "rootfs");
            for (k, v) in vols {
                let vol = new_volume(storage, vmid, n, GuestKind::Lxc);
                let mut value = with_volume(v, &vol);
                if !value.contains("size=") {
                    value.push_str(&format!(",size={}", gib(size_gib(v))));
                }
                config.insert(k.clone(), value);
                n += 1;
            }
        }
    }
    match unprivileged {
        Some(u) => {
            config.insert("unprivileged".into(), u.to_string());
        }
        None => {
            if let Some(u) = backup.config.get("unprivileged") {
                config.insert("unprivileged".into(), u.clone());
            }
        }
    }
    config
        .entry("hostname".into())
        .or_insert_with(|| format!("CT{vmid}"));
    config
        .entry("memory".into())
        .or_insert_with(|| "512".into());
    config.entry("swap".into()).or_insert_with(|| "512".into());
    config
}

/// Parameters of the QEMU create call that do not go into the config.
const QEMU_NOT_CONFIG: [&str; 13] = [
    "node",
    "vmid",
    "archive",
    "force",
    "unique",
    "storage",
    "pool",
    "start",
    "bwlimit",
    "ha-managed",
    "live-restore",
    "import-working-storage",
    "template",
];

/// `POST /nodes/{node}/qemu`: with `archive`, a `qmrestore` task; otherwise a `qmcreate`
/// task making the VM from its parameters (disks as `STORAGE:SIZE_GB`).
pub(crate) async fn qemu(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    let archive = call.get("archive").map(str::to_string);
    let force = call.flag("force");
    let is_restore = archive.is_some();
    let emsg = if is_restore {
        format!("unable to restore VM {vmid} - ")
    } else {
        format!("unable to create VM {vmid} - ")
    };
    let overrides: BTreeMap<String, String> = call
        .params
        .iter()
        .filter(|(k, _)| !QEMU_NOT_CONFIG.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    {
        let st = inner.state();
        check_node(&st, &node)?;
        let authid = call.caller.authid();
        let perms = st.access.perms(&authid);
        if let Some(pool) = call.get("pool") {
            perms.check_pool_exist(pool)?;
        }
        if let Some(sid) = call.get("storage") {
            perms.check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"])?;
        }
        let exists = st.guests.contains_key(&vmid);
        super::allocate::check_allocate(&st, call, vmid, is_restore && force && exists)?;
        if let Some(archive) = &archive {
            if let Some(opt) = overrides.keys().find(|k| is_qemu_drive(k)) {
                return Err(ApiError::param(
                    opt,
                    "option conflicts with option 'archive'",
                ));
            }
            super::allocate::check_volume_access(&perms, &st, vmid, archive, "backup")?;
            if !st
                .backups
                .iter()
                .any(|b| b.node == node && b.volid == *archive)
            {
                return Err(ApiError::internal(format!("can't find file '{archive}'")));
            }
        } else {
            let keys: Vec<&str> = overrides.keys().map(String::as_str).collect();
            super::allocate::check_vm_config(&perms, call, vmid, call.get("pool"), &keys)?;
            for (k, v) in &overrides {
                if is_qemu_drive(k) && !v.contains("media=cdrom") {
                    let store = v
                        .split(',')
                        .next()
                        .and_then(|x| x.split_once(':'))
                        .map(|(s, _)| s);
                    if let Some(store) = store {
                        perms.check(&format!("/storage/{store}"), &["Datastore.AllocateSpace"])?;
                        if storage_has(store, "images") == Some(false) {
                            return Err(ApiError::param(
                                k,
                                format!("storage '{store}' does not support vm images"),
                            ));
                        }
                    }
                }
            }
        }
    }
    let guard = lock_guest(
        inner,
        GuestKind::Qemu,
        vmid,
        std::time::Duration::from_secs(5).min(inner.cfg.lock_timeout),
        &emsg,
    )
    .await?;
    let mut st = inner.state();
    // `create_and_lock_config($vmid, $force)` (GC AbstractConfig.pm:254-271).
    let overwriting = match st.guests.get_mut(&vmid) {
        Some(g) if force && is_restore => {
            if g.node != node || g.kind != GuestKind::Qemu {
                return Err(ApiError::internal(format!(
                    "{emsg}{} {vmid} already exists on node '{}'",
                    noun(g.kind),
                    g.node
                )));
            }
            if let Some(l) = g.lock() {
                return Err(ApiError::internal(format!("{emsg}VM is locked ({l})")));
            }
            g.config.insert("lock".into(), "create".into());
            true
        }
        Some(g) => {
            return Err(ApiError::internal(format!(
                "{emsg}{} {vmid} already exists on node '{}'",
                noun(g.kind),
                g.node
            )));
        }
        None => {
            let dhcp_ip = st.new_dhcp_ip();
            st.guests.insert(
                vmid,
                Guest {
                    vmid,
                    node: node.clone(),
                    kind: GuestKind::Qemu,
                    config: BTreeMap::from([("lock".to_string(), "create".to_string())]),
                    running: false,
                    started: None,
                    started_epoch: 0,
                    dhcp_ip,
                    snapshots: BTreeMap::new(),
                },
            );
            false
        }
    };
    let storage = call.get("storage").map(str::to_string);
    let unique = call.flag("unique");
    let start = call.flag("start");
    let pool = call.get("pool").map(str::to_string);
    let macs: Vec<String> = (0..8).map(|_| st.new_mac()).collect();
    let effect_node = node.clone();
    let effect: tasks::Effect = Box::new(move |st, fail| {
        let Some(g) = st
            .guests
            .get_mut(&vmid)
            .filter(|g| g.node == effect_node && g.kind == GuestKind::Qemu)
        else {
            return (vec![], Err(format!("{emsg}configuration file vanished")));
        };
        let mut log = Vec::new();
        let config = match &archive {
            Some(archive) => {
                if g.running {
                    g.config.remove("lock");
                    return (vec![], Err(format!("{emsg}vm is running")));
                }
                if fail {
                    // "error before or during data restore ... VM state is NOT cleaned up".
                    g.config = if overwriting {
                        BTreeMap::from([("memory".to_string(), "128".to_string())])
                    } else {
                        BTreeMap::new()
                    };
                    g.snapshots.clear();
                    return (
                        vec![format!(
                            "restore vma archive: zstd -q -d -c /var/lib/vz/dump/{}",
                            archive.rsplit('/').next().unwrap_or_default()
                        )],
                        Err(format!(
                            "command 'set -o pipefail && zstd -q -d -c /var/lib/vz/dump/{} | vma extract -v -r /var/tmp/vzdumptmp{vmid}.fifo - /var/tmp/vzdumptmp{vmid}' failed: exit code 133",
                            archive.rsplit('/').next().unwrap_or_default()
                        )),
                    );
                }
                log.push(format!(
                    "restore vma archive: zstd -q -d -c /var/lib/vz/dump/{}",
                    archive.rsplit('/').next().unwrap_or_default()
                ));
                None
            }
            None => {
                if fail {
                    return (
                        vec![],
                        Err(format!(
                            "{emsg}lvcreate 'pve/vm-{vmid}-disk-0' error:   Volume group \"pve\" has insufficient free space"
                        )),
                    );
                }
                Some(created_qemu_config(&overrides, vmid, &macs))
            }
        };
        let config = match config {
            Some(c) => c,
            None => {
                let Some(backup) = st
                    .backups
                    .iter()
                    .find(|b| b.node == effect_node && Some(&b.volid) == archive.as_ref())
                    .cloned()
                else {
                    if let Some(g) = st.guests.get_mut(&vmid) {
                        g.config.remove("lock");
                    }
                    return (
                        log,
                        Err(format!(
                            "can't find file '{}'",
                            archive.clone().unwrap_or_default()
                        )),
                    );
                };
                restored_qemu_config(
                    &backup,
                    &overrides,
                    storage.as_deref(),
                    vmid,
                    unique.then_some(&macs[..]),
                )
            }
        };
        let Some(g) = st.guests.get_mut(&vmid) else {
            return (log, Err(format!("{emsg}configuration file vanished")));
        };
        for (k, v) in &config {
            if is_qemu_drive(k) && !v.contains("media=cdrom") {
                log.push(format!(
                    "  Logical volume \"{}\" created.",
                    v.split(',')
                        .next()
                        .unwrap_or_default()
                        .rsplit([':', '/'])
                        .next()
                        .unwrap_or_default()
                ));
            }
        }
        g.config = config;
        g.snapshots.clear();
        if start {
            g.running = true;
            g.started = Some(Instant::now());
            g.started_epoch = 0;
            log.push("Execute autostart".to_string());
        }
        if let Some(pool) = &pool {
            st.access.add_vm_to_pool(vmid, pool);
        }
        (log, Ok(()))
    });
    let effect = super::guest::wrap_epoch(inner, effect, vmid);
    let ty = if is_restore { "qmrestore" } else { "qmcreate" };
    let upid = tasks::spawn(
        inner,
        &mut st,
        spec(call, &node, ty, vmid, vec![]),
        vec![guard],
        effect,
    );
    Ok(Reply::data(json!(upid)))
}

/// The backed-up config with its disks on new volumes (on `storage`, else where they were)
/// and the given parameters over it (`restore_merge_config`).
fn restored_qemu_config(
    backup: &BackupVolume,
    overrides: &BTreeMap<String, String>,
    storage: Option<&str>,
    vmid: u32,
    new_macs: Option<&[String]>,
) -> BTreeMap<String, String> {
    let mut config: BTreeMap<String, String> = BTreeMap::new();
    let mut n = 0;
    let mut mac = new_macs.unwrap_or_default().iter();
    for (k, v) in &backup.config {
        if matches!(k.as_str(), "lock" | "parent" | "digest") || is_indexed(k, "unused") {
            continue;
        }
        let value = if is_qemu_drive(k) && !v.contains("media=cdrom") {
            let old_store = v
                .split(',')
                .next()
                .and_then(|x| x.split_once(':'))
                .map(|(s, _)| s)
                .unwrap_or("local-lvm");
            let store = storage.unwrap_or(old_store);
            let vol = new_volume(store, vmid, n, GuestKind::Qemu);
            n += 1;
            with_volume(v, &vol)
        } else if is_qemu_drive(k) && v.contains("cloudinit") {
            let store = v.split(':').next().unwrap_or("local-lvm");
            with_volume(v, &format!("{store}:vm-{vmid}-cloudinit"))
        } else if is_indexed(k, "net") {
            match mac.next() {
                Some(m) if new_macs.is_some() => with_mac(GuestKind::Qemu, v, m),
                _ => v.clone(),
            }
        } else {
            v.clone()
        };
        config.insert(k.clone(), value);
    }
    for (k, v) in overrides {
        config.insert(k.clone(), v.clone());
    }
    config
}

/// A new VM's config from the create parameters: disks given as `STORAGE:SIZE` are made.
fn created_qemu_config(
    params: &BTreeMap<String, String>,
    vmid: u32,
    macs: &[String],
) -> BTreeMap<String, String> {
    let mut config = BTreeMap::new();
    let mut n = 0;
    let mut mac = macs.iter();
    for (k, v) in params {
        let value = if is_qemu_drive(k) && !v.contains("media=cdrom") {
            let first = v.split(',').next().unwrap_or_default();
            match first.split_once(':') {
                Some((store, size)) if size.parse::<f64>().is_ok() => {
                    let vol = new_volume(store, vmid, n, GuestKind::Qemu);
                    n += 1;
                    let rest: Vec<&str> = v.split(',').skip(1).collect();
                    let mut out = format!("{vol},size={}", gib(size.parse().unwrap_or(4.0)));
                    for r in rest {
                        out.push(',');
                        out.push_str(r);
                    }
                    out
                }
                _ => v.clone(),
            }
        } else if is_indexed(k, "net") && !v.split(',').next().unwrap_or_default().contains('=') {
            // `add_random_macs`: `virtio` alone gets `virtio=<mac>`.
            let model = v.split(',').next().unwrap_or("virtio");
            let rest: Vec<&str> = v.split(',').skip(1).collect();
            let mut out = format!("{model}={}", mac.next().cloned().unwrap_or_default());
            for r in rest {
                out.push(',');
                out.push_str(r);
            }
            out
        } else {
            v.clone()
        };
        config.insert(k.clone(), value);
    }
    config
        .entry("smbios1".into())
        .or_insert_with(|| format!("uuid=00000000-0000-4000-8000-{vmid:012}"));
    config
        .entry("vmgenid".into())
        .or_insert_with(|| format!("{vmid:08x}-0000-4000-8000-000000000001"));
    config
        .entry("meta".into())
        .or_insert_with(|| "creation-qemu=10.1.2,ctime=0".into());
    if !config.contains_key("boot") {
        let disks: Vec<&String> = config.keys().filter(|k| is_qemu_drive(k)).collect();
        let nets: Vec<&String> = config.keys().filter(|k| is_indexed(k, "net")).collect();
        let order: Vec<String> = disks.into_iter().chain(nets).cloned().collect();
        if !order.is_empty() {
            config.insert("boot".into(), format!("order={}", order.join(";")));
        }
    }
    config
}
