//! Executing one operation: its steps, checkpointed one by one, and its compensation.
//!
//! Every step is idempotent and keyed by the operation id, so a step the checkpoint does not
//! list as done can run again safely (after a retry, or in another worker after this one died).

mod actions;
mod delete;
mod deploy;
mod guest;
mod service;

use super::lifecycle::{Admit, admit};
use super::platform::Platform;
use crate::model::{AppId, Application, EventLevel, Operation, OperationKind, OrgId};
use crate::model::{Placement, Runtime};
use crate::ports::{GuestKind, GuestRef};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What an operation has done so far; saved as its checkpoint after every step.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Progress {
    /// Steps done, in order.
    #[serde(default)]
    pub done: Vec<String>,
    /// VMID allocated for the new guest.
    #[serde(default)]
    pub vmid: Option<u32>,
    /// Node the new guest was placed on.
    #[serde(default)]
    pub node: Option<String>,
    /// IP addresses learned.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Ports allocated.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Service name applied.
    #[serde(default)]
    pub service: Option<String>,
    /// The rollout being awaited.
    #[serde(default)]
    pub rollout: Option<crate::ports::Rollout>,
    /// For suspend: whether the app was running (resume brings it back so).
    #[serde(default)]
    pub was_running: Option<bool>,
    /// Set once a permanent failure started compensation: its reason.
    #[serde(default)]
    pub compensating: Option<String>,
    /// The status rules let the operation act (a refused operation changes nothing).
    #[serde(default)]
    pub admitted: bool,
}

/// One operation in the hands of one worker.
pub(crate) struct Run {
    pub platform: Platform,
    pub op: Operation,
    pub worker: String,
    pub progress: Progress,
    /// Set when the lease was lost: nothing more may be written.
    pub lost: Arc<AtomicBool>,
    /// The app as this operation last read or wrote it: the first try of the next change to
    /// it (saves a read per change; a stale copy only costs a refused update).
    known_app: std::sync::Mutex<Option<Application>>,
}

/// How an operation ended, when it ended well.
pub(crate) enum Done {
    /// Every step ran.
    Finished(String),
    /// Nothing to do.
    Noop(&'static str),
}

impl Run {
    pub(crate) fn new(
        platform: Platform,
        op: Operation,
        worker: String,
        lost: Arc<AtomicBool>,
    ) -> Self {
        let progress = serde_json::from_value(op.checkpoint.clone()).unwrap_or_default();
        Run {
            platform,
            op,
            worker,
            progress,
            lost,
            known_app: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn org(&self) -> OrgId {
        self.op.org
    }

    pub(crate) fn app_id(&self) -> AppId {
        self.op.app
    }

    pub(crate) fn is_done(&self, step: &str) -> bool {
        self.progress.done.iter().any(|s| s == step)
    }

    /// Saves the progress and appends the event describing it, in one store write; a lost
    /// lease stops the operation with neither written.
    pub(crate) async fn save_with_event(
        &mut self,
        level: EventLevel,
        step: &str,
        message: impl Into<String>,
    ) -> Result<()> {
        let value = self.progress_value()?;
        let event = self.platform.new_event(
            self.org(),
            self.app_id(),
            Some(self.op.id),
            level,
            step,
            message,
        );
        if let Err(e) = self
            .platform
            .store()
            .checkpoint_with_event(self.op.id, &self.worker, &value, &event)
            .await
        {
            return Err(self.lease_check(e));
        }
        self.op.checkpoint = value;
        self.platform.wake();
        Ok(())
    }

    fn progress_value(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.progress)
            .map_err(|e| Error::internal(format!("cannot serialise checkpoint: {e}")))
    }

    /// A `Conflict` from a lease-checked write means the lease is lost: flag it.
    fn lease_check(&self, e: Error) -> Error {
        if e.is_conflict() {
            self.lost.store(true, Ordering::SeqCst);
        }
        e
    }

    /// Marks `step` done, and saves the checkpoint with its event.
    pub(crate) async fn mark(&mut self, step: &str, message: impl Into<String>) -> Result<()> {
        self.progress.done.push(step.to_owned());
        self.save_with_event(EventLevel::Info, step, message).await
    }

    pub(crate) async fn event(
        &self,
        level: EventLevel,
        step: &str,
        message: impl Into<String>,
    ) -> Result<()> {
        self.platform
            .emit(
                self.org(),
                self.app_id(),
                Some(self.op.id),
                level,
                step,
                message,
            )
            .await
            .map(|_| ())
    }

    /// The app, read fresh from the store.
    pub(crate) async fn app(&self) -> Result<Application> {
        let app = self
            .platform
            .store()
            .get_app(self.org(), self.app_id())
            .await?;
        self.remember(&app);
        Ok(app)
    }

    fn remember(&self, app: &Application) {
        if let Ok(mut known) = self.known_app.lock() {
            *known = Some(app.clone());
        }
    }

    /// Applies `change` to the app (see [`Platform::modify_app`]), starting from the copy
    /// this operation last saw.
    pub(crate) async fn modify_app<F>(&self, change: F) -> Result<Application>
    where
        F: FnMut(&mut Application) -> Result<()> + Send,
    {
        let known = self.known_app.lock().ok().and_then(|mut k| k.take());
        let stored = self
            .platform
            .modify_app_from(self.org(), self.app_id(), known, change)
            .await?;
        self.remember(&stored);
        Ok(stored)
    }

    /// Runs the operation's steps that are not done yet.
    pub(crate) async fn forward(&mut self) -> Result<Done> {
        let app = self.app().await?;
        if !self.is_done("begin")
            && let Admit::Noop(why) = admit(&self.op.kind, app.status, app.slug.as_str())?
        {
            return Ok(Done::Noop(why));
        }
        self.progress.admitted = true;
        match self.op.kind.clone() {
            OperationKind::Deploy { release } | OperationKind::Rollback { release } => {
                deploy::run(self, app, release).await
            }
            OperationKind::Delete => delete::run(self, app).await,
            OperationKind::Start => actions::start(self, app).await,
            OperationKind::Stop => actions::stop(self, app).await,
            OperationKind::Restart => actions::restart(self, app).await,
            OperationKind::Scale { replicas } => actions::scale(self, app, replicas).await,
            OperationKind::Suspend => actions::suspend(self, app).await,
            OperationKind::Resume => actions::resume(self, app).await,
        }
    }

    /// Undoes what a permanently failed operation did, in reverse, and leaves the app in a
    /// legal status with `reason`. Safe to run again (every undo is idempotent).
    pub(crate) async fn compensate(&mut self, reason: &str) -> Result<()> {
        match self.op.kind {
            OperationKind::Deploy { .. } | OperationKind::Rollback { .. } => {
                deploy::compensate(self, reason).await
            }
            OperationKind::Delete => delete::compensate(self, reason).await,
            _ => actions::compensate(self, reason).await,
        }
    }
}

/// The guest an app is placed on, if it has one.
pub(crate) fn guest_of(app: &Application) -> Option<GuestRef> {
    match (&app.placement, &app.runtime) {
        (Some(Placement::Guest { node, vmid, .. }), runtime) => Some(GuestRef {
            node: node.clone(),
            vmid: *vmid,
            kind: guest_kind(runtime),
        }),
        _ => None,
    }
}

pub(crate) fn guest_kind(runtime: &Runtime) -> GuestKind {
    match runtime {
        Runtime::Vm { .. } => GuestKind::Vm,
        _ => GuestKind::Lxc,
    }
}

/// The service name an app runs under.
pub(crate) fn service_of(app: &Application) -> String {
    match &app.placement {
        Some(Placement::Service { name, .. }) => name.clone(),
        _ => app.slug.as_str().to_owned(),
    }
}
