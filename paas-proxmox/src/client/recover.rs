//! Recovering a task whose response was lost.
//!
//! A POST that starts a task (create, clone, start, stop, destroy, ...) can run on the node
//! while its response never arrives: pveproxy's proxied request times out (596), the
//! connection drops, or the client's own timeout fires. Posting again would do the work twice
//! (a second clone, a second start after a stop). Instead the client looks in the node's task
//! list for a task of that type and id that its own user started at or after the request, and
//! returns that UPID. It never posts twice. When it finds none (the call did not run) or more
//! than one (it cannot tell which is its own), it returns the original, retryable error.
//!
//! "At or after the request" is in the server's clock: the client keeps the offset of the
//! server's `Date` header to its own clock. UPIDs it was already handed are never taken, so an
//! earlier task of the same kind in the same second is not mistaken for the lost one.

use super::error::{ErrorClass, class_of};
use super::task_list::{TaskFilter, TaskSource};
use super::{ApiRequest, Auth, ProxmoxClient, Upid};
use paas_core::Result;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many UPIDs the client remembers as its own.
const SEEN_MAX: usize = 1024;

/// The task a request starts: where, of which type, about what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskKey<'a> {
    /// The node that runs it.
    pub node: &'a str,
    /// `vzcreate`, `qmstart`, ...
    pub task_type: &'a str,
    /// The VMID it is about (the source VM for a clone).
    pub id: u32,
}

/// How the client looks for a task whose response was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskRecovery {
    /// How many times to read the task list (0 turns recovery off).
    pub lookups: u32,
    /// The pause between two lookups (the node may still be forking the worker).
    pub pause: Duration,
}

impl Default for TaskRecovery {
    /// Two lookups, 300 ms apart.
    fn default() -> Self {
        TaskRecovery {
            lookups: 2,
            pause: Duration::from_millis(300),
        }
    }
}

/// What the client knows about the server's clock and its own tasks.
#[derive(Debug, Default)]
pub(crate) struct RecoveryState {
    /// Server time minus local time, seconds (from the last `Date` header).
    offset: AtomicI64,
    /// UPIDs this client was handed.
    seen: Mutex<VecDeque<String>>,
}

fn local_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl RecoveryState {
    /// Notes a response's `Date` header (RFC 7231 `Tue, 15 Nov 1994 08:12:31 GMT`).
    pub(crate) fn observe_date(&self, date: &str) {
        if let Ok(t) = chrono::DateTime::parse_from_rfc2822(date) {
            self.offset
                .store(t.timestamp() - local_now(), Ordering::Relaxed);
        }
    }

    /// The server's time now, as well as the client can tell.
    pub(crate) fn server_now(&self) -> i64 {
        local_now() + self.offset.load(Ordering::Relaxed)
    }

    /// Remembers a UPID as this client's.
    pub(crate) fn remember(&self, upid: &Upid) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.push_back(upid.to_string());
        while seen.len() > SEEN_MAX {
            seen.pop_front();
        }
    }

    fn has_seen(&self, upid: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().any(|u| u == upid)
    }
}

/// Whether a failure may have come after the server acted: no response, or a proxy's.
fn response_may_be_lost(e: &paas_core::Error) -> bool {
    matches!(
        class_of(e),
        Some(ErrorClass::Unreachable | ErrorClass::RequestTimeout)
    )
}

impl ProxmoxClient {
    /// Sends a request that starts a task and returns its UPID; if the response is lost,
    /// finds the task instead of posting again (see the module docs).
    pub(crate) async fn send_task(&self, req: &ApiRequest, key: TaskKey<'_>) -> Result<Upid> {
        let recovery = &self.inner.recovery;
        // The task's start time is at or after this (1 s margin for the clocks' rounding).
        let since = recovery.server_now() - 1;
        match self.send::<Upid>(req).await {
            Ok(upid) => {
                recovery.remember(&upid);
                Ok(upid)
            }
            Err(e) if response_may_be_lost(&e) => match self.find_lost_task(key, since).await {
                Some(upid) => {
                    tracing::info!(%upid, request = %req, error = %e,
                        "the response was lost; found the task it started");
                    recovery.remember(&upid);
                    Ok(upid)
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The one task matching `key` that this client's user started since `since` and that the
    /// client has not been handed yet.
    async fn find_lost_task(&self, key: TaskKey<'_>, since: i64) -> Option<Upid> {
        let cfg = self.inner.config.task_recovery;
        let (user, token) = match &self.inner.config.auth {
            Auth::Token { user, token_id, .. } => (user.as_str(), Some(token_id.as_str())),
            Auth::Password { username, .. } => (username.as_str(), None),
        };
        let filter = TaskFilter {
            vmid: Some(key.id),
            typefilter: Some(key.task_type.to_owned()),
            source: Some(TaskSource::All),
            since: Some(since),
            limit: Some(50),
            ..TaskFilter::default()
        };
        for n in 0..cfg.lookups {
            if n > 0 {
                tokio::time::sleep(cfg.pause).await;
            }
            let Ok(list) = self.list_tasks(key.node, &filter).await else {
                continue;
            };
            let ours: Vec<Upid> = list
                .tasks
                .into_iter()
                .filter(|t| {
                    t.user.as_deref() == Some(user)
                        && t.tokenid.as_deref() == token
                        && t.upid.task_type() == key.task_type
                        && t.upid.id() == key.id.to_string()
                        && !self.inner.recovery.has_seen(&t.upid.to_string())
                })
                .map(|t| t.upid)
                .collect();
            match ours.len() {
                0 => continue,
                1 => return ours.into_iter().next(),
                _ => {
                    tracing::warn!(
                        node = key.node,
                        task_type = key.task_type,
                        id = key.id,
                        "several tasks could be the one whose response was lost; not guessing"
                    );
                    return None;
                }
            }
        }
        None
    }
}
