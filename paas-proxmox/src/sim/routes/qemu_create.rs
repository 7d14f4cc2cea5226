//! `POST /nodes/{node}/qemu`: a `qmrestore` of a backup with `archive=`, or a `qmcreate`
//! from the parameters (QS API2/Qemu.pm create_vm, pinned 4dbb6e4437fc). An existing VM is
//! replaced only with `force=1`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::guest::spec;
use super::restore::{
    gib, is_indexed, is_qemu_drive, new_volume, storage_has, with_mac, with_volume,
};
use super::{check_node, lock_guest};
use crate::sim::backups::BackupVolume;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{Guest, noun};
use crate::sim::tasks;
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

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
