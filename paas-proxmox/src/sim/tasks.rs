//! Asynchronous tasks: UPIDs, status, logs, and running a task after its duration.
//!
//! A task runs like a PVE worker (PC RESTEnvironment.pm `fork_worker`): its UPID exists at
//! once; then, in the task, it takes the lock files the worker takes (a timeout is the task's
//! error, not the request's), runs its checks under them (a locked or missing config is the
//! task's error), waits its duration and applies its effect. It ends `TASK OK`, `TASK
//! WARNINGS: N` or `TASK ERROR: <text>` with the text on one line (:656 `$err =~ s/\n/
//! /mg;`). `DELETE /nodes/{node}/tasks/{upid}` interrupts it as SIGTERM does a worker:
//! `received interrupt` (:567 `$SIG{INT} = $SIG{QUIT} = $SIG{TERM} = sub { die "received
//! interrupt\n"; };`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::core::Inner;
use super::locks::{self, LockGuard};
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
    /// Wakes the task to interrupt it.
    pub cancel: Arc<Notify>,
}

impl Task {
    /// The fields `upid_decode` gives, `upid`, and `tokenid` split from the user (PM
    /// API2/Tasks.pm:19-25 `$convert_token_task`).
    fn decoded_json(&self) -> Value {
        let mut v = json!({
            "upid": self.upid,
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.ty,
            "id": self.id,
            "user": self.user,
        });
        if let Some(t) = &self.token_id {
            v["tokenid"] = json!(t);
        }
        v
    }

    /// An entry of `GET /nodes/{node}/tasks` (PM API2/Tasks.pm:199-222): a finished task as the
    /// index file has it (`endtime`, `status` = its exit status), a running one from the
    /// active file with `status: RUNNING` (:229) and the `saved` flag the file carries.
    pub fn list_json(&self) -> Value {
        let mut v = self.decoded_json();
        match (&self.exitstatus, self.endtime) {
            (Some(exit), Some(end)) if !self.running => {
                v["endtime"] = json!(end);
                v["status"] = json!(exit);
            }
            _ => {
                v["status"] = json!("RUNNING");
                v["saved"] = json!("0");
            }
        }
        v
    }

    /// An entry of `GET /cluster/tasks`: the node's active list as pvestatd broadcasts it (PC
    /// RESTEnvironment.pm `active_workers`: running tasks keep `pid`, finished ones lose it
    /// and `pstart` and gain `endtime`, `status` and `saved`).
    pub fn cluster_json(&self) -> Value {
        let mut v = self.decoded_json();
        if let Some(o) = v.as_object_mut() {
            o.remove("pstart");
            if !self.running {
                o.remove("pid");
            }
        }
        match (&self.exitstatus, self.endtime) {
            (Some(exit), Some(end)) if !self.running => {
                v["endtime"] = json!(end);
                v["status"] = json!(exit);
                v["saved"] = json!("1");
            }
            _ => v["saved"] = json!("0"),
        }
        v
    }

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
        // PM API2/Tasks.pm:512-544 has no `endtime` here.
        if let Some(e) = &self.exitstatus {
            v["exitstatus"] = json!(e);
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

/// Parses a UPID into (node, type, id, user) if it is well formed: PC UPID.pm:36
/// `^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):`
/// `([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$` (a 9-digit pstart after 497 days of
/// uptime, an empty id).
pub(crate) fn parse_upid(upid: &str) -> Option<(String, String, String, String)> {
    let rest = upid.strip_prefix("UPID:")?.strip_suffix(':')?;
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.len() != 7 {
        return None;
    }
    let hex = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let field = |s: &str| !s.contains(|c: char| c == '/' || c.is_whitespace());
    if !(super::formats::is_node_name(parts[0])
        && hex(parts[1], 8..=8)
        && hex(parts[2], 8..=9)
        && hex(parts[3], 8..=8)
        && !parts[4].is_empty()
        && field(parts[4])
        && field(parts[5])
        && !parts[6].is_empty()
        && field(parts[6]))
    {
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

/// A lock file a task takes before it does anything.
pub(crate) struct TaskLock {
    /// The lock file (see [`locks::lock_path`]).
    pub path: String,
    /// How long to wait for it.
    pub timeout: Duration,
    /// Put before the timeout text (e.g. `unable to create CT 100 - `).
    pub prefix: String,
    /// Whether an injected lock timeout ([`Faults::lock_timeout_rate`]) may hit it.
    ///
    /// [`Faults::lock_timeout_rate`]: super::Faults::lock_timeout_rate
    pub faultable: bool,
    /// `LOCK_SH` rather than `LOCK_EX` (a clone's stopped source).
    pub shared: bool,
}

/// Checks a task runs under its locks, before its duration: `Ok` with lines to log, or the
/// task's error.
pub(crate) type Check = Box<dyn FnOnce(&mut State) -> Result<Vec<String>, String> + Send>;

/// Runs once a task ended OK, under the state lock (e.g. to spawn the `vzstart` of a create
/// with `start=1`).
pub(crate) type After = Box<dyn FnOnce(&Arc<Inner>, &mut State) + Send>;

/// How a task runs beyond its effect.
pub(crate) struct TaskPlan {
    /// Held from the start (taken at request time), released when the task ends.
    pub guards: Vec<LockGuard>,
    /// Taken in the task, in order.
    pub locks: Vec<TaskLock>,
    /// Runs under the locks; an error ends the task without its effect.
    pub check: Option<Check>,
    /// The exit status of an interrupted task (default `received interrupt`).
    pub interrupted: String,
    /// Runs after a successful end.
    pub after: Option<After>,
    /// Release `locks` once `check` ran instead of at the end: workers that only set the
    /// config's `lock` key under the file lock (snapshots, vzdump) and then work without it.
    pub release_after_check: bool,
}

impl Default for TaskPlan {
    fn default() -> Self {
        TaskPlan {
            guards: Vec::new(),
            locks: Vec::new(),
            check: None,
            interrupted: INTERRUPTED.to_string(),
            after: None,
            release_after_check: false,
        }
    }
}

/// What a worker killed by `DELETE .../tasks/{upid}` dies with.
pub(crate) const INTERRUPTED: &str = "received interrupt";

/// Registers a task in `st` and spawns its completion; returns the UPID. `guards` (lock
/// files) are released when the task ends.
pub(crate) fn spawn(
    inner: &Arc<Inner>,
    st: &mut State,
    spec: TaskSpec,
    guards: Vec<LockGuard>,
    effect: Effect,
) -> String {
    spawn_task(
        inner,
        st,
        spec,
        TaskPlan {
            guards,
            ..TaskPlan::default()
        },
        effect,
    )
}

/// How a task's run ended before its effect.
enum Stop {
    /// Interrupted (waiting for a lock: the lock text says so).
    Interrupted(Option<String>),
    /// Failed with this text.
    Failed(String),
}

/// Registers a task in `st` and spawns it as `plan` says; returns the UPID.
pub(crate) fn spawn_task(
    inner: &Arc<Inner>,
    st: &mut State,
    spec: TaskSpec,
    plan: TaskPlan,
    effect: Effect,
) -> String {
    let fail = inner.faults.task_fails();
    let warnings = inner.faults.task_warnings();
    let now = inner.clock.now();
    st.next_pid = st.next_pid.wrapping_add(1);
    let pid = st.next_pid;
    let pstart = (inner.clock.uptime_secs() as u32)
        .wrapping_mul(100)
        .wrapping_add(pid % 100);
    let upid = upid(&spec.node, pid, pstart, now, spec.ty, &spec.id, &spec.user);
    let cancel = Arc::new(Notify::new());
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
            cancel: cancel.clone(),
        },
    );
    let inner2 = inner.clone();
    let key = upid.clone();
    let duration = inner.cfg.task_duration;
    tokio::spawn(async move {
        let TaskPlan {
            mut guards,
            locks,
            check,
            interrupted,
            after,
            release_after_check,
        } = plan;
        let cancelled = cancel.notified();
        tokio::pin!(cancelled);
        let mut stop: Option<Stop> = None;
        for lock in locks {
            if lock.faultable && inner2.faults.lock_timeout() {
                stop = Some(Stop::Failed(format!(
                    "{}{}",
                    lock.prefix,
                    locks::timeout_text(&lock.path)
                )));
                break;
            }
            tokio::select! {
                got = async {
                    if lock.shared {
                        inner2.locks.acquire_shared(&lock.path, lock.timeout).await
                    } else {
                        inner2.locks.acquire(&lock.path, lock.timeout).await
                    }
                } => match got {
                    Ok(g) => guards.push(g),
                    Err(e) => {
                        stop = Some(Stop::Failed(format!("{}{e}", lock.prefix)));
                        break;
                    }
                },
                () = &mut cancelled => {
                    // PC Tools.pm:261 `$@ = "can't lock file '$filename' - $@";`
                    stop = Some(Stop::Interrupted(Some(format!(
                        "{}can't lock file '{}' - {INTERRUPTED}",
                        lock.prefix, lock.path
                    ))));
                    break;
                }
            }
        }
        let mut checked_lines = Vec::new();
        if stop.is_none()
            && let Some(check) = check
        {
            let mut st = inner2.state();
            match check(&mut st) {
                Ok(lines) => checked_lines = lines,
                Err(e) => stop = Some(Stop::Failed(e)),
            }
        }
        if release_after_check {
            guards.clear();
        }
        if stop.is_none() && !duration.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(duration) => {}
                () = &mut cancelled => stop = Some(Stop::Interrupted(None)),
            }
        }
        {
            let mut st = inner2.state();
            let (lines, result) = match stop {
                None => effect(&mut st, fail),
                Some(Stop::Failed(e)) => (vec![], Err(e)),
                Some(Stop::Interrupted(during_lock)) => {
                    // The worker's own cleanup runs (a create removes its config, ...).
                    let undo = if during_lock.is_none() {
                        effect(&mut st, true).0
                    } else {
                        vec![]
                    };
                    (undo, Err(during_lock.unwrap_or(interrupted)))
                }
            };
            let ok = result.is_ok();
            let end = inner2.clock.now();
            if let Some(task) = st.tasks.get_mut(&key) {
                task.log.extend(checked_lines);
                task.log.extend(lines);
                task.running = false;
                task.endtime = Some(end);
                match result {
                    Ok(()) if warnings > 0 => {
                        for i in 1..=warnings {
                            task.log.push(format!("WARN: simulated warning {i}"));
                        }
                        task.log.push(format!("TASK WARNINGS: {warnings}"));
                        task.exitstatus = Some(format!("WARNINGS: {warnings}"));
                    }
                    Ok(()) => {
                        task.log.push("TASK OK".into());
                        task.exitstatus = Some("OK".into());
                    }
                    Err(e) => {
                        let text = one_line(&e);
                        task.log.push(format!("TASK ERROR: {text}"));
                        task.exitstatus = Some(text);
                    }
                }
            }
            drop(guards);
            if ok && let Some(after) = after {
                after(&inner2, &mut st);
            }
        }
    });
    upid
}

/// PC RESTEnvironment.pm:654-656: `chomp $err; $err =~ s/\n/ /mg;`.
fn one_line(e: &str) -> String {
    e.strip_suffix('\n').unwrap_or(e).replace('\n', " ")
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
        // A 9-digit pstart and an empty id parse (PC UPID.pm:36).
        assert!(parse_upid("UPID:pve1:00001234:123456789:6745A1B2:vzdump::root@pam:").is_some());
        assert!(parse_upid("UPID:pve1:00001234:1234567890:6745A1B2:vzdump::root@pam:").is_none());
        assert!(parse_upid("UPID:-x:00001234:12345678:6745A1B2:vzdump::root@pam:").is_none());
    }

    #[test]
    fn errors_become_one_line() {
        assert_eq!(one_line("a\nb\n"), "a b");
        assert_eq!(one_line("a"), "a");
    }
}
