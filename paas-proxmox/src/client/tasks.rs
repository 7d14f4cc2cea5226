//! Asynchronous tasks: status, log, and waiting for one to finish.

use super::error::ApiError;
use super::{ApiRequest, BACKEND, Method, ProxmoxClient, Upid, num};
use paas_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// `running` or `stopped`.
    pub status: String,
    /// Once stopped: `OK`, `WARNINGS: N`, or the error text.
    #[serde(default)]
    pub exitstatus: Option<String>,
    /// Task type.
    #[serde(rename = "type", default)]
    pub task_type: Option<String>,
    /// Object id.
    #[serde(default, deserialize_with = "num::opt_string")]
    pub id: Option<String>,
    /// Who started it.
    #[serde(default)]
    pub user: Option<String>,
    /// Start time, Unix seconds.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub starttime: Option<u64>,
}

/// One line of a task log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Line number, from 1.
    #[serde(deserialize_with = "num::u64")]
    pub n: u64,
    /// Text.
    #[serde(default)]
    pub t: String,
}

/// A page of a task log and the total number of lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLog {
    /// The lines asked for.
    pub lines: Vec<LogLine>,
    /// How many lines the log has, if the server said.
    pub total: Option<u64>,
}

/// How a finished task ended, when it succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// `OK`.
    Ok,
    /// `WARNINGS: N`: success with warnings.
    Warnings(u64),
}

/// How to wait for a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitOptions {
    /// Give up after this long (a `Timeout` error; the task keeps running on the server).
    pub timeout: Duration,
    /// First pause between polls.
    pub initial_poll: Duration,
    /// Longest pause between polls (the pause doubles up to this).
    pub max_poll: Duration,
    /// How many of the log's last lines a failure carries.
    pub log_lines: u64,
}

impl Default for WaitOptions {
    /// 10 minutes, polls at once, then after 1 ms doubling to 1 s, 20 log lines.
    ///
    /// The short first pause costs a few cheap extra polls on a real server, whose tasks take
    /// seconds, and keeps a fast task (or a simulator with no task time) from waiting a whole
    /// long pause for nothing.
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(600),
            initial_poll: Duration::from_millis(1),
            max_poll: Duration::from_secs(1),
            log_lines: 20,
        }
    }
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
pub fn task_status_request(upid: &Upid) -> ApiRequest {
    ApiRequest::new(
        Method::Get,
        ["nodes", upid.node(), "tasks", &upid.to_string(), "status"],
    )
}

/// `GET /nodes/{node}/tasks/{upid}/log?start=&limit=`.
pub fn task_log_request(upid: &Upid, start: u64, limit: u64) -> ApiRequest {
    ApiRequest::new(
        Method::Get,
        ["nodes", upid.node(), "tasks", &upid.to_string(), "log"],
    )
    .param("start", start)
    .param("limit", limit)
}

#[derive(Deserialize)]
struct LogEnvelope {
    #[serde(default)]
    data: Option<Vec<LogLine>>,
    #[serde(default, deserialize_with = "num::opt_u64")]
    total: Option<u64>,
}

/// Reads an exit status: `OK`, `WARNINGS: N`, or `None` for a failure.
pub fn parse_exitstatus(s: &str) -> Option<TaskOutcome> {
    let s = s.trim();
    if s == "OK" {
        return Some(TaskOutcome::Ok);
    }
    s.strip_prefix("WARNINGS:")
        .and_then(|n| n.trim().parse().ok())
        .map(TaskOutcome::Warnings)
}

impl ProxmoxClient {
    /// `GET /nodes/{node}/tasks/{upid}/status`.
    pub async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        self.send(&task_status_request(upid)).await
    }

    /// `GET /nodes/{node}/tasks/{upid}/log`: `limit` lines from line `start` (0-based).
    pub async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<TaskLog> {
        let req = task_log_request(upid, start, limit);
        let bytes = self.send_raw(&req).await?;
        let env: LogEnvelope =
            serde_json::from_slice(&bytes).map_err(|e| super::error::bad_response(&req, e))?;
        Ok(TaskLog {
            lines: env.data.unwrap_or_default(),
            total: env.total,
        })
    }

    /// The last `n` lines of a task's log (best effort: empty if it cannot be read).
    pub async fn task_log_tail(&self, upid: &Upid, n: u64) -> Vec<String> {
        let total = match self.task_log(upid, 0, 0).await {
            Ok(TaskLog { total: Some(t), .. }) => t,
            _ => 0,
        };
        let start = total.saturating_sub(n);
        match self.task_log(upid, start, n.max(1)).await {
            Ok(log) => {
                let lines: Vec<String> = log.lines.into_iter().map(|l| l.t).collect();
                let skip = lines
                    .len()
                    .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
                lines.into_iter().skip(skip).collect()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Waits for a task to finish: polls its status with a doubling pause until it stops or
    /// the deadline passes.
    ///
    /// `OK` and `WARNINGS: N` are success. Any other exit status is an error classified by the
    /// same table as synchronous errors (a lock timeout is retryable, an existing VMID is a
    /// conflict, the rest is a `Backend` error), carrying the log's last lines. A transient
    /// failure while polling is retried until the deadline; past it the result is `Timeout`.
    pub async fn wait_task(&self, upid: &Upid, opts: WaitOptions) -> Result<TaskOutcome> {
        let deadline = Instant::now() + opts.timeout;
        let mut pause = opts.initial_poll;
        loop {
            match self.task_status(upid).await {
                Ok(st) if st.status == "stopped" => {
                    let exit = st
                        .exitstatus
                        .unwrap_or_else(|| "unknown exit status".into());
                    if let Some(outcome) = parse_exitstatus(&exit) {
                        return Ok(outcome);
                    }
                    let tail = self.task_log_tail(upid, opts.log_lines).await;
                    return Err(task_failed(upid, &exit, &tail));
                }
                Ok(_) => {}
                Err(e) if super::error::is_transient(&e) => {
                    tracing::debug!(%upid, error = %e, "transient error while polling a task");
                }
                Err(e) => return Err(e.context(format!("waiting for task {upid}"))),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::timeout(format!(
                    "task {upid} ({} on {}) did not finish within {:?}; it may still be running: \
                     check its log in the Proxmox VE task list",
                    upid.task_type(),
                    upid.node(),
                    opts.timeout
                ))
                .with_backend(BACKEND));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(opts.max_poll);
        }
    }
}

fn task_failed(upid: &Upid, exit: &str, tail: &[String]) -> Error {
    let mut detail = String::new();
    if !tail.is_empty() {
        detail.push_str("; last lines of the task log:");
        for l in tail {
            detail.push_str("\n  | ");
            detail.push_str(l);
        }
    }
    ApiError::from_task_exit(exit).into_error_with(
        format!("task {upid} ({}) failed", upid.task_type()),
        &detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses() {
        assert_eq!(parse_exitstatus("OK"), Some(TaskOutcome::Ok));
        assert_eq!(
            parse_exitstatus("WARNINGS: 3"),
            Some(TaskOutcome::Warnings(3))
        );
        assert_eq!(
            parse_exitstatus("command 'lxc-start' failed: exit code 1"),
            None
        );
        assert_eq!(parse_exitstatus("WARNINGS: x"), None);
    }

    #[test]
    fn failed_task_error_carries_log_and_class() {
        let upid: Upid = "UPID:pve:00000001:00000002:00000003:vzcreate:100:root@pam:"
            .parse()
            .unwrap();
        let e = task_failed(
            &upid,
            "unable to create CT 100 - got timeout",
            &["line a".into()],
        );
        assert!(e.is_retryable());
        assert!(e.message().contains("line a"));
        let e = task_failed(&upid, "boom", &["TASK ERROR: boom".into()]);
        assert_eq!(e.kind(), paas_core::ErrorKind::Backend);
        assert!(e.message().contains("TASK ERROR: boom"));
    }
}
