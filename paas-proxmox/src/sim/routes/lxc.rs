//! `POST /nodes/{node}/lxc`: create a container from a template.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::guest::spec;
use super::power::{PowerTask, spawn_power};
use super::{check_node, lock_guest};
use crate::sim::core::Inner;
use crate::sim::ctconfig;
use crate::sim::locks;
use crate::sim::server::Call;
use crate::sim::state::{Guest, STORAGES, State, noun, split_tags};
use crate::sim::tasks::{self, INTERRUPTED, TaskLock, TaskPlan};
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// Parameters copied into the config as they are.
const COPIED: [&str; 15] = [
    "memory",
    "swap",
    "cores",
    "cpulimit",
    "cpuunits",
    "unprivileged",
    "features",
    "onboot",
    "description",
    "nameserver",
    "searchdomain",
    "arch",
    "timezone",
    "startup",
    "entrypoint",
];

/// `POST /nodes/{node}/lxc`: returns the UPID of a `vzcreate` task; the config carries
/// `lock: create` until it ends.
///
/// As CT API2/LXC.pm does it: `check_vmid_unused` first, with no lock and no prefix (:277,
/// so a retried create answers at once); then `create_and_lock_config` under the config
/// flock taken for 5 s (GC AbstractConfig.pm:257-259), which checks again and writes the
/// config with `lock: create` (its errors carry `unable to create CT 100 - `, :415-416); the
/// worker then holds the flock (10 s to get it) while it builds the container (:629-630). A
/// missing template is the worker's error (ST Storage.pm:784 via LXC/Create.pm:54). With
/// `start=1` the worker forks a separate `vzstart` task once the container exists (:640).
pub(crate) async fn create(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    // The early checks, before any lock: the VMID, then the storages (CT API2/LXC.pm:277,
    // :343-380).
    let disks = {
        let st = inner.state();
        check_node(&st, &node)?;
        check_vmid_unused(&st, vmid, "")?;
        // Pool, VM.Allocate, config keys, template and storages: before any lock, as
        // CT API2/LXC.pm:286-360 checks them.
        super::allocate::check_lxc_create(&st, call, vmid, false)?;
        ctconfig::plan_ct_create(call)?
    };
    let prefix = format!("unable to create CT {vmid} - ");
    let guard = lock_guest(
        inner,
        GuestKind::Lxc,
        vmid,
        inner.cfg.create_lock_timeout,
        &prefix,
    )
    .await?;
    let mut st = inner.state();
    check_vmid_unused(&st, vmid, &prefix)?;
    // The template: its absence is the worker's error.
    let ostemplate = call.get("ostemplate").unwrap_or_default().to_string();
    let (tmpl_store, _) = ostemplate.split_once(':').unwrap_or(("", ""));
    if !STORAGES.iter().any(|(n, _, _)| *n == tmpl_store) {
        return Err(if tmpl_store.is_empty() {
            ApiError::internal(format!("can't find file '{ostemplate}'"))
        } else {
            ApiError::internal(format!("storage '{tmpl_store}' does not exist"))
        });
    }
    let template = st.templates.iter().find(|t| t.volid == ostemplate).cloned();

    let mut config: BTreeMap<String, String> = BTreeMap::new();
    let os = [
        "debian",
        "ubuntu",
        "alpine",
        "centos",
        "fedora",
        "archlinux",
    ]
    .into_iter()
    .find(|os| ostemplate.contains(os))
    .unwrap_or("unmanaged");
    config.insert("arch".into(), "amd64".into());
    config.insert("ostype".into(), os.into());
    config.insert(
        "hostname".into(),
        call.get("hostname")
            .map(str::to_string)
            .unwrap_or_else(|| format!("CT{vmid}")),
    );
    config.insert("memory".into(), "512".into());
    config.insert("swap".into(), "512".into());
    config.insert("lock".into(), "create".into());
    ctconfig::create_ct_disks(&mut st, &node, vmid, disks, &mut config);
    if let Some(env) = call.get("env") {
        config.insert("env".into(), ctconfig::stored_env(env));
    }
    // CT API2/LXC.pm:270 `$unprivileged = 1 if !defined($unprivileged);` and :411
    // `$conf->{unprivileged} = 1 if $unprivileged;`.
    if call.get("unprivileged") != Some("0") {
        config.insert("unprivileged".into(), "1".into());
    }
    for key in COPIED.into_iter().filter(|k| *k != "unprivileged") {
        if let Some(v) = call.get(key) {
            config.insert(key.into(), v.into());
        }
    }
    if let Some(tags) = call.get("tags") {
        let tags = split_tags(tags).join(";");
        if !tags.is_empty() {
            config.insert("tags".into(), tags);
        }
    }
    for (key, value) in &call.params {
        let is_net = key
            .strip_prefix("net")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_net {
            let mut v = value.clone();
            if !v.contains("hwaddr=") {
                v.push_str(&format!(",hwaddr={}", st.new_mac()));
            }
            if !v.contains("type=") {
                v.push_str(",type=veth");
            }
            config.insert(key.clone(), v);
        }
    }
    let dhcp_ip = st.new_dhcp_ip();
    st.guests.insert(
        vmid,
        Guest {
            vmid,
            node: node.clone(),
            kind: GuestKind::Lxc,
            config,
            running: false,
            started: None,
            started_epoch: 0,
            dhcp_ip,
            snapshots: BTreeMap::new(),
        },
    );
    drop(guard);
    let start = call.flag("start");
    let first_log = match &template {
        Some(t) => vec![format!(
            "extracting archive '/var/lib/vz/template/cache/{}'",
            t.volid.rsplit('/').next().unwrap_or_default()
        )],
        None => vec![],
    };
    let effect_node = node.clone();
    let pool = call.get("pool").map(str::to_string);
    let effect: tasks::Effect = Box::new(move |st, fail| {
        let Some(g) = st
            .guests
            .get_mut(&vmid)
            .filter(|g| g.node == effect_node && g.kind == GuestKind::Lxc)
        else {
            return (
                vec![],
                Err(format!(
                    "unable to create CT {vmid} - configuration file vanished"
                )),
            );
        };
        let Some(template) = template else {
            st.guests.remove(&vmid);
            return (
                vec![],
                Err(format!(
                    "unable to create CT {vmid} - can't find file '{ostemplate}'"
                )),
            );
        };
        if fail {
            st.guests.remove(&vmid);
            return (
                vec![],
                Err(format!(
                    "unable to create CT {vmid} - command 'tar xpf - --zstd --totals --one-file-system -C /var/lib/lxc/{vmid}/rootfs' failed: exit code 2"
                )),
            );
        }
        g.config.remove("lock");
        let log = vec![
            format!(
                "Total bytes read: {} ({}MiB, 312MiB/s)",
                template.size * 4,
                template.size * 4 / (1 << 20)
            ),
            format!("Detected OS distribution as '{os}'"),
            "Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ..."
                .to_string(),
        ];
        // Pool membership comes last, once the container exists (CT API2/LXC.pm:627).
        if let Some(pool) = &pool {
            st.access.add_vm_to_pool(vmid, pool);
        }
        (log, Ok(()))
    });
    let mut plan = TaskPlan {
        interrupted: format!("unable to create CT {vmid} - {INTERRUPTED}"),
        ..TaskPlan::default()
    };
    plan.locks.push(TaskLock {
        path: locks::lock_path(GuestKind::Lxc, vmid),
        timeout: inner.cfg.lock_timeout,
        prefix: format!("unable to create CT {vmid} - "),
        faultable: false,
        shared: false,
    });
    if start {
        let power = PowerTask {
            kind: GuestKind::Lxc,
            action: "start".into(),
            node: node.clone(),
            vmid,
            skiplock: false,
            user: call.caller.upid_user(),
            token_id: call.caller.token_id.clone(),
        };
        plan.after = Some(Box::new(move |inner, st| {
            spawn_power(inner, st, power);
        }));
    }
    let upid = tasks::spawn_task(
        inner,
        &mut st,
        spec(call, &node, "vzcreate", vmid, first_log),
        plan,
        effect,
    );
    Ok(Reply::data(json!(upid)))
}

/// PVE's `check_vmid_unused` (CL Cluster.pm:781 `die "$vmtypestr $vmid already exists on node
/// '$d->{node}'\n";`), anywhere in the cluster.
fn check_vmid_unused(st: &State, vmid: u32, prefix: &str) -> Result<(), ApiError> {
    match st.guests.get(&vmid) {
        Some(other) => Err(ApiError::internal(format!(
            "{prefix}{} {vmid} already exists on node '{}'",
            noun(other.kind),
            other.node
        ))),
        None => Ok(()),
    }
}
