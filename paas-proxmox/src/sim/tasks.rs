//! Asynchronous tasks: UPIDs, status, logs, and running a task's effect after its duration.

use std::sync::Arc;

use serde_json::{Value, json};

use super::core::Inner;
use super::locks::LockGuard;
use super::state::State;

/// One task, as `/nodes/{node}/tasks/{upid}/status` and `/log` show it.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub upid: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u32,
    pub starttime: i64,
    pub ty: String,
    pub id: String,
    pub user: String,
    pub token_id: Option<String>,
    pub running: bool,
    pub exitstatus: Option<String>,
    pub endtime: Option<i64>,
    pub log: Vec<String>,
}

impl Task {
    /// The status object.
    pub fn status_json(&self) -> Value {
        let mut v = json!({
            "upid": self.upid,
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.ty,
            "id": self.id,
            "user": self.user,
            "status": if self.running { "running" } else { "stopped" },
        });
        if let Some(t) = &self.token_id {
            v["tokenid"] = json!(t);
        }
        if let Some(e) = &self.exitstatus {
            v["exitstatus"] = json!(e);
        }
        if let Some(t) = self.endtime {
            v["endtime"] = json!(t);
        }
        v
    }
}

/// `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:` (hex fields 8 wide, upper case).
pub(crate) fn upid(
    node: &str,
    pid: u32,
    pstart: u32,
    starttime: i64,
    ty: &str,
    id: &str,
    user: &str,
) -> String {
    format!(
        "UPID:{node}:{pid:08X}:{pstart:08X}:{:08X}:{ty}:{id}:{user}:",
        starttime.max(0)
    )
}

/// Parses a UPID into (node, type, id, user) if it is well formed.
pub(crate) fn parse_upid(upid: &str) -> Option<(String, String, String, String)> {
    let rest = upid.strip_prefix("UPID:")?.strip_suffix(':')?;
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.len() != 7 {
        return None;
    }
    let hex8 = |s: &str| s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !(hex8(parts[1]) && hex8(parts[2]) && hex8(parts[3])) {
        return None;
    }
    Some((
        parts[0].into(),
        parts[4].into(),
        parts[5].into(),
        parts[6].into(),
    ))
}

/// What a new task is.
pub(crate) struct TaskSpec {
    pub node: String,
    pub ty: &'static str,
    pub id: String,
    pub user: String,
    pub token_id: Option<String>,
    /// Lines logged as soon as the task starts.
    pub log: Vec<String>,
}

/// The effect of a task, run when its time is up, under the state lock. Gets whether a
/// failure was injected; returns the lines to log and `Ok` or the error text (the effect
/// itself undoes what a failed task would leave behind).
pub(crate) type Effect =
    Box<dyn FnOnce(&mut State, bool) -> (Vec<String>, Result<(), String>) + Send>;

/// Registers a task in `st` and spawns its completion; returns the UPID. `guards` (lock
/// files) are released when the task ends.
pub(crate) fn spawn(
    inner: &Arc<Inner>,
    st: &mut State,
    spec: TaskSpec,
    guards: Vec<LockGuard>,
    effect: Effect,
) -> String {
    let (upid, fail) = begin(inner, st, spec);
    let inner2 = inner.clone();
    let key = upid.clone();
    let duration = inner.cfg.task_duration;
    tokio::spawn(async move {
        if !duration.is_zero() {
            tokio::time::sleep(duration).await;
        }
        {
            let mut st = inner2.state();
            let (lines, result) = effect(&mut st, fail);
            let end = inner2.clock.now();
            complete(&mut st, &key, end, lines, result);
        }
        drop(guards);
    });
    upid
}

/// Registers a running task in `st`; returns its UPID and whether an injected failure will
/// end it (drawn now, so the fault stream follows the order of the requests).
pub(crate) fn begin(inner: &Arc<Inner>, st: &mut State, spec: TaskSpec) -> (String, bool) {
    let fail = inner.faults.task_fails();
    let now = inner.clock.now();
    st.next_pid = st.next_pid.wrapping_add(1);
    let pid = st.next_pid;
    let pstart = (inner.clock.uptime_secs() as u32)
        .wrapping_mul(100)
        .wrapping_add(pid % 100);
    let upid = upid(&spec.node, pid, pstart, now, spec.ty, &spec.id, &spec.user);
    st.tasks.insert(
        upid.clone(),
        Task {
            upid: upid.clone(),
            node: spec.node,
            pid,
            pstart,
            starttime: now,
            ty: spec.ty.to_string(),
            id: spec.id,
            user: spec.user.split('!').next().unwrap_or_default().to_string(),
            token_id: spec.token_id,
            running: true,
            exitstatus: None,
            endtime: None,
            log: spec.log,
        },
    );
    (upid, fail)
}

/// Appends `lines` to a task's log and marks it stopped with `result` at `end`.
pub(crate) fn complete(
    st: &mut State,
    upid: &str,
    end: i64,
    lines: Vec<String>,
    result: Result<(), String>,
) {
    if let Some(task) = st.tasks.get_mut(upid) {
        task.log.extend(lines);
        task.running = false;
        task.endtime = Some(end);
        match result {
            Ok(()) => {
                task.log.push("TASK OK".into());
                task.exitstatus = Some("OK".into());
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or("").to_string();
                task.log.push(format!("TASK ERROR: {first}"));
                task.exitstatus = Some(first);
            }
        }
    }
}

/// Appends lines to a running task's log.
pub(crate) fn log(st: &mut State, upid: &str, lines: Vec<String>) {
    if let Some(task) = st.tasks.get_mut(upid) {
        task.log.extend(lines);
    }
}

/// `GET .../log`: lines `[start, start+limit)` (`limit` 0 = all) as `[{n, t}]`, and the total.
pub(crate) fn log_page(task: &Task, start: usize, limit: usize) -> (Value, usize) {
    if task.log.is_empty() {
        return (json!([{"n": 1, "t": "no content"}]), 1);
    }
    let total = task.log.len();
    let take = if limit == 0 { usize::MAX } else { limit };
    let lines: Vec<Value> = task
        .log
        .iter()
        .enumerate()
        .skip(start)
        .take(take)
        .map(|(i, t)| json!({"n": i + 1, "t": t}))
        .collect();
    (Value::Array(lines), total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upid_format() {
        let u = upid(
            "pve1",
            0x1234,
            0xabcdef,
            0x6745a1b2,
            "vzcreate",
            "100",
            "root@pam!paas",
        );
        assert_eq!(
            u,
            "UPID:pve1:00001234:00ABCDEF:6745A1B2:vzcreate:100:root@pam!paas:"
        );
        let (node, ty, id, user) = parse_upid(&u).unwrap();
        assert_eq!(
            (node.as_str(), ty.as_str(), id.as_str(), user.as_str()),
            ("pve1", "vzcreate", "100", "root@pam!paas")
        );
        assert!(parse_upid("UPID:x").is_none());
    }
}
