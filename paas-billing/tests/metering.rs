//! Metering over 48 hours with ~20 apps in three organisations, on every ledger backend and
//! under both policies, with crashes injected mid-run (the ledger applies part of a batch,
//! then the run dies) and hours billed twice: every (app, hour) is charged exactly once,
//! totals are price x replicas x hours, and suspension and resume happen when they should.

mod common;

use async_trait::async_trait;
use paas_billing::{Biller, Policy, revenue_account, wallet_account};
use paas_core::memory::{ManualClock, MemoryStore};
use paas_core::model::{
    AppId, AppStatus, Application, Money, OperationKind, OrgId, Organization, Plan, PlanId,
    Runtime, Timestamp,
};
use paas_core::ports::{
    Account, AccountId, Balance, Clock, Ledger, Posted, Store, Transfer, TransferId,
    TransferOutcome,
};
use paas_core::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A ledger that "crashes" once armed: it applies only the first `n` transfers of the batch
/// that crosses the budget, then fails, as a process dying halfway through a run would.
#[derive(Debug)]
struct CrashingLedger {
    inner: Arc<dyn Ledger>,
    budget: Mutex<Option<usize>>,
}

impl CrashingLedger {
    fn arm(&self, after_transfers: usize) {
        *self.budget.lock().unwrap() = Some(after_transfers);
    }
}

#[async_trait]
impl Ledger for CrashingLedger {
    async fn create_account(&self, account: &Account) -> Result<Posted> {
        self.inner.create_account(account).await
    }
    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        self.inner.account(id).await
    }
    async fn post(&self, transfers: &[Transfer]) -> Result<Vec<TransferOutcome>> {
        let budget = *self.budget.lock().unwrap();
        match budget {
            Some(left) if left < transfers.len() => {
                *self.budget.lock().unwrap() = None;
                self.inner.post(&transfers[..left]).await?;
                Err(Error::unavailable(
                    "injected crash in the middle of a batch",
                ))
            }
            Some(left) => {
                *self.budget.lock().unwrap() = Some(left - transfers.len());
                self.inner.post(transfers).await
            }
            None => self.inner.post(transfers).await,
        }
    }
    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>> {
        self.inner.transfer(id).await
    }
    async fn balance(&self, account: AccountId) -> Result<Balance> {
        self.inner.balance(account).await
    }
    async fn history(&self, a: AccountId, from: Timestamp, to: Timestamp) -> Result<Vec<Transfer>> {
        self.inner.history(a, from, to).await
    }
}

fn t0() -> Timestamp {
    "2026-03-01T00:00:00Z".parse().unwrap()
}

fn hour(h: i64) -> Timestamp {
    t0() + chrono::Duration::hours(h)
}

fn units(micros: i64) -> Money {
    Money::from_micros(micros)
}

struct World {
    store: Arc<MemoryStore>,
    clock: ManualClock,
    ledger: Arc<CrashingLedger>,
    biller: Biller,
    plans: BTreeMap<PlanId, Money>,
    /// org name -> (org id, its apps)
    orgs: BTreeMap<&'static str, (OrgId, Vec<Application>)>,
    /// The app its owner stopped by hand.
    stopped: AppId,
}

async fn world(ledger: Arc<dyn Ledger>, policy: Policy) -> World {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::at(t0());
    let ledger = Arc::new(CrashingLedger {
        inner: ledger,
        budget: Mutex::new(None),
    });
    let biller = Biller::new(
        store.clone(),
        ledger.clone(),
        Arc::new(clock.clone()),
        policy,
    )
    .with_batch_size(4);
    let mut plans = BTreeMap::new();
    let mut plan_ids = Vec::new();
    for (name, price) in [("small", 10_000), ("medium", 45_000), ("large", 250_000)] {
        let plan = Plan {
            id: PlanId::new(),
            name: name.into(),
            cpu: 1,
            memory_mb: 512,
            disk_gb: 8,
            price_per_hour: units(price),
            max_replicas: 5,
        };
        store.create_plan(&plan).await.unwrap();
        plans.insert(plan.id, plan.price_per_hour);
        plan_ids.push(plan.id);
    }
    let mut orgs = BTreeMap::new();
    let mut stopped = None;
    for (name, n_apps) in [("rich", 8), ("poor", 6), ("broke", 5)] {
        let org = Organization {
            id: OrgId::new(),
            name: name.into(),
            slug: name.parse().unwrap(),
            created_at: t0(),
        };
        store.create_org(&org).await.unwrap();
        let mut apps = Vec::new();
        for i in 0..n_apps {
            let status = if name == "broke" && i == 0 {
                AppStatus::Stopped
            } else {
                AppStatus::Running
            };
            let app = Application {
                id: AppId::new(),
                org: org.id,
                name: format!("{name}-{i}"),
                slug: format!("{name}-{i}").parse().unwrap(),
                runtime: Runtime::Container {
                    image: "nginx".into(),
                },
                plan: plan_ids[i % 3],
                replicas: 1 + (i as u32 % 3),
                env: BTreeMap::new(),
                domains: vec![],
                health_check: None,
                listen_port: None,
                status,
                status_reason: None,
                placement: None,
                ports: vec![],
                current_release: Some(1),
                created_at: t0(),
                updated_at: t0(),
                version: 1,
            };
            store.create_app(&app).await.unwrap();
            if status == AppStatus::Stopped {
                stopped = Some(app.id);
            }
            apps.push(app);
        }
        orgs.insert(name, (org.id, apps));
    }
    World {
        store,
        clock,
        ledger,
        biller,
        plans,
        orgs,
        stopped: stopped.unwrap(),
    }
}

impl World {
    fn price(&self, app: &Application) -> Money {
        self.plans[&app.plan]
            .checked_mul(i64::from(app.replicas))
            .unwrap()
    }

    /// What an organisation's running apps cost per hour.
    fn hourly(&self, org: &str) -> i64 {
        self.orgs[org]
            .1
            .iter()
            .filter(|a| a.id != self.stopped)
            .map(|a| self.price(a).micros())
            .sum()
    }

    /// Does what the engine's workers do with billing's operations.
    async fn run_engine(&self) {
        let now = self.clock.now();
        while let Some(op) = self
            .store
            .lease("sim-engine", now, Duration::from_secs(60))
            .await
            .unwrap()
        {
            let mut app = self.store.get_app(op.org, op.app).await.unwrap();
            match op.kind {
                OperationKind::Suspend => {
                    assert_eq!(
                        app.status,
                        AppStatus::Running,
                        "billing suspends only running apps"
                    );
                    app.status = AppStatus::Suspended;
                }
                OperationKind::Resume => {
                    assert_eq!(
                        app.status,
                        AppStatus::Suspended,
                        "billing resumes only suspended apps"
                    );
                    app.status = AppStatus::Running;
                }
                other => panic!("billing enqueued {other}"),
            }
            self.store.update_app(&app).await.unwrap();
            self.store.complete(op.id, "sim-engine", now).await.unwrap();
        }
    }

    async fn statuses(&self, org: &str) -> BTreeMap<AppId, AppStatus> {
        let mut out = BTreeMap::new();
        for app in &self.orgs[org].1 {
            out.insert(
                app.id,
                self.store.get_app(app.org, app.id).await.unwrap().status,
            );
        }
        out
    }

    /// Bills `h`, once with a crash injected after `crash_after` transfers (then again), and
    /// at some hours a third time: re-runs must change nothing.
    async fn bill(&self, h: i64, crash_after: Option<usize>) {
        if let Some(n) = crash_after {
            self.ledger.arm(n);
            let err = self.biller.bill_hour(hour(h)).await.unwrap_err();
            assert!(err.is_retryable(), "{err:?}");
        }
        let report = self.biller.bill_hour(hour(h)).await.unwrap();
        if crash_after.is_some() {
            assert!(
                report.already_charged > 0,
                "the crashed run had charged some: {report:?}"
            );
        }
        if h % 5 == 0 {
            let again = self.biller.bill_hour(hour(h)).await.unwrap();
            assert_eq!(again.charged, 0, "a re-run charged again: {again:?}");
        }
    }
}

/// Which hours each app was charged for, from the usage records, checked against the ledger.
async fn charged_hours(w: &World) -> BTreeMap<AppId, BTreeSet<i64>> {
    let mut out: BTreeMap<AppId, BTreeSet<i64>> = BTreeMap::new();
    let mut total = 0i64;
    for (org, apps) in w.orgs.values() {
        for u in w.store.list_usage(*org, hour(0), hour(100)).await.unwrap() {
            let app = apps.iter().find(|a| a.id == u.app).unwrap();
            assert_eq!(u.amount, w.price(app), "usage amount = price x replicas");
            assert_eq!(u.replicas, app.replicas);
            let t = w
                .ledger
                .transfer(TransferId(
                    u128::from_str_radix(&u.transfer_id, 16).unwrap(),
                ))
                .await
                .unwrap();
            let t = t.expect("every usage record has its ledger transfer");
            assert_eq!(
                (t.amount, t.debit_account, t.credit_account),
                (u.amount, wallet_account(*org), revenue_account())
            );
            total += u.amount.micros();
            let h = (u.hour - t0()).num_hours();
            assert!(
                out.entry(u.app).or_default().insert(h),
                "an (app, hour) recorded twice"
            );
        }
    }
    // Every charge in the ledger has its usage record: revenue is exactly their sum.
    let revenue = w.ledger.balance(revenue_account()).await.unwrap();
    assert_eq!(
        revenue.credits.micros(),
        total,
        "revenue = sum of usage records"
    );
    assert_eq!(revenue.debits, Money::ZERO);
    out
}

fn span(r: std::ops::RangeInclusive<i64>) -> BTreeSet<i64> {
    r.collect()
}

async fn in_arrears(ledger: Arc<dyn Ledger>) {
    let w = world(ledger, Policy::InArrears).await;
    let (rich, poor, broke) = (w.orgs["rich"].0, w.orgs["poor"].0, w.orgs["broke"].0);
    let poor_hourly = w.hourly("poor");
    let broke_hourly = w.hourly("broke");
    w.biller
        .top_up(rich, Money::from_units(10_000).unwrap(), "rich-1")
        .await
        .unwrap();
    // Ten hours and a half of the poor org's apps: at zero or below after the 11th charge.
    w.biller
        .top_up(poor, units(poor_hourly * 10 + poor_hourly / 2), "poor-1")
        .await
        .unwrap();
    let crashes: BTreeMap<i64, usize> = [(3, 6), (11, 2), (30, 9), (45, 1)].into();
    for h in 0..48 {
        // Top-ups arrive during the hour; the hour is billed just after it ends.
        w.clock.set(hour(h) + chrono::Duration::minutes(30));
        match h {
            30 => {
                w.biller
                    .top_up(poor, Money::from_units(1_000).unwrap(), "poor-2")
                    .await
                    .unwrap();
            }
            40 => {
                // Half the debt: still at or below zero, nothing is resumed.
                let debt = -w.biller.wallet_balance(broke).await.unwrap().micros();
                let t = w
                    .biller
                    .top_up(broke, units(debt / 2), "broke-1")
                    .await
                    .unwrap();
                assert!(t.enforcement.resumed.is_empty());
            }
            44 => {
                w.biller
                    .top_up(broke, Money::from_units(1_000).unwrap(), "broke-2")
                    .await
                    .unwrap();
                // The same payment again changes nothing.
                let again = w
                    .biller
                    .top_up(broke, Money::from_units(1_000).unwrap(), "broke-2")
                    .await
                    .unwrap();
                assert_eq!(again.posted, Posted::Exists);
            }
            _ => {}
        }
        w.run_engine().await;
        w.clock.set(hour(h + 1) + chrono::Duration::minutes(5));
        w.bill(h, crashes.get(&h).copied()).await;
        w.run_engine().await;

        // After each hour: an org at or below zero has nothing running; one above has
        // nothing suspended; the app stopped by hand stays stopped.
        for name in ["rich", "poor", "broke"] {
            let balance = w.biller.wallet_balance(w.orgs[name].0).await.unwrap();
            for (app, status) in w.statuses(name).await {
                if app == w.stopped {
                    assert_eq!(status, AppStatus::Stopped);
                } else if balance.is_positive() {
                    assert_eq!(
                        status,
                        AppStatus::Running,
                        "{name} hour {h} balance {balance}"
                    );
                } else {
                    assert_eq!(
                        status,
                        AppStatus::Suspended,
                        "{name} hour {h} balance {balance}"
                    );
                }
            }
        }
    }

    let hours = charged_hours(&w).await;
    for (name, expected) in [
        ("rich", span(0..=47)),
        ("poor", &span(0..=10) | &span(30..=47)),
        ("broke", &span(0..=0) | &span(44..=47)),
    ] {
        for app in &w.orgs[name].1 {
            if app.id == w.stopped {
                assert!(!hours.contains_key(&app.id), "a stopped app was charged");
                continue;
            }
            assert_eq!(
                hours.get(&app.id),
                Some(&expected),
                "{name} app {}",
                app.name
            );
        }
    }
    // Wallet = top-ups - charges.
    let poor_balance = w.biller.wallet_balance(poor).await.unwrap().micros();
    assert_eq!(
        poor_balance,
        poor_hourly * 10 + poor_hourly / 2 + 1_000_000_000 - poor_hourly * 29
    );
    let broke_balance = w.biller.wallet_balance(broke).await.unwrap().micros();
    assert_eq!(
        broke_balance,
        -broke_hourly + broke_hourly / 2 + 1_000_000_000 - broke_hourly * 4
    );

    // Each org's operations: the poor apps were suspended once and resumed once; the stopped
    // app got nothing.
    for app in &w.orgs["poor"].1 {
        let ops = w.store.list_operations(poor, app.id, 50).await.unwrap();
        let kinds: Vec<_> = ops.iter().map(|o| o.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![OperationKind::Resume, OperationKind::Suspend],
            "{}",
            app.name
        );
    }
    let ops = w.store.list_operations(broke, w.stopped, 50).await.unwrap();
    assert!(
        ops.is_empty(),
        "billing touched an app its owner stopped: {ops:?}"
    );

    // The statement of the poor org over the whole period adds up.
    let s = w.biller.statement(poor, hour(0), hour(48)).await.unwrap();
    assert_eq!(s.opening_balance, Money::ZERO);
    assert_eq!(s.charges.len(), 6 * 29);
    assert_eq!(s.total_charged.micros(), poor_hourly * 29);
    assert_eq!(s.top_ups.len(), 2);
    assert_eq!(s.closing_balance.micros(), poor_balance);
    assert_eq!(
        s.closing_balance,
        s.opening_balance
            .checked_add(s.total_topped_up)
            .unwrap()
            .checked_sub(s.total_charged)
            .unwrap()
    );
    // A window in the middle: opening balance carries what came before.
    let mid = w.biller.statement(poor, hour(5), hour(8)).await.unwrap();
    assert_eq!(
        mid.opening_balance.micros(),
        poor_hourly * 10 + poor_hourly / 2 - poor_hourly * 5
    );
    assert_eq!(mid.total_charged.micros(), poor_hourly * 3);
    assert!(mid.top_ups.is_empty());
}

async fn prepaid(ledger: Arc<dyn Ledger>) {
    let w = world(ledger, Policy::Prepaid).await;
    let (rich, poor, broke) = (w.orgs["rich"].0, w.orgs["poor"].0, w.orgs["broke"].0);
    let poor_hourly = w.hourly("poor");
    let cheapest_poor = w.orgs["poor"]
        .1
        .iter()
        .map(|a| w.price(a).micros())
        .min()
        .unwrap();
    w.biller
        .top_up(rich, Money::from_units(10_000).unwrap(), "rich-1")
        .await
        .unwrap();
    w.biller
        .top_up(poor, units(poor_hourly * 10 + poor_hourly / 2), "poor-1")
        .await
        .unwrap();
    let crashes: BTreeMap<i64, usize> = [(2, 5), (10, 3), (30, 7), (46, 2)].into();
    let mut poor_seen_suspended = None;
    for h in 0..48 {
        // Top-ups just before the hour starts; the coming hour is billed as it starts.
        w.clock.set(hour(h) + chrono::Duration::seconds(1));
        match h {
            30 => {
                w.biller
                    .top_up(poor, Money::from_units(1_000).unwrap(), "poor-2")
                    .await
                    .unwrap();
            }
            44 => {
                w.biller
                    .top_up(broke, Money::from_units(1_000).unwrap(), "broke-1")
                    .await
                    .unwrap();
            }
            _ => {}
        }
        w.run_engine().await;
        let running_before = w.statuses("poor").await;
        w.clock.set(hour(h) + chrono::Duration::seconds(5));
        w.bill(h, crashes.get(&h).copied()).await;
        w.run_engine().await;

        // A prepaid wallet never goes below zero.
        for name in ["rich", "poor", "broke"] {
            let b = w.biller.wallet_balance(w.orgs[name].0).await.unwrap();
            assert!(!b.is_negative(), "{name} went to {b} at hour {h}");
        }
        // Every poor app running now has paid for this hour; the others were suspended
        // instead of charged.
        let after = w.statuses("poor").await;
        for app in &w.orgs["poor"].1 {
            let charged = w
                .ledger
                .transfer(charge_id(app.id, h))
                .await
                .unwrap()
                .is_some();
            match (running_before[&app.id], after[&app.id]) {
                (AppStatus::Running, AppStatus::Running) => {
                    assert!(charged, "{} ran unpaid at {h}", app.name)
                }
                (AppStatus::Running, AppStatus::Suspended) => {
                    assert!(!charged, "{} was charged and suspended at {h}", app.name);
                    poor_seen_suspended.get_or_insert(h);
                }
                (AppStatus::Suspended, AppStatus::Suspended) => assert!(!charged),
                (b, a) => panic!("{}: {b} -> {a} at hour {h}", app.name),
            }
        }
        if (16..30).contains(&h) {
            assert!(
                after.values().all(|s| *s == AppStatus::Suspended),
                "hour {h}: {after:?}"
            );
        }
        if h >= 30 {
            assert!(
                after.values().all(|s| *s == AppStatus::Running),
                "hour {h}: {after:?}"
            );
        }
    }
    // The poor org ran out after its tenth paid hour (the leftover half hour may pay some
    // cheap apps a little longer, never more than it holds).
    let first = poor_seen_suspended.unwrap();
    assert!(
        (10..=10 + poor_hourly / cheapest_poor).contains(&first),
        "first suspension at {first}"
    );

    let hours = charged_hours(&w).await;
    for app in &w.orgs["rich"].1 {
        assert_eq!(hours.get(&app.id), Some(&span(0..=47)), "{}", app.name);
    }
    for app in &w.orgs["poor"].1 {
        let h = &hours[&app.id];
        assert!(
            span(0..=9).is_subset(h) && span(30..=47).is_subset(h),
            "{}: {h:?}",
            app.name
        );
        assert!(h.iter().all(|x| *x < 16 || *x >= 30), "{}: {h:?}", app.name);
    }
    for app in &w.orgs["broke"].1 {
        if app.id == w.stopped {
            assert!(!hours.contains_key(&app.id));
            assert!(
                w.store
                    .list_operations(broke, app.id, 50)
                    .await
                    .unwrap()
                    .is_empty()
            );
        } else {
            assert_eq!(hours.get(&app.id), Some(&span(44..=47)), "{}", app.name);
        }
    }
    let s = w.biller.statement(poor, hour(0), hour(48)).await.unwrap();
    assert_eq!(
        s.closing_balance,
        s.total_topped_up.checked_sub(s.total_charged).unwrap()
    );
    assert_eq!(
        s.closing_balance,
        w.biller.wallet_balance(poor).await.unwrap()
    );
}

fn charge_id(app: AppId, h: i64) -> TransferId {
    let text = hour(h).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    TransferId::derive(&[b"charge", app.as_uuid().as_bytes(), text.as_bytes()])
}

#[tokio::test]
async fn in_arrears_on_memory() {
    in_arrears(common::memory()).await;
}

#[tokio::test]
async fn prepaid_on_memory() {
    prepaid(common::memory()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn in_arrears_on_sqlite() {
    in_arrears(common::sqlite().await).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn prepaid_on_sqlite() {
    prepaid(common::sqlite().await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn in_arrears_on_postgres() {
    if let Some(l) = common::postgres().await {
        in_arrears(l).await;
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn prepaid_on_postgres() {
    if let Some(l) = common::postgres().await {
        prepaid(l).await;
    }
}
