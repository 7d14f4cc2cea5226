//! Tasks whose worker takes the config locks itself, as PVE's forked workers do for clone,
//! resize and move_volume: the request only runs lock-free checks and returns the UPID; a lock
//! that cannot be had in time ends the *task* with `can't lock file '...' - got timeout`.

use std::sync::Arc;
use std::time::Duration;

use super::core::Inner;
use super::locks;
use super::state::State;
use super::tasks::{self, Check, Effect, TaskLock, TaskPlan, TaskSpec};
use super::types::GuestKind;

/// A config lock a worker takes before it starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockReq {
    /// Whose config.
    pub kind: GuestKind,
    /// Its VMID.
    pub vmid: u32,
    /// How long to wait for it.
    pub timeout: Duration,
    /// `LOCK_SH` rather than `LOCK_EX`.
    pub shared: bool,
}

impl LockReq {
    /// An exclusive lock.
    pub fn exclusive(kind: GuestKind, vmid: u32, timeout: Duration) -> Self {
        LockReq {
            kind,
            vmid,
            timeout,
            shared: false,
        }
    }
}

/// What a worker does once it holds its locks, before its time passes: checks again what the
/// request checked (things may have changed while it waited) and makes its first change (a
/// clone writes its temporary config). Returns lines to log, or the error that ends the task.
pub(crate) type Begin = Check;

/// Registers a task and spawns a worker that takes `locks` in order, runs `begin`, waits the
/// task duration and runs `effect` (whose `fail` argument says whether a failure was
/// injected). The locks are held until the task ends. Returns the UPID.
///
/// An injected lock timeout ([`super::Faults::lock_timeout_rate`]) may hit only the last
/// lock, the one a worker most often waits for in PVE (a clone's target,
/// bpg/terraform-provider-proxmox#1521).
pub(crate) fn spawn_locked(
    inner: &Arc<Inner>,
    st: &mut State,
    spec: TaskSpec,
    locks: Vec<LockReq>,
    begin: Begin,
    effect: Effect,
) -> String {
    let last = locks.len().saturating_sub(1);
    let plan = TaskPlan {
        locks: locks
            .iter()
            .enumerate()
            .map(|(i, l)| TaskLock {
                path: locks::lock_path(l.kind, l.vmid),
                timeout: l.timeout,
                prefix: String::new(),
                faultable: i == last,
                shared: l.shared,
            })
            .collect(),
        check: Some(begin),
        ..TaskPlan::default()
    };
    tasks::spawn_task(inner, st, spec, plan, effect)
}
