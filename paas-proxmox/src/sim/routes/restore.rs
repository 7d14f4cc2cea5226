//! Restores into containers: `POST /nodes/{node}/lxc` with `restore=1` (task `vzrestore`, CT
//! API2/LXC.pm create_vm, pinned 963730e937c5), and the volume helpers the QEMU restore in
//! [`super::qemu_create`] shares. An existing guest is replaced only with `force=1`.

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

pub(crate) fn is_indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn is_qemu_drive(key: &str) -> bool {
    ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
        .iter()
        .any(|p| is_indexed(key, p))
}

pub(crate) fn storage_has(sid: &str, content: &str) -> Option<bool> {
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

pub(crate) fn gib(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}G", v as u64)
    } else {
        format!("{v}G")
    }
}

/// A new volume name on `store` (`local` is a directory storage: raw files in a folder).
pub(crate) fn new_volume(store: &str, vmid: u32, n: usize, kind: GuestKind) -> String {
    match (store, kind) {
        ("local", GuestKind::Lxc) => format!("local:{vmid}/vm-{vmid}-disk-{n}.raw"),
        ("local", GuestKind::Qemu) => format!("local:{vmid}/vm-{vmid}-disk-{n}.raw"),
        _ => format!("{store}:vm-{vmid}-disk-{n}"),
    }
}

/// Replaces the volume of a `rootfs` / `mpN` / drive value, keeping its other options.
pub(crate) fn with_volume(value: &str, volid: &str) -> String {
    let mut parts = value.split(',');
    let _old = parts.next();
    std::iter::once(volid.to_string())
        .chain(parts.map(str::to_string))
        .collect::<Vec<_>>()
        .join(",")
}

/// Replaces the MAC address in a network property string.
pub(crate) fn with_mac(kind: GuestKind, value: &str, mac: &str) -> String {
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
