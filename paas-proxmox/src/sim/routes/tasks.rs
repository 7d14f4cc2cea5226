//! `/nodes/{node}/tasks/{upid}/status` and `/log`.

use std::sync::Arc;

use serde_json::json;

use super::check_node;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::State;
use crate::sim::tasks::{Task, log_page, parse_upid};
use crate::sim::wire::{ApiError, ApiResult, Reply};

fn find<'a>(st: &'a State, call: &Call) -> Result<&'a Task, ApiError> {
    check_node(st, call.node())?;
    let upid = call.get("upid").unwrap_or_default();
    if parse_upid(upid).is_none() {
        return Err(ApiError::param(
            "upid",
            format!("unable to parse worker upid '{upid}'"),
        ));
    }
    st.tasks
        .get(upid)
        .filter(|t| t.node == call.node())
        .ok_or_else(|| ApiError::param("upid", "no such task"))
}

/// "The user needs 'Sys.Audit' permissions on '/nodes/<node>' if they are not the owner of
/// the task" (PM API2/Tasks.pm:27-37 `$check_task_user`: a token sees only its own tasks, a
/// user also its tokens').
fn check_owner(st: &State, call: &Call, task: &Task) -> Result<(), ApiError> {
    let authid = call.caller.authid();
    let owner = match &task.token_id {
        Some(t) => authid == format!("{}!{t}", task.user) || authid == task.user,
        None => authid == task.user,
    };
    if owner {
        return Ok(());
    }
    st.access
        .perms(&authid)
        .check(&format!("/nodes/{}", call.node()), &["Sys.Audit"])
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
pub(crate) fn status(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let task = find(&st, call)?;
    check_owner(&st, call, task)?;
    Ok(Reply::data(task.status_json()))
}

/// `GET /nodes/{node}/tasks/{upid}/log` (`start`, `limit`).
pub(crate) fn log(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let task = find(&st, call)?;
    check_owner(&st, call, task)?;
    let start = call
        .int("start")
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(0);
    let limit = call
        .int("limit")
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(50);
    let (lines, total) = log_page(task, start, limit);
    Ok(Reply::data(lines).with("total", json!(total)))
}
