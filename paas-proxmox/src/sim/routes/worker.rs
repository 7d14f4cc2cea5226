//! Tasks whose checks PVE runs inside the forked worker (snapshots, backups, restores): the
//! request always gets a UPID; the worker takes the guest's config file lock, and a refused
//! check (or a lock timeout) is the task's exit status.

use std::sync::{Arc, Mutex};

use super::guest::spec;
use crate::sim::core::Inner;
use crate::sim::locks::lock_path;
use crate::sim::server::Call;
use crate::sim::state::{Guest, State, conf_path};
use crate::sim::tasks::{self, Effect, TaskLock, TaskPlan};
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiResult, Reply};

/// What a worker does once its checks passed: lines logged at once, and the effect run when
/// the task's time is up.
pub(crate) type Begun = (Vec<String>, Effect);

/// Starts a task of type `ty` for `id`. In the task, under `lock`'s config file lock (PVE's
/// `lock_config` in the worker; a timeout fails the task), `begin` runs under the state lock
/// and returns the task's work, or the error text the task ends with (having changed
/// nothing).
pub(crate) async fn guest_task(
    inner: &Arc<Inner>,
    call: &Call,
    lock: Option<(GuestKind, u32)>,
    ty: &'static str,
    id: String,
    begin: impl FnOnce(&mut State) -> Result<Begun, String> + Send + 'static,
) -> ApiResult {
    let node = call.node().to_string();
    let slot: Arc<Mutex<Option<Effect>>> = Arc::new(Mutex::new(None));
    let filled = slot.clone();
    // PVE's `set_lock` / `__snapshot_prepare` hold the file lock only to write the `lock`
    // key; the work then runs under the key alone.
    let mut plan = TaskPlan {
        release_after_check: true,
        ..TaskPlan::default()
    };
    if let Some((kind, vmid)) = lock {
        plan.locks.push(TaskLock {
            path: lock_path(kind, vmid),
            timeout: inner.cfg.lock_timeout,
            prefix: String::new(),
            faultable: true,
            shared: false,
        });
    }
    plan.check = Some(Box::new(move |st: &mut State| {
        let (log, effect) = begin(st)?;
        *filled.lock().unwrap_or_else(|e| e.into_inner()) = Some(effect);
        Ok(log)
    }));
    // The work `begin` chose; nothing when it refused (the task then ends with its text).
    let effect: Effect = Box::new(move |st, fail| {
        let chosen = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        match chosen {
            Some(effect) => effect(st, fail),
            None => (vec![], Ok(())),
        }
    });
    let mut st = inner.state();
    let mut spec = spec(call, &node, ty, 0, vec![]);
    spec.id = id;
    let upid = tasks::spawn_task(inner, &mut st, spec, plan, effect);
    Ok(Reply::data(serde_json::json!(upid)))
}

/// The guest `vmid` of `kind` on `node`, or PVE's missing config file text.
pub(crate) fn guest_mut<'a>(
    st: &'a mut State,
    node: &str,
    kind: GuestKind,
    vmid: u32,
) -> Result<&'a mut Guest, String> {
    st.guests
        .get_mut(&vmid)
        .filter(|g| g.node == node && g.kind == kind)
        .ok_or_else(|| {
            format!(
                "Configuration file '{}' does not exist",
                conf_path(node, kind, vmid)
            )
        })
}

/// `check_lock`'s text as a task error.
pub(crate) fn check_lock(g: &Guest) -> Result<(), String> {
    match g.lock() {
        Some(l) => Err(format!("{} is locked ({l})", g.noun())),
        None => Ok(()),
    }
}
