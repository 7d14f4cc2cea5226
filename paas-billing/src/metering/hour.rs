//! `bill_hour`: charge every running app for one hour, exactly once.

use super::accounts::{self, revenue_account, transfer_code, wallet_account};
use super::{Biller, CONCURRENCY, Policy};
use futures::{StreamExt, TryStreamExt};
use paas_core::model::{
    AppId, AppStatus, Application, Money, OrgId, PlanId, Timestamp, UsageRecord,
};
use paas_core::ports::{AppQuery, Posted, Rejected, Transfer, TransferId};
use paas_core::{Error, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What one `bill_hour` run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourReport {
    /// The hour billed (its start).
    pub hour: Option<Timestamp>,
    /// Running apps found.
    pub apps: u64,
    /// Charges posted by this run.
    pub charged: u64,
    /// Charges an earlier run had already posted (nothing was charged again).
    pub already_charged: u64,
    /// Money charged by this run.
    pub amount: Money,
    /// Apps not charged because their wallet could not pay (prepaid policy); they are
    /// suspended instead.
    pub unpaid: u64,
    /// Apps not charged, with the reason (unknown plan, price overflow). Apps on a free plan
    /// are neither charged nor listed here.
    pub skipped: Vec<(AppId, String)>,
    /// Suspend operations enqueued.
    pub suspended: u64,
    /// Resume operations enqueued.
    pub resumed: u64,
}

/// The start of the hour that contains `t`.
pub fn hour_start(t: Timestamp) -> Timestamp {
    let secs = t.timestamp();
    chrono::DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0).unwrap_or(t)
}

/// One app's charge for the hour.
struct Charge {
    app: Application,
    transfer: Transfer,
}

impl Biller {
    /// Charges every app that is running for the hour containing `hour` (its start is what is
    /// recorded): plan price x replicas from the organisation's wallet to revenue, with a
    /// transfer id derived from (app, hour), and a usage record per charge. Then applies the
    /// wallet policy to every organisation charged.
    ///
    /// Under [`Policy::InArrears`] call it for the hour that just finished; under
    /// [`Policy::Prepaid`] for the hour about to start (an app whose hour cannot be paid is
    /// suspended instead of charged).
    ///
    /// Idempotent: running an hour again, or again after a crash halfway, charges nothing
    /// twice and misses nothing. Errors from the store or the ledger abort the run (re-run
    /// it); an app with an unknown plan is skipped and reported.
    pub async fn bill_hour(&self, hour: Timestamp) -> Result<HourReport> {
        let hour = hour_start(hour);
        let hour_text = hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.ensure_system_accounts().await?;
        let mut report = HourReport {
            hour: Some(hour),
            ..HourReport::default()
        };
        let mut prices: HashMap<PlanId, Option<Money>> = HashMap::new();
        let mut orgs: BTreeSet<OrgId> = BTreeSet::new();
        let mut wallets_ready: BTreeSet<OrgId> = BTreeSet::new();
        let mut unpaid: BTreeMap<OrgId, Vec<AppId>> = BTreeMap::new();

        let mut query = AppQuery {
            status: Some(AppStatus::Running),
            limit: u32::try_from(self.batch_size.min(1000)).unwrap_or(1000),
            ..AppQuery::default()
        };
        loop {
            let page = self
                .store
                .list_apps_all(&query)
                .await
                .map_err(|e| e.context(format!("listing running apps to bill {hour_text}")))?;
            let mut charges = Vec::with_capacity(page.items.len());
            for app in page.items {
                if app.status != AppStatus::Running {
                    continue;
                }
                report.apps += 1;
                let price = match prices.get(&app.plan) {
                    Some(p) => *p,
                    None => {
                        let p = match self.store.get_plan(app.plan).await {
                            Ok(plan) => Some(plan.price_per_hour),
                            Err(e) if e.is_not_found() => None,
                            Err(e) => return Err(e.context("reading a plan to bill an app")),
                        };
                        prices.insert(app.plan, p);
                        p
                    }
                };
                let Some(price) = price else {
                    report.skipped.push((
                        app.id,
                        format!("plan {} does not exist", app.plan.as_uuid()),
                    ));
                    continue;
                };
                let amount = match price.checked_mul(i64::from(app.replicas)) {
                    Ok(a) => a,
                    Err(e) => {
                        report.skipped.push((app.id, e.message().to_owned()));
                        continue;
                    }
                };
                if !amount.is_positive() {
                    // Free plan or no replicas: nothing to charge.
                    continue;
                }
                orgs.insert(app.org);
                let transfer = Transfer {
                    id: accounts::charge_transfer_id(&app.id.as_uuid(), &hour_text),
                    debit_account: wallet_account(app.org),
                    credit_account: revenue_account(),
                    amount,
                    code: transfer_code::CHARGE,
                    memo: format!("app {} hour {hour_text}", app.id.as_uuid()),
                    at: hour,
                    linked: false,
                };
                charges.push(Charge { app, transfer });
            }
            for chunk in charges.chunks(self.batch_size) {
                self.post_charges(chunk, hour, &mut wallets_ready, &mut unpaid, &mut report)
                    .await?;
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }

        // Prepaid: an app whose hour could not be paid is suspended instead of charged.
        for (org, apps) in &unpaid {
            report.suspended += self.suspend_apps(*org, apps).await?;
        }
        let enforced: Vec<_> = futures::stream::iter(orgs)
            .map(|org| self.enforce_wallet(org))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        for e in enforced {
            report.suspended += e.suspended.len() as u64;
            report.resumed += e.resumed.len() as u64;
        }
        Ok(report)
    }

    /// Posts one batch of charges and records the usage of every app charged (now or before).
    async fn post_charges(
        &self,
        chunk: &[Charge],
        hour: Timestamp,
        wallets_ready: &mut BTreeSet<OrgId>,
        unpaid: &mut BTreeMap<OrgId, Vec<AppId>>,
        report: &mut HourReport,
    ) -> Result<()> {
        let transfers: Vec<Transfer> = chunk.iter().map(|c| c.transfer.clone()).collect();
        let mut outcomes = self.ledger.post(&transfers).await?;

        // First charge of an organisation without a wallet: create the wallet, post again.
        let missing: BTreeSet<OrgId> = chunk
            .iter()
            .zip(&outcomes)
            .filter(|(c, o)| matches!(o, Err(Rejected::AccountNotFound(a)) if *a == c.transfer.debit_account))
            .map(|(c, _)| c.app.org)
            .filter(|org| !wallets_ready.contains(org))
            .collect();
        if !missing.is_empty() {
            for org in &missing {
                self.ensure_wallet(*org).await?;
                wallets_ready.insert(*org);
            }
            let retry: Vec<usize> = (0..chunk.len())
                .filter(|&i| matches!(outcomes[i], Err(Rejected::AccountNotFound(_))))
                .collect();
            let again: Vec<Transfer> = retry.iter().map(|&i| transfers[i].clone()).collect();
            let retried = self.ledger.post(&again).await?;
            for (i, outcome) in retry.into_iter().zip(retried) {
                outcomes[i] = outcome;
            }
        }

        let mut usage = Vec::with_capacity(chunk.len());
        for (charge, outcome) in chunk.iter().zip(outcomes) {
            let amount = match outcome {
                Ok(Posted::Created) => {
                    report.charged += 1;
                    report.amount = report.amount.checked_add(charge.transfer.amount)?;
                    charge.transfer.amount
                }
                Ok(Posted::Exists) => {
                    report.already_charged += 1;
                    charge.transfer.amount
                }
                Err(Rejected::ExistsWithDifferentContent) => {
                    // Charged before at another price or replica count (the plan changed
                    // between a crash and the re-run): the hour is paid, record what was
                    // charged.
                    report.already_charged += 1;
                    self.charged_amount(charge.transfer.id).await?
                }
                Err(Rejected::InsufficientFunds(_)) if self.policy == Policy::Prepaid => {
                    report.unpaid += 1;
                    unpaid
                        .entry(charge.app.org)
                        .or_default()
                        .push(charge.app.id);
                    continue;
                }
                Err(Rejected::InsufficientFunds(_)) => {
                    // An in-arrears wallet created under the prepaid policy cannot go below
                    // zero: the app is suspended by the wallet policy below.
                    report.unpaid += 1;
                    continue;
                }
                Err(why) => {
                    return Err(Error::internal(format!(
                        "the ledger refused the charge of app {} for {hour}: {why}",
                        charge.app.id.as_uuid()
                    )));
                }
            };
            usage.push(UsageRecord {
                org: charge.app.org,
                app: charge.app.id,
                hour,
                replicas: charge.app.replicas,
                amount,
                transfer_id: charge.transfer.id.to_hex(),
            });
        }
        let store = &self.store;
        futures::stream::iter(usage)
            .map(|u| async move { store.record_usage(&u).await })
            .buffer_unordered(super::CONCURRENCY)
            .try_collect::<Vec<bool>>()
            .await
            .map_err(|e| e.context("recording usage of charged apps"))?;
        Ok(())
    }

    async fn charged_amount(&self, id: TransferId) -> Result<Money> {
        self.ledger
            .transfer(id)
            .await?
            .map(|t| t.amount)
            .ok_or_else(|| Error::internal(format!("transfer {id} exists but cannot be read")))
    }
}
