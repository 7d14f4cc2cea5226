//! Mutating calls: validate, record an operation, enqueue it, return its id at once.
//!
//! Queueing rules (per app, operations run one at a time in request order):
//! - A request that arrives while the app has unfinished operations queues behind them; its
//!   status rules are checked when a worker starts it (a refused operation then fails with the
//!   reason, and leaves the app as it is).
//! - When nothing is pending, the status rules are checked at once and an illegal request is
//!   refused with `InvalidInput` (e.g. `start` of an app never deployed).
//! - Refused at once whatever is pending: anything on a deleted app (`InvalidInput`); anything
//!   but `delete` once a delete is requested (`Conflict`: the app is going away); a second
//!   `delete` returns the pending delete's id instead of queueing another.
//! - Plan limits (`scale` beyond `max_replicas`) and unknown releases (`rollback`) are refused
//!   at once.

use super::lifecycle::admit;
use super::platform::Platform;
use super::tenants::check_replicas;
use crate::model::{
    AppId, AppStatus, Application, Operation, OperationId, OperationKind, OrgId, Release, ReleaseId,
};
use crate::{Error, Result};

impl Platform {
    async fn request(&self, org: OrgId, app_id: AppId, kind: OperationKind) -> Result<OperationId> {
        let app = self.store().get_app(org, app_id).await?;
        self.request_for(app, kind).await
    }

    /// [`Platform::request`] for an app the caller has just read.
    async fn request_for(&self, app: Application, kind: OperationKind) -> Result<OperationId> {
        let (org, app_id) = (app.org, app.id);
        if app.status == AppStatus::Deleted {
            return Err(Error::invalid_input(format!(
                "cannot {kind} app '{}': it has been deleted",
                app.slug
            )));
        }
        let recent = self.store().list_operations(org, app_id, 100).await?;
        let pending: Vec<&Operation> = recent.iter().filter(|o| !o.state.is_finished()).collect();
        if let Some(delete) = pending.iter().find(|o| o.kind == OperationKind::Delete) {
            if kind == OperationKind::Delete {
                return Ok(delete.id);
            }
            return Err(Error::conflict(format!(
                "cannot {kind} app '{}': it is being deleted (operation {})",
                app.slug, delete.id
            )));
        }
        if pending.is_empty() {
            admit(&kind, app.status, app.slug.as_str())?;
        }
        let op = Operation::new(org, app_id, kind, self.now());
        self.store().enqueue(&op).await?;
        self.wake();
        Ok(op.id)
    }

    /// Deploys the app's current configuration as a new numbered release. Returns the
    /// operation's id at once; [`Platform::wait`] waits for it.
    pub async fn deploy(&self, org: OrgId, app: AppId) -> Result<OperationId> {
        let (release, app) = self.new_release(org, app).await?;
        self.request_for(
            app,
            OperationKind::Deploy {
                release: release.number,
            },
        )
        .await
    }

    /// Records the app's next release; returns it with the app it was made from.
    async fn new_release(&self, org: OrgId, app_id: AppId) -> Result<(Release, Application)> {
        let mut last = None;
        // Two deploys requested at once may pick the same number; the store refuses the second
        // (Conflict) and it takes the next one.
        for _ in 0..8 {
            let app = self.store().get_app(org, app_id).await?;
            if matches!(app.status, AppStatus::Deleted | AppStatus::Deleting) {
                return Err(Error::invalid_input(format!(
                    "cannot deploy app '{}': it is {}",
                    app.slug, app.status
                )));
            }
            let releases = self.store().list_releases(org, app_id).await?;
            let number = releases.iter().map(|r| r.number).max().unwrap_or(0) + 1;
            let release = Release {
                id: ReleaseId::new(),
                org,
                app: app_id,
                number,
                runtime: app.runtime.clone(),
                env_digest: Self::digest_of(&app),
                replicas: app.replicas,
                plan: app.plan,
                created_at: self.now(),
            };
            match self.store().create_release(&release).await {
                Ok(()) => {
                    self.inner.immutable.keep_release(&release);
                    return Ok((release, app));
                }
                Err(e) if e.is_conflict() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::conflict("release numbers kept colliding")))
    }

    /// Starts a stopped app.
    pub async fn start(&self, org: OrgId, app: AppId) -> Result<OperationId> {
        self.request(org, app, OperationKind::Start).await
    }

    /// Stops a running app (gracefully, then forced after the stop timeout).
    pub async fn stop(&self, org: OrgId, app: AppId) -> Result<OperationId> {
        self.request(org, app, OperationKind::Stop).await
    }

    /// Stops then starts an app.
    pub async fn restart(&self, org: OrgId, app: AppId) -> Result<OperationId> {
        self.request(org, app, OperationKind::Restart).await
    }

    /// Deletes an app and releases everything it holds (guest or service, VMID, ports).
    pub async fn delete(&self, org: OrgId, app: AppId) -> Result<OperationId> {
        self.request(org, app, OperationKind::Delete).await
    }

    /// Sets the number of replicas (at most the plan's `max_replicas`; guests run exactly 1).
    pub async fn scale(&self, org: OrgId, app_id: AppId, replicas: u32) -> Result<OperationId> {
        let app = self.store().get_app(org, app_id).await?;
        let plan = self.store().get_plan(app.plan).await?;
        check_replicas(&app.runtime, &plan, replicas)?;
        self.request(org, app_id, OperationKind::Scale { replicas })
            .await
    }

    /// Deploys an earlier release again (its image or template, with the current env).
    pub async fn rollback(&self, org: OrgId, app: AppId, release: u32) -> Result<OperationId> {
        self.store().get_release(org, app, release).await?;
        self.request(org, app, OperationKind::Rollback { release })
            .await
    }

    /// Stops an app because its organisation cannot pay (billing calls this); remembers
    /// whether it was running so that [`Platform::resume`] brings it back as it was.
    pub async fn suspend(&self, org: OrgId, app: AppId) -> Result<OperationId> {
        self.request(org, app, OperationKind::Suspend).await
    }

    /// Brings back an app suspended by billing.
    pub async fn resume(&self, org: OrgId, app: AppId) -> Result<OperationId> {
        self.request(org, app, OperationKind::Resume).await
    }

    /// Waits until an operation has finished and returns it (`state` is `Succeeded` or
    /// `Failed`, with `error` set). It waits as long as it takes: wrap it in
    /// `tokio::time::timeout` to bound it, and make sure a worker runs somewhere.
    pub async fn wait(&self, org: OrgId, op: OperationId) -> Result<Operation> {
        loop {
            let current = self.store().get_operation(org, op).await?;
            if current.state.is_finished() {
                return Ok(current);
            }
            self.nap().await;
        }
    }
}
