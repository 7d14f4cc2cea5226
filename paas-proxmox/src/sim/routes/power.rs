//! `POST .../status/{start,stop,shutdown,reboot}` of containers and VMs, and the power tasks
//! other handlers fork (the `vzstart` of a create with `start=1`).

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::check_node;
use super::guest::{task_type, wrap_epoch};
use crate::sim::core::Inner;
use crate::sim::locks;
use crate::sim::server::Call;
use crate::sim::state::{Guest, State, conf_path};
use crate::sim::tasks::{self, TaskLock, TaskPlan, TaskSpec};
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// `POST .../status/{start,stop,shutdown,reboot}`: returns a UPID.
///
/// Only the checks PVE makes before forking run here; the rest is the task's (so a locked or
/// missing config, or a lock timeout, is the task's exit status):
/// - LXC start: `CT 100 already running` (CT API2/LXC/Status.pm:162); in the task the config
///   lock, the config (`Configuration file ... does not exist`), the template (:191) and
///   `check_lock` (:195);
/// - LXC stop and shutdown: `CT 100 not running` before the config is read (:264, :363, so an
///   absent CT gives it too); in the task the lock, the config and `check_lock`;
/// - LXC reboot: `VM 100 not running` (:542, it says VM); the task takes no lock;
/// - QEMU start: nothing; in the task (QS QemuServer.pm:5446-5474) the lock, the config, the
///   template, `check_lock`, then `VM 100 already running`;
/// - QEMU stop and shutdown: nothing; in the task (QS QemuServer.pm:6168-6176) a VM that does
///   not run ends `TASK OK` before its config is even loaded, an absent one fails with
///   `unable to find configuration file for VM 999 on node 'pve1'` (QS QemuConfig.pm:45);
/// - QEMU reboot: `VM 100 not running` at request time (QS API2/Qemu.pm:3921).
pub(crate) async fn power(
    inner: &Arc<Inner>,
    call: &Call,
    kind: GuestKind,
    action: &str,
) -> ApiResult {
    let vmid = call.vmid();
    let node = call.node().to_string();
    let mut st = inner.state();
    check_node(&st, &node)?;
    let here = st
        .guests
        .get(&vmid)
        .filter(|g| g.node == node && g.kind == kind);
    let running = here.is_some_and(|g| g.running);
    match (kind, action) {
        (GuestKind::Lxc, "start") if running => {
            return Err(ApiError::internal(format!("CT {vmid} already running")));
        }
        (GuestKind::Lxc, "stop" | "shutdown") if !running => {
            return Err(ApiError::internal(format!("CT {vmid} not running")));
        }
        (GuestKind::Lxc, "reboot") if !running => {
            return Err(ApiError::internal(format!("VM {vmid} not running")));
        }
        (GuestKind::Qemu, "reboot") => {
            if here.is_none() {
                return Err(ApiError::internal(no_qemu_config(vmid, &node)));
            }
            if !running {
                return Err(ApiError::internal(format!("VM {vmid} not running")));
            }
        }
        _ => {}
    }
    let upid = spawn_power(inner, &mut st, PowerTask::from_call(call, kind, action));
    Ok(Reply::data(json!(upid)))
}

/// QS QemuConfig.pm:45 `die "unable to find configuration file for $type $vmid on node
/// '$node'\n"`.
fn no_qemu_config(vmid: u32, node: &str) -> String {
    format!("unable to find configuration file for VM {vmid} on node '{node}'")
}

/// A power action to run as a task.
pub(crate) struct PowerTask {
    pub kind: GuestKind,
    pub action: String,
    pub node: String,
    pub vmid: u32,
    pub skiplock: bool,
    pub user: String,
    pub token_id: Option<String>,
}

impl PowerTask {
    fn from_call(call: &Call, kind: GuestKind, action: &str) -> Self {
        PowerTask {
            kind,
            action: action.to_string(),
            node: call.node().to_string(),
            vmid: call.vmid(),
            // Shutdown of a CT has no skiplock (CT Status.pm:392 always checks the lock).
            skiplock: call.flag("skiplock") && !(kind == GuestKind::Lxc && action == "shutdown"),
            user: call.caller.upid_user(),
            token_id: call.caller.token_id.clone(),
        }
    }
}

/// Spawns the task of a power action (also the `vzstart` a create with `start=1` forks).
pub(crate) fn spawn_power(inner: &Arc<Inner>, st: &mut State, p: PowerTask) -> String {
    let PowerTask {
        kind,
        action,
        node,
        vmid,
        skiplock,
        user,
        token_id,
    } = p;
    let ty = task_type(kind, &action);
    let mut plan = TaskPlan::default();
    // The LXC reboot worker takes no config lock (CT Status.pm:547-552).
    if !(kind == GuestKind::Lxc && action == "reboot") {
        plan.locks.push(TaskLock {
            path: locks::lock_path(kind, vmid),
            timeout: inner.cfg.lock_timeout,
            prefix: String::new(),
            faultable: true,
        });
    }
    let check_node_name = node.clone();
    let check_action = action.clone();
    plan.check = Some(Box::new(move |st: &mut State| {
        let node = check_node_name;
        let g = st
            .guests
            .get(&vmid)
            .filter(|g| g.node == node && g.kind == kind);
        let missing = || {
            format!(
                "Configuration file '{}' does not exist",
                conf_path(&node, kind, vmid)
            )
        };
        let locked = |g: &Guest| match g.lock() {
            Some(l) if !skiplock && l != "mounted" => Err(format!("{} is locked ({l})", g.noun())),
            _ => Ok(()),
        };
        match (kind, check_action.as_str()) {
            (GuestKind::Qemu, "stop" | "shutdown") => {
                let Some(g) = g else {
                    return Err(no_qemu_config(vmid, &node));
                };
                if g.running {
                    locked(g)?;
                }
            }
            (GuestKind::Lxc, "reboot") => {}
            (GuestKind::Qemu, "reboot") => {
                g.ok_or_else(|| no_qemu_config(vmid, &node))?;
            }
            (_, "start") => {
                let g = g.ok_or_else(missing)?;
                if g.is_template() {
                    return Err(match kind {
                        GuestKind::Lxc => "you can't start a CT if it's a template",
                        GuestKind::Qemu => "you can't start a vm if it's a template",
                    }
                    .to_string());
                }
                locked(g)?;
                if g.running {
                    return Err(format!("{} {vmid} already running", g.noun()));
                }
            }
            _ => {
                let g = g.ok_or_else(missing)?;
                locked(g)?;
            }
        }
        Ok(vec![])
    }));
    let effect_node = node.clone();
    let effect: tasks::Effect = Box::new(move |st, fail| {
        let now = Instant::now();
        let Some(g) = st
            .guests
            .get_mut(&vmid)
            .filter(|g| g.node == effect_node && g.kind == kind)
        else {
            return (
                vec![],
                Err(format!(
                    "Configuration file '{}' does not exist",
                    conf_path(&effect_node, kind, vmid)
                )),
            );
        };
        let stopping = matches!(action.as_str(), "stop" | "shutdown");
        if stopping && !g.running {
            // QS QemuServer.pm:6168-6169 `my $pid = check_running($vmid, $nocheck);`
            // `return if !$pid;`: nothing to do is success.
            return (vec![], Ok(()));
        }
        if fail {
            let err = match (kind, action.as_str()) {
                (GuestKind::Lxc, "start") => format!("startup for container '{vmid}' failed"),
                (GuestKind::Qemu, "start") => {
                    format!("start failed: QEMU exited with code 1 (vm {vmid})")
                }
                (_, "shutdown") => "shutdown timed out".to_string(),
                (GuestKind::Lxc, _) => {
                    format!("command 'lxc-stop -n {vmid} --kill' failed: exit code 1")
                }
                (GuestKind::Qemu, _) => {
                    format!("VM {vmid} qmp command 'quit' failed - got timeout")
                }
            };
            return (vec![], Err(err));
        }
        match action.as_str() {
            "start" | "reboot" => {
                g.running = true;
                g.started = Some(now);
                g.started_epoch = 0;
            }
            _ => {
                g.running = false;
                g.started = None;
            }
        }
        (vec![], Ok(()))
    });
    let spec = TaskSpec {
        node: node.clone(),
        ty,
        id: vmid.to_string(),
        user,
        token_id,
        log: vec![],
    };
    tasks::spawn_task(inner, st, spec, plan, wrap_epoch(inner, effect, vmid))
}
