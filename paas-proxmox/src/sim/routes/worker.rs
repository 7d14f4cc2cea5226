//! Tasks whose checks PVE runs inside the forked worker (snapshots, backups, restores): the
//! request always gets a UPID; a refused check is the task's exit status.

use std::sync::Arc;

use super::guest::spec;
use super::lock_guest;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{Guest, State, conf_path};
use crate::sim::tasks::{self, Effect};
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiResult, Reply};

/// What a worker does once its checks passed: lines logged at once, and the effect run when
/// the task's time is up.
pub(crate) type Begun = (Vec<String>, Effect);

/// Starts a task of type `ty` for `id`: takes `vmid`'s config file lock (PVE's
/// `lock_config` of the worker; a timeout fails the task), runs `begin` under the state lock,
/// and releases the file lock. `begin` returns the task's work, or the error text it ends
/// with (nothing is changed then).
pub(crate) async fn guest_task(
    inner: &Arc<Inner>,
    call: &Call,
    lock: Option<(GuestKind, u32)>,
    ty: &'static str,
    id: String,
    begin: impl FnOnce(&mut State) -> Result<Begun, String>,
) -> ApiResult {
    let node = call.node().to_string();
    let guard = match lock {
        Some((kind, vmid)) => Some(
            lock_guest(inner, kind, vmid, inner.cfg.lock_timeout, "")
                .await
                .map_err(|e| e.message),
        ),
        None => None,
    };
    let mut st = inner.state();
    let begun = match guard {
        Some(Err(text)) => Err(text),
        _ => begin(&mut st),
    };
    let (log, effect): Begun = match begun {
        Ok(b) => b,
        Err(text) => (vec![], Box::new(move |_, _| (vec![], Err(text)))),
    };
    let mut spec = spec(call, &node, ty, 0, log);
    spec.id = id;
    let upid = tasks::spawn(inner, &mut st, spec, vec![], effect);
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
