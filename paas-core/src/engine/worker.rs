//! Workers: lease operations from the store's queue and execute them.

use super::platform::Platform;
use super::saga::{Done, Run};
use crate::model::{EventLevel, Operation, OperationKind};
use crate::{Error, ErrorKind, Result};
use futures::FutureExt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Executes queued operations. Run any number, in any process that shares the store: the
/// queue hands each operation to one worker at a time, a worker renews its lease while it
/// works, and an operation whose worker died is resumed by another once the lease expires.
///
/// ```no_run
/// # async fn demo(platform: paas_core::engine::Platform) -> paas_core::Result<()> {
/// let worker = platform.worker();
/// worker.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Worker {
    platform: Platform,
    id: String,
    lanes: Arc<AtomicU64>,
}

/// What [`Worker::step`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    /// No operation was due.
    Idle,
    /// An operation finished successfully.
    Succeeded(Operation),
    /// An operation hit a retryable error and was put back in the queue.
    Retrying(Operation),
    /// An operation failed permanently (after compensation).
    Failed(Operation),
    /// The worker lost the lease (it was too slow or presumed dead) and stopped without
    /// writing; another worker carries on.
    LeaseLost(Operation),
}

/// Aborts the heartbeat task when the execution ends or is dropped (a crashed worker).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Platform {
    /// A new worker with a unique id (`<host>-<pid>-<random>`).
    pub fn worker(&self) -> Worker {
        let id = format!(
            "worker-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Worker {
            platform: self.clone(),
            id,
            lanes: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Worker {
    /// The worker's id, as recorded in the leases it holds.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Leases the next due operation, if any, and executes it to the end of this attempt.
    pub async fn step(&self) -> Result<StepOutcome> {
        self.step_as(&self.id).await
    }

    /// Executes due operations one after another until none is due; returns how many
    /// attempts it made. Operations waiting for a retry later stay queued.
    pub async fn run_until_idle(&self) -> Result<usize> {
        let mut n = 0;
        loop {
            match self.step().await? {
                StepOutcome::Idle => return Ok(n),
                _ => n += 1,
            }
        }
    }

    /// Executes operations until `shutdown` completes, with up to `worker_concurrency`
    /// operations at once; idle, it waits for new work. On shutdown it stops taking work and
    /// finishes the attempts in hand. Store errors are logged and retried after a pause.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) {
        let shutdown = shutdown.boxed().shared();
        let lanes = self.platform.tunables().worker_concurrency;
        let loops = (0..lanes).map(|_| {
            let lane = self.lanes.fetch_add(1, Ordering::Relaxed);
            let id = format!("{}/{lane}", self.id);
            let shutdown = shutdown.clone();
            async move {
                loop {
                    if shutdown.clone().now_or_never().is_some() {
                        return;
                    }
                    let outcome = self.step_as(&id).await;
                    let idle = match outcome {
                        Ok(StepOutcome::Idle) => true,
                        Ok(_) => false,
                        Err(e) => {
                            tracing::warn!(worker = %id, error = %e, "worker step failed; pausing");
                            true
                        }
                    };
                    if idle {
                        let poll = self.platform.tunables().poll_interval;
                        tokio::select! {
                            _ = shutdown.clone() => return,
                            _ = self.platform.store().wait_for_work(poll) => {}
                        }
                    }
                }
            }
        });
        futures::future::join_all(loops).await;
    }

    async fn step_as(&self, worker: &str) -> Result<StepOutcome> {
        let p = &self.platform;
        let lease_for = p.tunables().lease_duration;
        let Some(op) = p.store().lease(worker, p.now(), lease_for).await? else {
            return Ok(StepOutcome::Idle);
        };
        let lost = Arc::new(AtomicBool::new(false));
        let lost_signal = Arc::new(tokio::sync::Notify::new());
        let _heartbeat = AbortOnDrop(tokio::spawn(heartbeat(
            p.clone(),
            op.clone(),
            worker.to_owned(),
            lost.clone(),
            lost_signal.clone(),
        )));
        let mut run = Run::new(p.clone(), op.clone(), worker.to_owned(), lost.clone());
        let lost_wait = lost_signal.notified();
        let outcome = tokio::select! {
            r = self.attempt(&mut run) => r,
            _ = lost_wait => Err(Error::conflict("lease lost")),
        };
        if lost.load(Ordering::SeqCst) {
            tracing::warn!(worker, op = %op.id, "lease lost; leaving the operation to another worker");
            return Ok(StepOutcome::LeaseLost(op));
        }
        let outcome = match outcome {
            Ok(o) => o,
            // A write refused because someone else holds the lease now.
            Err(e) if e.is_conflict() => return Ok(StepOutcome::LeaseLost(op)),
            Err(e) => return Err(e),
        };
        p.wake();
        let current = p.store().get_operation(op.org, op.id).await.unwrap_or(op);
        Ok(match outcome {
            Attempt::Succeeded => StepOutcome::Succeeded(current),
            Attempt::Retrying => StepOutcome::Retrying(current),
            Attempt::Failed => StepOutcome::Failed(current),
        })
    }

    /// One attempt: the steps, then complete, retry or compensate-and-fail. Errors returned
    /// from here are store errors while recording the outcome.
    async fn attempt(&self, run: &mut Run) -> Result<Attempt> {
        let p = &self.platform;
        let op = run.op.clone();
        let worker = run.worker.clone();
        let result = match run.progress.compensating.clone() {
            Some(reason) => Err(Error::backend_error(reason).retryable(false)),
            None => {
                if op.attempts <= 1 && run.progress.done.is_empty() {
                    run.event(EventLevel::Info, "queued", format!("{} started", op.kind))
                        .await?;
                }
                run.forward().await
            }
        };
        let err = match result {
            Ok(done) => {
                let msg = match done {
                    Done::Finished(m) => m,
                    Done::Noop(why) => format!("nothing to do: {why}"),
                };
                p.store().complete(op.id, &worker, p.now()).await?;
                run.event(EventLevel::Info, "done", msg).await?;
                return Ok(Attempt::Succeeded);
            }
            Err(e) => e,
        };
        if run.lost.load(Ordering::SeqCst) {
            return Err(err);
        }
        let policy = p.tunables().retry;
        let attempts = op.attempts.max(1);
        // A delete is the user's last word about an app: retryable failures never end it, and
        // a backend's own failure (a destroy task that failed) is tried again like a
        // retryable one before the delete gives up.
        let again = if op.kind == OperationKind::Delete {
            err.is_retryable() || (err.kind() == ErrorKind::Backend && attempts < policy.attempts)
        } else {
            err.is_retryable() && attempts < policy.attempts
        };
        if run.progress.compensating.is_none() && again {
            let delay = policy.backoff(attempts);
            let at = p.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            p.store()
                .retry_at(op.id, &worker, at, &err.to_string())
                .await?;
            run.event(
                EventLevel::Warn,
                "retry",
                format!("attempt {attempts} failed ({err}); retrying in {delay:.1?}"),
            )
            .await?;
            return Ok(Attempt::Retrying);
        }
        // Permanent: undo what was done, then fail. If the undo itself fails, keep the reason
        // in the checkpoint and retry the undo later: nothing may be left behind.
        let reason = run
            .progress
            .compensating
            .clone()
            .unwrap_or_else(|| err.to_string());
        if run.progress.compensating.is_none() && run.progress.admitted {
            run.progress.compensating = Some(reason.clone());
            run.save_with_event(
                EventLevel::Error,
                "failed",
                format!("{} failed: {reason}; undoing", op.kind),
            )
            .await?;
        }
        if let Err(undo) = run.compensate(&reason).await {
            if run.lost.load(Ordering::SeqCst) {
                return Err(undo);
            }
            let delay = policy.backoff(attempts.min(6));
            let at = p.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            p.store()
                .retry_at(
                    op.id,
                    &worker,
                    at,
                    &format!("{reason} (undo pending: {undo})"),
                )
                .await?;
            run.event(
                EventLevel::Warn,
                "undo",
                format!("undo failed ({undo}); retrying in {delay:.1?}"),
            )
            .await?;
            return Ok(Attempt::Retrying);
        }
        p.store().fail(op.id, &worker, p.now(), &reason).await?;
        run.event(
            EventLevel::Error,
            "done",
            format!("{} failed: {reason}", op.kind),
        )
        .await?;
        Ok(Attempt::Failed)
    }
}

enum Attempt {
    Succeeded,
    Retrying,
    Failed,
}

async fn heartbeat(
    p: Platform,
    op: Operation,
    worker: String,
    lost: Arc<AtomicBool>,
    signal: Arc<tokio::sync::Notify>,
) {
    let lease_for = p.tunables().lease_duration;
    let every = lease_for / 3;
    loop {
        tokio::time::sleep(every).await;
        match p
            .store()
            .heartbeat(op.id, &worker, p.now(), lease_for)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_conflict() => {
                lost.store(true, Ordering::SeqCst);
                signal.notify_one();
                return;
            }
            Err(e) => tracing::warn!(op = %op.id, error = %e, "lease renewal failed; will retry"),
        }
    }
}
