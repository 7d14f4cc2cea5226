//! Operations (durable user intents) and the events they emit.

use super::{AppId, OperationId, OrgId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an operation does to its app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OperationKind {
    /// Deploy (or redeploy) the given release.
    Deploy {
        /// Release number to deploy.
        release: u32,
    },
    /// Start a stopped app.
    Start,
    /// Stop a running app.
    Stop,
    /// Stop then start.
    Restart,
    /// Delete the app and release everything it holds.
    Delete,
    /// Change the number of replicas.
    Scale {
        /// New replica count.
        replicas: u32,
    },
    /// Deploy an earlier release again.
    Rollback {
        /// Release number to go back to.
        release: u32,
    },
    /// Stop an app because its organisation's wallet is empty.
    Suspend,
    /// Bring back an app suspended by billing.
    Resume,
}

impl OperationKind {
    /// The kind's name in snake_case.
    pub fn name(&self) -> &'static str {
        match self {
            OperationKind::Deploy { .. } => "deploy",
            OperationKind::Start => "start",
            OperationKind::Stop => "stop",
            OperationKind::Restart => "restart",
            OperationKind::Delete => "delete",
            OperationKind::Scale { .. } => "scale",
            OperationKind::Rollback { .. } => "rollback",
            OperationKind::Suspend => "suspend",
            OperationKind::Resume => "resume",
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an operation is in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Waiting for a worker (new, or waiting for a retry at `not_before`).
    Queued,
    /// Leased by a worker.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with a permanent failure (after compensation).
    Failed,
}

impl OperationState {
    /// True for `Succeeded` and `Failed`.
    pub fn is_finished(self) -> bool {
        matches!(self, OperationState::Succeeded | OperationState::Failed)
    }

    /// The state's name in snake_case.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationState::Queued => "queued",
            OperationState::Running => "running",
            OperationState::Succeeded => "succeeded",
            OperationState::Failed => "failed",
        }
    }
}

impl fmt::Display for OperationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A worker's claim on a running operation; it expires unless renewed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker holding it.
    pub worker: String,
    /// When it lapses.
    pub expires_at: Timestamp,
}

/// One user intent on one app, executed durably by workers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Its id; also the idempotency key of every backend step it takes.
    pub id: OperationId,
    /// Owning organisation.
    pub org: OrgId,
    /// The app it acts on.
    pub app: AppId,
    /// What it does.
    pub kind: OperationKind,
    /// Queue state.
    pub state: OperationState,
    /// Progress saved by the engine after each step, so a resumed operation skips what is done.
    pub checkpoint: serde_json::Value,
    /// How many times a worker has started it.
    pub attempts: u32,
    /// Last error (of a retried attempt, or the final failure).
    pub error: Option<String>,
    /// Not to be started before this time (retry backoff).
    pub not_before: Timestamp,
    /// The current lease, while running.
    pub lease: Option<Lease>,
    /// When it was requested.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// When it finished.
    pub finished_at: Option<Timestamp>,
}

impl Operation {
    /// A new queued operation, due at `now`.
    pub fn new(org: OrgId, app: AppId, kind: OperationKind, now: Timestamp) -> Self {
        Operation {
            id: OperationId::new(),
            org,
            app,
            kind,
            state: OperationState::Queued,
            checkpoint: serde_json::Value::Null,
            attempts: 0,
            error: None,
            not_before: now,
            lease: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }
}

/// Severity of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventLevel {
    /// Progress.
    Info,
    /// Something went wrong but is being handled (a retry, a compensation).
    Warn,
    /// A failure.
    Error,
}

impl EventLevel {
    /// The level's name in snake_case.
    pub fn as_str(self) -> &'static str {
        match self {
            EventLevel::Info => "info",
            EventLevel::Warn => "warn",
            EventLevel::Error => "error",
        }
    }
}

/// An event to append to an app's history; the store assigns its `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Owning organisation.
    pub org: OrgId,
    /// The app.
    pub app: AppId,
    /// The operation that emitted it, if any.
    pub operation: Option<OperationId>,
    /// Time.
    pub at: Timestamp,
    /// Severity.
    pub level: EventLevel,
    /// Step name (`allocate-vmid`, `create-guest`, ...).
    pub step: String,
    /// What happened, for people.
    pub message: String,
}

/// One entry in an app's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// 1, 2, 3, ... per app, gap-free in commit order.
    pub seq: u64,
    /// Owning organisation.
    pub org: OrgId,
    /// The app.
    pub app: AppId,
    /// The operation that emitted it, if any.
    pub operation: Option<OperationId>,
    /// Time.
    pub at: Timestamp,
    /// Severity.
    pub level: EventLevel,
    /// Step name.
    pub step: String,
    /// What happened.
    pub message: String,
}
