//! Tasks whose worker takes the config locks itself, as PVE's forked workers do for clone,
//! resize and move_volume: the request only runs lock-free checks and returns the UPID; a lock
//! that cannot be had in time ends the *task* with `can't lock file '...' - got timeout`.

use std::sync::Arc;
use std::time::Duration;

use super::core::Inner;
use super::locks::{self, LockGuard};
use super::state::State;
use super::tasks::{self, Effect, TaskSpec};
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
pub(crate) type Begin = Box<dyn FnOnce(&mut State) -> Result<Vec<String>, String> + Send>;

/// Registers a task and spawns a worker that takes `locks` in order, runs `begin`, waits the
/// task duration and runs `effect` (whose `fail` argument says whether a failure was
/// injected). The locks are held until the task ends. Returns the UPID.
///
/// An injected lock timeout ([`super::Faults::lock_timeout_rate`]) fails the last lock, the
/// one a worker most often waits for in PVE (a clone's target, bpg/terraform-provider-proxmox
/// #1521).
pub(crate) fn spawn_locked(
    inner: &Arc<Inner>,
    st: &mut State,
    spec: TaskSpec,
    locks: Vec<LockReq>,
    begin: Begin,
    effect: Effect,
) -> String {
    let (upid, fail) = tasks::begin(inner, st, spec);
    let injected_lock_timeout = !locks.is_empty() && inner.faults.lock_timeout();
    let inner = inner.clone();
    let key = upid.clone();
    tokio::spawn(async move {
        let mut guards: Vec<LockGuard> = Vec::with_capacity(locks.len());
        let last = locks.len().saturating_sub(1);
        for (i, l) in locks.iter().enumerate() {
            let path = locks::lock_path(l.kind, l.vmid);
            let got = if injected_lock_timeout && i == last {
                Err(locks::timeout_text(&path))
            } else if l.shared {
                inner.locks.acquire_shared(&path, l.timeout).await
            } else {
                inner.locks.acquire(&path, l.timeout).await
            };
            match got {
                Ok(g) => guards.push(g),
                Err(e) => {
                    let mut st = inner.state();
                    let end = inner.clock.now();
                    tasks::complete(&mut st, &key, end, vec![], Err(e));
                    return;
                }
            }
        }
        {
            let mut st = inner.state();
            match begin(&mut st) {
                Ok(lines) => tasks::log(&mut st, &key, lines),
                Err(e) => {
                    let end = inner.clock.now();
                    tasks::complete(&mut st, &key, end, vec![], Err(e));
                    return;
                }
            }
        }
        let duration = inner.cfg.task_duration;
        if !duration.is_zero() {
            tokio::time::sleep(duration).await;
        }
        {
            let mut st = inner.state();
            let (lines, result) = effect(&mut st, fail);
            let end = inner.clock.now();
            tasks::complete(&mut st, &key, end, lines, result);
        }
        drop(guards);
    });
    upid
}
