//! `/nodes/{node}/tasks` (list, status, log, stop) and `/cluster/tasks`, after PM
//! API2/Tasks.pm and API2/Cluster.pm at pve-manager 5829c814947b.

use std::sync::Arc;

use serde_json::{Value, json};

use super::check_node;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::State;
use crate::sim::tasks::{Task, log_page, parse_upid};
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// PM API2/Tasks.pm:516 `raise_param_exc({ upid => "unable to parse worker upid" }) if
/// !$task;` (no value quoted).
fn parsed_upid(call: &Call) -> Result<&str, ApiError> {
    let upid = call.get("upid").unwrap_or_default();
    if parse_upid(upid).is_none() {
        return Err(ApiError::param("upid", "unable to parse worker upid"));
    }
    Ok(upid)
}

/// A task of the node by UPID; PM API2/Tasks.pm:517 `raise_param_exc({ upid => "no such
/// task" }) if !-f $filename;` (the log file lives on the node that ran the task).
fn find<'a>(st: &'a State, call: &Call) -> Result<&'a Task, ApiError> {
    check_node(st, call.node())?;
    let upid = parsed_upid(call)?;
    st.tasks
        .get(upid)
        .filter(|t| t.node == call.node())
        .ok_or_else(|| ApiError::param("upid", "no such task"))
}

/// PM API2/Tasks.pm:27-37 `$check_task_user` on the user field of a UPID (`user@realm` or
/// `user@realm!token`): a token owns only its own tasks, a user also its tokens'.
fn owns(authid: &str, upid_user: &str) -> bool {
    match upid_user.split_once('!') {
        Some((user, _)) => authid == upid_user || authid == user,
        None => authid == upid_user,
    }
}

/// "The user needs '`privilege`' permissions on '/nodes/<node>' if they are not the owner of
/// the task" (checked from the UPID, before the task's file is looked at).
fn check_owner(st: &State, call: &Call, privilege: &str) -> Result<(), ApiError> {
    let upid = parsed_upid(call)?;
    let upid_user = parse_upid(upid).map(|(_, _, _, u)| u).unwrap_or_default();
    let authid = call.caller.authid();
    if owns(&authid, &upid_user) {
        return Ok(());
    }
    st.access
        .perms(&authid)
        .check(&format!("/nodes/{}", call.node()), &[privilege])
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
pub(crate) fn status(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let task = find(&st, call)?;
    check_owner(&st, call, "Sys.Audit")?;
    Ok(Reply::data(task.status_json()))
}

/// `GET /nodes/{node}/tasks/{upid}/log` (`start`, `limit`). An unknown but well-formed UPID
/// is not checked against the file system: PC Tools.pm:1156 `return (1, [{ n => 1, t =>
/// "unable to open file - $!" }]);`.
pub(crate) fn log(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    check_node(&st, call.node())?;
    let upid = parsed_upid(call)?;
    check_owner(&st, call, "Sys.Audit")?;
    let Some(task) = st.tasks.get(upid).filter(|t| t.node == call.node()) else {
        return Ok(Reply::data(
            json!([{"n": 1, "t": "unable to open file - No such file or directory"}]),
        )
        .with("total", json!(1)));
    };
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

/// PC UPID.pm:90-104 `normalize_status_type`.
fn status_type(task: &Task) -> &'static str {
    match task.exitstatus.as_deref() {
        None => "unknown",
        Some("OK") => "ok",
        Some(s)
            if s.strip_prefix("WARNINGS: ")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            "warning"
        }
        Some("unexpected status") => "unknown",
        Some(_) => "error",
    }
}

/// `GET /nodes/{node}/tasks`: PM API2/Tasks.pm:139-252. Running tasks come from the active
/// list (`source=active|all`), finished ones from the index, newest first (`source=archive`,
/// the default, or `all`). A task passes the filters in the order PVE applies them
/// (`userfilter` as a case-insensitive substring of the user, `typefilter`, `vmid`, `since`,
/// `until`, `statusfilter` or `errors`); `total` counts every task that passed, `start` skips
/// and `limit` caps the returned ones.
pub(crate) fn list(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    check_node(&st, call.node())?;
    // :184 `$auditor`: without Sys.Audit on the node, only the caller's own tasks.
    let authid = call.caller.authid();
    let auditor = st
        .access
        .perms(&authid)
        .has(&format!("/nodes/{}", call.node()), &["Sys.Audit"]);
    let start = call.int("start").unwrap_or(0).max(0) as u64;
    let mut limit = call.int("limit").unwrap_or(50);
    let userfilter = call.get("userfilter").filter(|u| !u.is_empty());
    let typefilter = call.get("typefilter").filter(|t| !t.is_empty());
    let vmid = call.get("vmid").filter(|v| !v.is_empty());
    let since = call.int("since");
    let until = call.int("until");
    let errors = call.flag("errors");
    let source = call.get("source").unwrap_or("archive");
    // :173-187: `statusfilter` lists the wanted kinds unless `errors` is set.
    let mut wanted = vec!["ok", "warning", "error", "unknown"];
    if let Some(list) = call.get("statusfilter").filter(|_| !errors) {
        wanted = Vec::new();
        let lower = list.to_ascii_lowercase();
        for kind in ["ok", "warning", "error", "unknown"] {
            if lower
                .split([',', ';', ' ', '\t', '\n', '\0'])
                .any(|f| f == kind)
            {
                wanted.push(kind);
            }
        }
    } else if errors {
        wanted.retain(|k| *k != "ok");
    }
    let mut count: u64 = 0;
    let mut out = Vec::new();
    // :197-213 `$filter_task`.
    let mut consider = |task: &Task, status_kind: &str, out: &mut Vec<Value>| {
        if userfilter.is_some_and(|u| !task.user.to_lowercase().contains(&u.to_lowercase())) {
            return;
        }
        let upid_user = match &task.token_id {
            Some(t) => format!("{}!{t}", task.user),
            None => task.user.clone(),
        };
        if !(auditor || owns(&authid, &upid_user)) {
            return;
        }
        if typefilter.is_some_and(|t| task.ty != t) {
            return;
        }
        if vmid.is_some_and(|v| task.id != v) {
            return;
        }
        if since.is_some_and(|s| task.starttime < s) || until.is_some_and(|u| task.starttime > u) {
            return;
        }
        if !wanted.contains(&status_kind) {
            return;
        }
        count += 1;
        if count <= start || limit <= 0 {
            return;
        }
        out.push(task.list_json());
        limit -= 1;
    };
    let mut tasks: Vec<&Task> = st
        .tasks
        .values()
        .filter(|t| t.node == call.node())
        .collect();
    tasks.sort_by_key(|t| std::cmp::Reverse((t.starttime, t.pid)));
    if source == "active" || source == "all" {
        // An active task has no status yet, which `normalize_status_type` calls unknown.
        for task in tasks.iter().filter(|t| t.running) {
            consider(task, "unknown", &mut out);
        }
    }
    if source != "active" {
        for task in tasks.iter().filter(|t| !t.running) {
            consider(task, status_type(task), &mut out);
        }
    }
    Ok(Reply::data(Value::Array(out)).with("total", json!(count)))
}

/// `GET /cluster/tasks`: every node's recent tasks as pvestatd broadcasts them (PM
/// API2/Cluster.pm:727-748, PC RESTEnvironment.pm `active_workers`): the running ones, then
/// the newest finished ones, at most 25 per node in all (`$MAX_FINISHED = 25`).
///
/// Without `Sys.Audit` on `/` a caller sees the tasks whose user (the token's owner, for a
/// token's task) is the caller: a token sees none (:741 `$task->{user} eq $authuser`).
pub(crate) fn cluster(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let authid = call.caller.authid();
    let all = st.access.perms(&authid).has("/", &["Sys.Audit"]);
    let mut out = Vec::new();
    for node in &st.nodes {
        let mut tasks: Vec<&Task> = st.tasks.values().filter(|t| t.node == node.name).collect();
        tasks.sort_by_key(|t| std::cmp::Reverse((t.starttime, t.pid)));
        let running: Vec<&&Task> = tasks.iter().filter(|t| t.running).collect();
        let room = 25usize.saturating_sub(running.len());
        // The broadcast list is capped first; the caller's filter applies to what it holds.
        let visible = |t: &Task| all || t.user == authid;
        out.extend(
            running
                .iter()
                .filter(|t| visible(t))
                .map(|t| t.cluster_json()),
        );
        let finished: Vec<&&Task> = tasks.iter().filter(|t| !t.running).take(room).collect();
        out.extend(
            finished
                .iter()
                .filter(|t| visible(t))
                .map(|t| t.cluster_json()),
        );
    }
    Ok(Reply::data(Value::Array(out)))
}

/// `DELETE /nodes/{node}/tasks/{upid}`: PM API2/Tasks.pm:286-316. A running task is
/// interrupted (`check_worker($upid, 1)` sends SIGTERM to the worker, which dies with
/// `received interrupt`); a finished one is left as it is. Either way the answer is `null`.
pub(crate) fn stop(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let task = find(&st, call)?;
    // :328 "The user needs 'Sys.Modify' permissions on '/nodes/<node>' if they aren't the
    // owner of the task."
    check_owner(&st, call, "Sys.Modify")?;
    if task.running {
        task.cancel.notify_one();
    }
    Ok(Reply::data(Value::Null))
}
