//! The wallet policy: suspend an organisation's apps when its wallet is empty, resume what
//! billing suspended when it is paid up again. Both go through the engine's operation queue.

use super::accounts::{self};
use super::{Biller, Policy};
use paas_core::Result;
use paas_core::model::{AppId, AppStatus, Money, Operation, OperationKind, OrgId};
use paas_core::ports::AppQuery;

/// How many of an app's newest operations are checked for an unfinished suspend or resume
/// before another is enqueued.
const RECENT_OPERATIONS: u32 = 20;

/// What [`Biller::enforce_wallet`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enforcement {
    /// The wallet's balance.
    pub balance: Money,
    /// Apps for which a `Suspend` operation was enqueued.
    pub suspended: Vec<AppId>,
    /// Apps for which a `Resume` operation was enqueued.
    pub resumed: Vec<AppId>,
}

impl Biller {
    /// Applies the wallet policy to `org`:
    ///
    /// - at or below zero, its running apps are suspended ([`Policy::InArrears`]: all of them;
    ///   [`Policy::Prepaid`]: those whose current hour is not paid);
    /// - above the resume threshold, its apps in status `Suspended` are resumed. Apps its
    ///   users stopped (`Stopped`) are never touched.
    ///
    /// Suspend and resume are operations enqueued in the store for the engine's workers; an
    /// app that already has an unfinished operation of the same kind gets no second one, so
    /// calling this again is harmless.
    pub async fn enforce_wallet(&self, org: OrgId) -> Result<Enforcement> {
        let balance = self.wallet_balance(org).await?;
        let mut out = Enforcement {
            balance,
            ..Enforcement::default()
        };
        if !balance.is_positive() {
            let running = self.apps_in(org, AppStatus::Running).await?;
            let to_suspend: Vec<AppId> = match self.policy {
                Policy::InArrears => running,
                Policy::Prepaid => {
                    let hour = super::hour::hour_start(self.now());
                    let hour_text = hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    let mut unpaid = Vec::new();
                    for app in running {
                        let id = accounts::charge_transfer_id(&app.as_uuid(), &hour_text);
                        if self.ledger.transfer(id).await?.is_none() {
                            unpaid.push(app);
                        }
                    }
                    unpaid
                }
            };
            out.suspended = self
                .enqueue_for(org, &to_suspend, OperationKind::Suspend)
                .await?;
        } else if balance > self.resume_threshold {
            let suspended = self.apps_in(org, AppStatus::Suspended).await?;
            out.resumed = self
                .enqueue_for(org, &suspended, OperationKind::Resume)
                .await?;
        }
        Ok(out)
    }

    /// Enqueues `Suspend` for `apps` of `org` (those without an unfinished one); returns how
    /// many were enqueued.
    pub(crate) async fn suspend_apps(&self, org: OrgId, apps: &[AppId]) -> Result<u64> {
        Ok(self
            .enqueue_for(org, apps, OperationKind::Suspend)
            .await?
            .len() as u64)
    }

    /// Every app of `org` in `status`.
    async fn apps_in(&self, org: OrgId, status: AppStatus) -> Result<Vec<AppId>> {
        let mut query = AppQuery {
            status: Some(status),
            limit: 1000,
            ..AppQuery::default()
        };
        let mut apps = Vec::new();
        loop {
            let page = self.store.list_apps(org, &query).await.map_err(|e| {
                e.context(format!("listing the {status} apps of organisation {org}"))
            })?;
            apps.extend(
                page.items
                    .iter()
                    .filter(|a| a.status == status)
                    .map(|a| a.id),
            );
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(apps),
            }
        }
    }

    /// Enqueues an operation of `kind` for each app that has no unfinished one of that kind.
    async fn enqueue_for(
        &self,
        org: OrgId,
        apps: &[AppId],
        kind: OperationKind,
    ) -> Result<Vec<AppId>> {
        let mut enqueued = Vec::new();
        for &app in apps {
            let recent = self
                .store
                .list_operations(org, app, RECENT_OPERATIONS)
                .await?;
            if recent
                .iter()
                .any(|op| op.kind == kind && !op.state.is_finished())
            {
                continue;
            }
            let op = Operation::new(org, app, kind.clone(), self.now());
            self.store.enqueue(&op).await.map_err(|e| {
                e.context(format!(
                    "enqueueing {kind} of app {} (wallet policy)",
                    app.as_uuid()
                ))
            })?;
            tracing::info!(%org, app = %app.as_uuid(), %kind, "wallet policy enqueued an operation");
            enqueued.push(app);
        }
        Ok(enqueued)
    }
}
