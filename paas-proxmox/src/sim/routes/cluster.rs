//! `/version`, `/nodes`, `/nodes/{node}/status`, `/cluster/resources`, `/cluster/nextid`,
//! `/nodes/{node}/storage/{storage}/content`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::check_node;
use crate::sim::access::Perms;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{Guest, STORAGES, State, parse_size};
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// `GET /version`.
pub(crate) fn version() -> ApiResult {
    Ok(Reply::data(
        json!({"version": "9.1.3", "release": "9.1", "repoid": "5bc8e6a0d2f1c7b4"}),
    ))
}

fn node_json(inner: &Inner, st: &State, name: &str) -> Value {
    let Some(n) = st.node(name) else {
        return Value::Null;
    };
    let used = st.node_mem_used(name);
    json!({
        "id": format!("node/{name}"),
        "type": "node",
        "node": name,
        "status": if n.online { "online" } else { "offline" },
        "cpu": cpu_load(st, name, n.maxcpu),
        "maxcpu": n.maxcpu,
        "mem": used,
        "maxmem": n.maxmem,
        "disk": st.node_disk_used(name),
        "maxdisk": n.maxdisk,
        "uptime": inner.clock.uptime_secs() + 86_400,
        "level": "",
        "ssl_fingerprint": inner.fingerprint(),
    })
}

fn cpu_load(st: &State, node: &str, maxcpu: u32) -> f64 {
    let running = st
        .guests
        .values()
        .filter(|g| g.node == node && g.running)
        .count() as f64;
    ((0.01 + running * 0.02) / f64::from(maxcpu.max(1))).min(1.0)
}

/// Without `Sys.Audit` on the node PVE leaves out its statistics (PM API2Tools.pm:61
/// `extract_node_stats(..., $exclude_stats)`).
fn hide_node_stats(perms: &Perms<'_>, node: &str, v: &mut Value) {
    if perms.has(&format!("/nodes/{node}"), &["Sys.Audit"]) {
        return;
    }
    if let Some(o) = v.as_object_mut() {
        for k in [
            "uptime", "cpu", "mem", "disk", "maxcpu", "maxmem", "maxdisk",
        ] {
            o.remove(k);
        }
    }
}

/// `GET /nodes`.
pub(crate) fn nodes(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let authid = call.caller.authid();
    let st = inner.state();
    let perms = st.access.perms(&authid);
    let list: Vec<Value> = st
        .nodes
        .iter()
        .map(|n| {
            let mut v = node_json(inner, &st, &n.name);
            hide_node_stats(&perms, &n.name, &mut v);
            v
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

/// `GET /nodes/{node}/status`.
pub(crate) fn node_status(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    check_node(&st, call.node())?;
    let Some(n) = st.node(call.node()) else {
        return Err(ApiError::internal("no such node"));
    };
    let used = st.node_mem_used(&n.name);
    let disk = st.node_disk_used(&n.name);
    Ok(Reply::data(json!({
        "cpu": cpu_load(&st, &n.name, n.maxcpu),
        "wait": 0.0,
        "uptime": inner.clock.uptime_secs() + 86_400,
        "loadavg": ["0.12", "0.08", "0.05"],
        "kversion": "Linux 6.17.2-1-pve #1 SMP PREEMPT_DYNAMIC PMX 6.17.2-1",
        "pveversion": "pve-manager/9.1.3/5bc8e6a0d2f1c7b4",
        "cpuinfo": {
            "cpus": n.maxcpu, "cores": n.maxcpu, "sockets": 1, "mhz": "2999.998",
            "model": "QEMU Virtual CPU version 2.5+", "hvm": "1", "flags": "",
            "user_hz": 100,
        },
        "memory": {"total": n.maxmem, "used": used, "free": n.maxmem.saturating_sub(used), "available": n.maxmem.saturating_sub(used)},
        "swap": {"total": 8u64 << 30, "used": 0, "free": 8u64 << 30},
        "rootfs": {"total": n.maxdisk, "used": disk, "free": n.maxdisk.saturating_sub(disk), "avail": n.maxdisk.saturating_sub(disk)},
        "ksm": {"shared": 0},
        "boot-info": {"mode": "efi", "secureboot": 0},
        "current-kernel": {"sysname": "Linux", "release": "6.17.2-1-pve", "machine": "x86_64", "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.17.2-1"},
    })))
}

/// One guest as `/cluster/resources` shows it.
pub(crate) fn guest_resource(inner: &Inner, g: &Guest) -> Value {
    let maxmem = g.memory_bytes();
    let mut v = json!({
        "id": format!("{}/{}", g.kind.as_str(), g.vmid),
        "type": g.kind.as_str(),
        "vmid": g.vmid,
        "node": g.node,
        "name": g.name(),
        "status": if g.running { "running" } else { "stopped" },
        "template": u8::from(g.is_template()),
        "cpu": if g.running { 0.01 } else { 0.0 },
        "maxcpu": g.cores(),
        "mem": g.mem_used(),
        "maxmem": maxmem,
        "disk": if g.running { g.disk_bytes() / 8 } else { 0 },
        "maxdisk": g.disk_bytes(),
        "uptime": uptime(inner, g),
        "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
    });
    if let Some(tags) = g.config.get("tags") {
        v["tags"] = json!(tags);
    }
    if let Some(lock) = g.lock() {
        v["lock"] = json!(lock);
    }
    v
}

/// Seconds since the guest started (0 when stopped).
pub(crate) fn uptime(inner: &Inner, g: &Guest) -> i64 {
    if g.running {
        (inner.clock.now() - g.started_epoch).max(0)
    } else {
        0
    }
}

/// `GET /cluster/resources`.
pub(crate) fn resources(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let authid = call.caller.authid();
    let st = inner.state();
    let perms = st.access.perms(&authid);
    let ty = call.get("type");
    let mut out = Vec::new();
    if ty.is_none() || ty == Some("node") {
        out.extend(st.nodes.iter().map(|n| {
            let mut v = node_json(inner, &st, &n.name);
            if let Some(o) = v.as_object_mut() {
                o.remove("ssl_fingerprint");
                o.insert("cgroup-mode".into(), json!(2));
            }
            hide_node_stats(&perms, &n.name, &mut v);
            v
        }));
    }
    // Pools and guests, filtered by the caller's rights; `pool` from user.cfg membership.
    out.extend(super::pools::resource_entries(
        inner,
        &st,
        &perms,
        ty.is_none(),
        ty.is_none() || ty == Some("vm"),
    ));
    if ty.is_none() || ty == Some("storage") {
        for n in &st.nodes {
            for (name, plugin, content) in STORAGES {
                if !perms.has(&format!("/storage/{name}"), &["Datastore.Audit"]) {
                    continue;
                }
                out.push(json!({
                    "id": format!("storage/{}/{name}", n.name),
                    "type": "storage",
                    "node": n.name,
                    "storage": name,
                    "status": "available",
                    "plugintype": plugin,
                    "content": content,
                    "shared": 0,
                    "disk": st.storage_used(&n.name, name),
                    "maxdisk": crate::sim::volumes::total_bytes(n.maxdisk, name),
                }));
            }
        }
    }
    Ok(Reply::data(Value::Array(out)))
}

/// `GET /cluster/nextid`: the lowest free VMID (as a JSON string); reserves nothing.
pub(crate) fn nextid(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    if let Some(vmid) = call.int("vmid") {
        let id = u32::try_from(vmid).unwrap_or(0);
        if st.guests.contains_key(&id) {
            return Err(ApiError::param("vmid", format!("VM {id} already exists")));
        }
        return Ok(Reply::data(json!(id.to_string())));
    }
    // PM API2/Cluster.pm:1012-1018: `my $upper = $next_id->{upper} // (1000 * 1000); # note,
    // lower than the schema-maximum`, `$i < $upper`, then `die "unable to get any free VMID
    // in range [$lower, $upper]\n";`.
    match (100..1_000_000).find(|id| !st.guests.contains_key(id)) {
        Some(id) => Ok(Reply::data(json!(id.to_string()))),
        None => Err(ApiError::internal(
            "unable to get any free VMID in range [100, 1000000]",
        )),
    }
}

/// `GET /nodes/{node}/storage/{storage}/content`.
pub(crate) fn storage_content(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let authid = call.caller.authid();
    let st = inner.state();
    check_node(&st, call.node())?;
    let storage = call.get("storage").unwrap_or_default();
    let Some((_, _, allowed)) = STORAGES.iter().find(|(n, _, _)| *n == storage) else {
        return Err(ApiError::internal(format!(
            "storage '{storage}' does not exist"
        )));
    };
    let filter: Vec<&str> = call
        .get("content")
        .map(|c| c.split(',').collect())
        .unwrap_or_default();
    let vmid_filter = call.int("vmid");
    let mut out = Vec::new();
    if storage == "local" {
        for t in &st.templates {
            out.push(json!({"volid": t.volid, "content": t.content, "format": t.format, "size": t.size, "ctime": t.ctime}));
        }
    }
    for g in st.guests.values().filter(|g| g.node == call.node()) {
        for (key, value) in &g.config {
            let is_disk = key == "rootfs"
                || key.starts_with("mp")
                || ["scsi", "virtio", "sata", "ide"]
                    .iter()
                    .any(|p| key.starts_with(p));
            if !is_disk || value.contains("media=cdrom") {
                continue;
            }
            let volid = value.split(',').next().unwrap_or_default();
            if volid.split(':').next() != Some(storage) {
                continue;
            }
            let size = value
                .split(',')
                .find_map(|p| p.strip_prefix("size="))
                .and_then(parse_size)
                .unwrap_or(0);
            let content = if g.kind == crate::sim::types::GuestKind::Lxc {
                "rootdir"
            } else {
                "images"
            };
            out.push(json!({"volid": volid, "content": content, "format": "raw", "size": size, "vmid": g.vmid}));
        }
    }
    out.extend(super::backup_volumes::content_entries(
        &st,
        call.node(),
        storage,
    ));
    // Each item passes `check_volume_access` for the caller, or is left out.
    let perms = st.access.perms(&authid);
    out.retain(|v| {
        let content = v["content"].as_str().unwrap_or_default();
        super::backup_volumes::volume_visible(&perms, storage, v)
            && (filter.is_empty() || filter.contains(&content))
            && allowed.split(',').any(|a| a == content)
            && vmid_filter.is_none_or(|id| v["vmid"].as_i64() == Some(id))
    });
    Ok(Reply::data(Value::Array(out)))
}
