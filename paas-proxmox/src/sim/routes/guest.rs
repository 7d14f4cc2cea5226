//! Operations LXC containers and QEMU VMs share: list, status, power, config, destroy.

use std::sync::Arc;

use serde_json::{Value, json};

use super::cluster::uptime;
use super::{check_lock, check_node, find_guest, find_guest_mut, lock_guest};
use crate::sim::core::Inner;
use crate::sim::ctconfig;
use crate::sim::locks;
use crate::sim::schema::{Lookup, Schema};
use crate::sim::server::Call;
use crate::sim::state::{Guest, State, conf_path, split_tags};
use crate::sim::tasks::{self, TaskLock, TaskPlan, TaskSpec};
use crate::sim::types::GuestKind;
use crate::sim::validate::property_schema;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// Task type of an action on a kind of guest.
pub(crate) fn task_type(kind: GuestKind, action: &str) -> &'static str {
    match (kind, action) {
        (GuestKind::Lxc, "start") => "vzstart",
        (GuestKind::Lxc, "stop") => "vzstop",
        (GuestKind::Lxc, "shutdown") => "vzshutdown",
        (GuestKind::Lxc, "reboot") => "vzreboot",
        (GuestKind::Lxc, "destroy") => "vzdestroy",
        (GuestKind::Lxc, _) => "vzcreate",
        (GuestKind::Qemu, "start") => "qmstart",
        (GuestKind::Qemu, "stop") => "qmstop",
        (GuestKind::Qemu, "shutdown") => "qmshutdown",
        (GuestKind::Qemu, "reboot") => "qmreboot",
        (GuestKind::Qemu, "destroy") => "qmdestroy",
        (GuestKind::Qemu, _) => "qmclone",
    }
}

/// A [`TaskSpec`] for an action on a guest.
pub(crate) fn spec(
    call: &Call,
    node: &str,
    ty: &'static str,
    id: u32,
    log: Vec<String>,
) -> TaskSpec {
    TaskSpec {
        node: node.to_string(),
        ty,
        id: id.to_string(),
        user: call.caller.upid_user(),
        token_id: call.caller.token_id.clone(),
        log,
    }
}

/// `GET /nodes/{node}/lxc` and `/qemu`.
pub(crate) fn list(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let authid = call.caller.authid();
    let st = inner.state();
    check_node(&st, call.node())?;
    // "Only list CTs where you have VM.Audit permission on /vms/<vmid>."
    let perms = st.access.perms(&authid);
    let list: Vec<Value> = st
        .guests
        .values()
        .filter(|g| g.node == call.node() && g.kind == kind)
        .filter(|g| perms.has(&format!("/vms/{}", g.vmid), &["VM.Audit"]))
        .map(|g| {
            let mut v = status_json(inner, g);
            if let Some(o) = v.as_object_mut() {
                o.remove("ha");
            }
            v
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

/// `GET /nodes/{node}/lxc/{vmid}`: the directory index.
pub(crate) fn index(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let st = inner.state();
    find_guest(&st, call.node(), kind, call.vmid())?;
    let subdirs: &[&str] = match kind {
        GuestKind::Lxc => &[
            "config",
            "status",
            "vncproxy",
            "termproxy",
            "vncwebsocket",
            "spiceproxy",
            "migrate",
            "clone",
            "rrd",
            "rrddata",
            "firewall",
            "snapshot",
            "resize",
            "interfaces",
            "pending",
        ],
        GuestKind::Qemu => &[
            "config",
            "pending",
            "status",
            "unlink",
            "vncproxy",
            "termproxy",
            "migrate",
            "resize",
            "move",
            "rrd",
            "rrddata",
            "monitor",
            "agent",
            "snapshot",
            "spiceproxy",
            "sendkey",
            "firewall",
            "mtunnel",
            "remote_migrate",
        ],
    };
    Ok(Reply::data(Value::Array(
        subdirs.iter().map(|s| json!({"subdir": s})).collect(),
    )))
}

fn status_json(inner: &Inner, g: &Guest) -> Value {
    let maxmem = g.memory_bytes();
    let mut v = json!({
        "vmid": g.vmid,
        "name": g.name(),
        "status": if g.running { "running" } else { "stopped" },
        "uptime": uptime(inner, g),
        "cpu": if g.running { 0.01 } else { 0.0 },
        "cpus": g.cores(),
        "mem": g.mem_used(),
        "maxmem": maxmem,
        "disk": if g.running { g.disk_bytes() / 8 } else { 0 },
        "maxdisk": g.disk_bytes(),
        "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
        "ha": {"managed": 0},
    });
    match g.kind {
        GuestKind::Lxc => {
            v["type"] = json!("lxc");
            let swap = g
                .config
                .get("swap")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(512);
            v["maxswap"] = json!(swap.saturating_mul(1024 * 1024));
            v["swap"] = json!(0);
        }
        GuestKind::Qemu => {
            v["qmpstatus"] = json!(if g.running { "running" } else { "stopped" });
            if g.config
                .get("agent")
                .is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"))
            {
                v["agent"] = json!(1);
            }
            if g.running {
                v["running-qemu"] = json!("10.1.2");
                v["running-machine"] = json!("pc-i440fx-10.1+pve0");
            }
        }
    }
    if g.running {
        v["pid"] = json!(10_000 + g.vmid % 50_000);
    }
    if g.is_template() {
        v["template"] = json!(1);
    }
    if let Some(tags) = g.config.get("tags") {
        v["tags"] = json!(tags);
    }
    if let Some(lock) = g.lock() {
        v["lock"] = json!(lock);
    }
    v
}

/// `GET .../status/current`.
pub(crate) fn status(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let st = inner.state();
    let g = find_guest(&st, call.node(), kind, call.vmid())?;
    Ok(Reply::data(status_json(inner, g)))
}

/// `GET .../config`.
pub(crate) fn config(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let st = inner.state();
    let g = find_guest(&st, call.node(), kind, call.vmid())?;
    let mut map = serde_json::Map::new();
    for (k, v) in &g.config {
        let value = match v.parse::<i64>() {
            Ok(n) if is_numeric_key(k) => json!(n),
            _ => json!(v),
        };
        map.insert(k.clone(), value);
    }
    map.insert("digest".into(), json!(g.digest()));
    Ok(Reply::data(Value::Object(map)))
}

/// Config keys PVE returns as JSON numbers.
pub(crate) fn is_numeric_key(k: &str) -> bool {
    matches!(
        k,
        "memory"
            | "swap"
            | "cores"
            | "sockets"
            | "template"
            | "onboot"
            | "unprivileged"
            | "cpuunits"
            | "balloon"
            | "protection"
            | "tty"
            | "vcpus"
            | "numa"
    )
}

/// Parameters of a config update that are not config keys.
const NOT_CONFIG: [&str; 8] = [
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "force",
    "background_delay",
];

/// `PUT .../config`: set options, `delete` others, optionally only if `digest` matches.
pub(crate) async fn update_config(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let vmid = call.vmid();
    check_update_options(call, kind)?;
    {
        let st = inner.state();
        let g = find_guest(&st, call.node(), kind, vmid)?;
        super::allocate::check_config_update(&st, call, g, &NOT_CONFIG)?;
        if !call.flag("skiplock") {
            check_lock(g)?;
        }
    }
    let _guard = lock_guest(inner, kind, vmid, inner.cfg.lock_timeout, "").await?;
    let mut st = inner.state();
    let mac = st.new_mac();
    if kind == GuestKind::Lxc {
        ctconfig::check_ct_update(call)?;
    }
    let before = find_guest(&st, call.node(), kind, vmid)?.config.clone();
    let g = find_guest_mut(&mut st, call.node(), kind, vmid)?;
    if !call.flag("skiplock") {
        check_lock(g)?;
    }
    if let Some(digest) = call.get("digest")
        && !digest.is_empty()
        && digest != g.digest()
    {
        return Err(ApiError::internal(
            "detected modified configuration - file changed by other user? Try again.",
        ));
    }
    let deletes: Vec<String> = call
        .get("delete")
        .map(|d| {
            d.split([',', ';', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for key in &deletes {
        if call.params.contains_key(key) {
            return Err(ApiError::param(
                "delete",
                format!("you can't use '-{key}' and -delete {key}' at the same time"),
            ));
        }
    }
    for key in &deletes {
        g.config.remove(key);
    }
    for (key, value) in &call.params {
        if NOT_CONFIG.contains(&key.as_str()) {
            continue;
        }
        let value = match key.as_str() {
            "tags" => split_tags(value).join(";"),
            k if k.starts_with("net") && kind == GuestKind::Lxc && !value.contains("hwaddr=") => {
                format!("{value},hwaddr={mac},type=veth")
            }
            _ => value.clone(),
        };
        if value.is_empty() && key == "tags" {
            g.config.remove(key);
        } else {
            g.config.insert(key.clone(), value);
        }
    }
    if kind == GuestKind::Lxc {
        ctconfig::apply_ct_update(&mut st, call.node(), vmid, &before, call, &deletes);
    }
    Ok(Reply::data(Value::Null))
}

/// The request-time checks of a config update before any lock: nothing to do is an error
/// (CT API2/LXC/Config.pm:161 `die "no options specified\n" if !scalar(keys %$param);`, QS
/// API2/Qemu.pm:2061), and so is a `delete` of an option the schema does not know (CT
/// :196-197 / QS :2094-2095 `raise_param_exc({ delete => "unknown option '$opt'" })`); a
/// known option that is not set is deleted silently.
fn check_update_options(call: &Call, kind: GuestKind) -> Result<(), ApiError> {
    let extracted: &[&str] = match kind {
        GuestKind::Lxc => &["node", "vmid", "digest"],
        GuestKind::Qemu => &[
            "node",
            "vmid",
            "digest",
            "background_delay",
            "skip_cloud_init",
            "import-working-storage",
            "skiplock",
            "delete",
            "revert",
            "force",
        ],
    };
    let has_delete = call.get("delete").is_some_and(|d| !d.trim().is_empty());
    let rest = call.params.keys().any(|k| !extracted.contains(&k.as_str()));
    let nothing = match kind {
        GuestKind::Lxc => !rest,
        GuestKind::Qemu => !rest && !has_delete && call.get("revert").is_none(),
    };
    if nothing {
        return Err(ApiError::internal("no options specified"));
    }
    let segments: Vec<String> = ["nodes", call.node(), kind.as_str(), "0", "config"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let props = match Schema::get().lookup("PUT", &segments) {
        Lookup::Found(op, _) => &op.properties,
        Lookup::NotImplemented => return Ok(()),
    };
    for opt in call
        .get("delete")
        .unwrap_or_default()
        .split([',', ';', ' ', '\t', '\n', '\0'])
        .filter(|s| !s.is_empty())
    {
        let known = !NOT_CONFIG.contains(&opt) && property_schema(props, opt).is_some();
        if !known {
            return Err(ApiError::param("delete", format!("unknown option '{opt}'")));
        }
    }
    Ok(())
}

/// Sets `started_epoch` of a guest that an effect just started (the effect has no clock).
pub(crate) fn wrap_epoch(inner: &Arc<Inner>, effect: tasks::Effect, vmid: u32) -> tasks::Effect {
    let inner = inner.clone();
    Box::new(move |st, fail| {
        let out = effect(st, fail);
        if let Some(g) = st.guests.get_mut(&vmid)
            && g.running
            && g.started_epoch == 0
        {
            g.started_epoch = inner.clock.now();
        }
        out
    })
}

/// `DELETE /nodes/{node}/{lxc,qemu}/{vmid}`: returns a UPID.
///
/// At request time PVE reads the config (`Configuration file ... does not exist`), checks a
/// running guest (CT API2/LXC.pm:875-876, QS API2/Qemu.pm:2782) and, for a CT only, its lock
/// (CT :856 `check_lock`). The worker takes the config lock (CT :919, QS :2793) and repeats the
/// checks; a VM's lock (QS QemuServer.pm:1808) and the base volume of a template that linked
/// clones use (:1823) are checked only there.
pub(crate) async fn destroy(inner: &Arc<Inner>, call: &Call, kind: GuestKind) -> ApiResult {
    let vmid = call.vmid();
    let node = call.node().to_string();
    let skiplock = kind == GuestKind::Qemu && call.flag("skiplock");
    let force = kind == GuestKind::Lxc && call.flag("force");
    let mut st = inner.state();
    let g = find_guest(&st, &node, kind, vmid)?;
    if kind == GuestKind::Lxc {
        check_lock(g)?;
    }
    if g.running && !force {
        return Err(ApiError::internal(running_destroy_text(kind, vmid)));
    }
    let mut plan = TaskPlan::default();
    plan.locks.push(TaskLock {
        path: locks::lock_path(kind, vmid),
        timeout: inner.cfg.lock_timeout,
        prefix: String::new(),
        faultable: true,
        shared: false,
    });
    let check_node_name = node.clone();
    plan.check = Some(Box::new(move |st: &mut State| {
        let node = check_node_name;
        let Some(g) = st
            .guests
            .get(&vmid)
            .filter(|g| g.node == node && g.kind == kind)
        else {
            return Err(format!(
                "Configuration file '{}' does not exist",
                conf_path(&node, kind, vmid)
            ));
        };
        if g.running && !force {
            return Err(running_destroy_text(kind, vmid));
        }
        if let Some(lock) = g.lock().filter(|_| !skiplock) {
            return Err(format!("{} is locked ({lock})", g.noun()));
        }
        if g.is_template()
            && let Some(base) = base_volume_in_use(st, g)
        {
            return Err(format!(
                "base volume '{base}' is still in use by linked cloned"
            ));
        }
        let mut lines = Vec::new();
        if force && g.running {
            lines.push(format!("forced to stop CT {vmid} before destroying!"));
        }
        if let Some(g) = st.guests.get_mut(&vmid) {
            g.config.insert("lock".into(), "destroyed".into());
        }
        Ok(lines)
    }));
    let effect_node = node.clone();
    let effect: tasks::Effect = Box::new(move |st, fail| {
        let Some(g) = st
            .guests
            .get_mut(&vmid)
            .filter(|g| g.node == effect_node && g.kind == kind)
        else {
            return (vec![], Ok(()));
        };
        if fail {
            if g.lock() == Some("destroyed") {
                g.config.remove("lock");
            }
            return (
                vec![],
                Err(format!(
                    "error with cfs lock 'storage-local-lvm': unable to remove vm-{vmid}-disk-0"
                )),
            );
        }
        let disks = owned_disks(g);
        st.guests.remove(&vmid);
        // `remove_vm_access`: its ACLs and pool membership go with it.
        st.access.remove_vm_access(vmid);
        let log = disks
            .iter()
            .map(|d| format!("  Logical volume \"{d}\" successfully removed."))
            .collect();
        (log, Ok(()))
    });
    let upid = tasks::spawn_task(
        inner,
        &mut st,
        spec(call, &node, task_type(kind, "destroy"), vmid, vec![]),
        plan,
        effect,
    );
    Ok(Reply::data(json!(upid)))
}

fn running_destroy_text(kind: GuestKind, vmid: u32) -> String {
    match kind {
        GuestKind::Lxc => format!("unable to destroy CT {vmid} - container is running"),
        GuestKind::Qemu => format!("VM {vmid} is running - destroy failed"),
    }
}

/// The disk volumes a destroy removes (cloud-init and CD-ROM drives excluded).
fn owned_disks(g: &Guest) -> Vec<String> {
    g.config
        .iter()
        .filter(|(k, v)| {
            (k.as_str() == "rootfs" || k.starts_with("scsi") || k.starts_with("virtio"))
                && !v.contains("media=cdrom")
        })
        .filter_map(|(_, v)| {
            v.split(',')
                .next()
                .and_then(|vol| vol.rsplit([':', '/']).next())
                .map(str::to_string)
        })
        .collect()
}

/// A base volume of template `g` that another guest's disk is a linked clone of (its volume
/// id is `<base volid>/<own name>`): ST `volume_is_base_and_used`.
fn base_volume_in_use(st: &State, g: &Guest) -> Option<String> {
    let bases: Vec<&str> = g
        .config
        .values()
        .filter_map(|v| v.split(',').next())
        .filter(|vol| vol.contains(":base-"))
        .collect();
    bases
        .into_iter()
        .find(|base| {
            let prefix = format!("{base}/");
            st.guests
                .values()
                .filter(|o| o.vmid != g.vmid)
                .any(|o| o.config.values().any(|v| v.starts_with(&prefix)))
        })
        .map(str::to_string)
}
