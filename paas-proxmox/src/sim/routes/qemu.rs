//! `POST /nodes/{node}/qemu/{vmid}/clone`.

use std::sync::Arc;

use serde_json::json;

use super::guest::spec;
use super::{check_lock, check_node, find_guest, lock_guest};
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{Guest, STORAGES, noun};
use crate::sim::tasks;
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// Disk keys of a QEMU config.
fn is_disk_key(k: &str) -> bool {
    ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
        .iter()
        .any(|p| {
            k.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// `POST /nodes/{node}/qemu/{vmid}/clone`: takes the source's lock (1 s timeout by default)
/// for the whole `qmclone` task, so parallel clones of one template collide.
pub(crate) async fn clone(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    let newid = call
        .int("newid")
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let target = call.get("target").unwrap_or(&node).to_string();
    {
        let st = inner.state();
        find_guest(&st, &node, GuestKind::Qemu, vmid)?;
        check_node(&st, &target)?;
        if let Some(store) = call.get("storage")
            && !STORAGES.iter().any(|(n, _, _)| *n == store)
        {
            return Err(ApiError::internal(format!(
                "storage '{store}' does not exist"
            )));
        }
    }
    let src_guard = lock_guest(
        inner,
        GuestKind::Qemu,
        vmid,
        inner.cfg.clone_lock_timeout,
        "",
    )
    .await?;
    let new_guard = lock_guest(inner, GuestKind::Qemu, newid, inner.cfg.lock_timeout, "").await?;
    let mut st = inner.state();
    if let Some(other) = st.guests.get(&newid) {
        return Err(ApiError::internal(format!(
            "{} {newid} already exists on node '{}'",
            noun(other.kind),
            other.node
        )));
    }
    let src = find_guest(&st, &node, GuestKind::Qemu, vmid)?.clone();
    let src_config: Vec<(String, String)> = src.config.clone().into_iter().collect();
    super::allocate::check_clone(&st, call, &src_config)?;
    check_lock(&src)?;
    let full = !src.is_template() || call.flag("full");
    let store = call.get("storage").map(str::to_string);
    let mut config = src.config.clone();
    config.remove("template");
    config.insert("lock".into(), "clone".into());
    config.insert(
        "name".into(),
        call.get("name")
            .map(str::to_string)
            .unwrap_or_else(|| format!("Copy-of-VM-{}", src.name())),
    );
    if let Some(d) = call.get("description") {
        config.insert("description".into(), d.into());
    }
    let mut log = Vec::new();
    let mut disk_n = 0;
    for (key, value) in src.config.iter().filter(|(k, _)| is_disk_key(k)) {
        let mut parts = value.split(',');
        let volid = parts.next().unwrap_or_default();
        let opts: Vec<&str> = parts.collect();
        let (vol_store, vol_name) = volid.split_once(':').unwrap_or(("local-lvm", volid));
        let new_vol = if opts.contains(&"media=cdrom") {
            if vol_name.contains("cloudinit") {
                format!("{vol_store}:vm-{newid}-cloudinit")
            } else {
                volid.to_string()
            }
        } else {
            let name = format!("vm-{newid}-disk-{disk_n}");
            disk_n += 1;
            if full {
                log.push(format!("create full clone of drive {key} ({volid})"));
                log.push(format!("  Logical volume \"{name}\" created."));
                format!("{}:{name}", store.as_deref().unwrap_or(vol_store))
            } else {
                log.push(format!("create linked clone of drive {key} ({volid})"));
                log.push(format!("  Logical volume \"{name}\" created."));
                format!("{vol_store}:{vol_name}/{name}")
            }
        };
        let mut v = new_vol;
        for o in opts {
            v.push(',');
            v.push_str(o);
        }
        config.insert(key.clone(), v);
    }
    if full && disk_n > 0 {
        log.push("transferred 8.0 GiB of 8.0 GiB (100.00%)".to_string());
    }
    let nets: Vec<String> = config
        .keys()
        .filter(|k| k.starts_with("net"))
        .cloned()
        .collect();
    for key in nets {
        let mac = st.new_mac();
        if let Some(v) = config.get_mut(&key) {
            let rest: Vec<&str> = v.split(',').skip(1).collect();
            let model = v
                .split(',')
                .next()
                .and_then(|m| m.split_once('='))
                .map(|(m, _)| m.to_string())
                .unwrap_or_else(|| "virtio".into());
            *v = std::iter::once(format!("{model}={mac}"))
                .chain(rest.into_iter().map(str::to_string))
                .collect::<Vec<_>>()
                .join(",");
        }
    }
    config.insert("smbios1".into(), format!("uuid={}", pseudo_uuid(newid, 1)));
    config.insert("vmgenid".into(), pseudo_uuid(newid, 2));
    let dhcp_ip = st.new_dhcp_ip();
    st.guests.insert(
        newid,
        Guest {
            vmid: newid,
            node: target.clone(),
            kind: GuestKind::Qemu,
            config,
            running: false,
            started: None,
            started_epoch: 0,
            dhcp_ip,
            snapshots: std::collections::BTreeMap::new(),
        },
    );
    let pool = call.get("pool").map(str::to_string);
    let effect: tasks::Effect = Box::new(move |st, fail| {
        let Some(g) = st
            .guests
            .get_mut(&newid)
            .filter(|g| g.kind == GuestKind::Qemu)
        else {
            return (
                log,
                Err(format!(
                    "clone failed: configuration file for VM {newid} vanished"
                )),
            );
        };
        if fail {
            st.guests.remove(&newid);
            return (
                log,
                Err(format!(
                    "clone failed: command 'qemu-img convert' failed: exit code 1 (VM {newid})"
                )),
            );
        }
        g.config.remove("lock");
        // QS API2/Qemu.pm:4607 `add_vm_to_pool($newid, $pool) if $pool;` at the task's end.
        if let Some(pool) = &pool {
            st.access.add_vm_to_pool(newid, pool);
        }
        (log, Ok(()))
    });
    let upid = tasks::spawn(
        inner,
        &mut st,
        spec(call, &node, "qmclone", vmid, vec![]),
        vec![src_guard, new_guard],
        effect,
    );
    Ok(Reply::data(json!(upid)))
}

/// A stable UUID-shaped string for a new VM's `smbios1` / `vmgenid`.
fn pseudo_uuid(vmid: u32, salt: u32) -> String {
    let a = vmid.wrapping_mul(2_654_435_761) ^ salt.wrapping_mul(40_503);
    format!(
        "{a:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 16 & 0xffff,
        a & 0xfff,
        (a >> 4) & 0xfff,
        u64::from(a) * 7919
    )
}
