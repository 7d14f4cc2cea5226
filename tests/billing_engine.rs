//! Billing end to end with the real engine worker: an organisation's wallet runs out, billing
//! enqueues `Suspend` operations, the worker suspends the running apps (not the one the user
//! stopped); a top-up enqueues `Resume`, the worker brings them back. Charged in arrears, each
//! (app, hour) once, however often an hour is billed.
//!
//! Two set-ups: the in-memory store, ledger and fake provisioner; and SQLite (store and ledger
//! in one file) with the Proxmox VE simulator.

mod common;

use paas_billing::{Biller, Policy, SqlLedger};
use paas_core::engine::{MasterKey, NewApp, NewPlan, Platform};
use paas_core::memory::{
    FakeProvisioner, ManualClock, MemoryIdAllocator, MemoryLedger, MemoryStore,
};
use paas_core::model::{
    AppId, AppStatus, Money, OperationKind, OperationState, OrgId, PlanId, Runtime, Timestamp,
};
use paas_core::ports::{Clock, Ledger, Store, SystemClock};
use paas_proxmox::sim::PveSim;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
/// How long an operation may take before the test gives up on it.
const PATIENCE: Duration = Duration::from_secs(30);

fn money(s: &str) -> Money {
    s.parse().unwrap()
}

/// A platform and a biller sharing one store, with whatever must stay alive for them.
struct Setup {
    platform: Platform,
    store: Arc<dyn Store>,
    ledger: Arc<dyn Ledger>,
    clock: Arc<dyn Clock>,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn memory_setup() -> Setup {
    let store = MemoryStore::new();
    let clock = ManualClock::at("2026-03-01T10:00:00Z".parse().unwrap());
    let platform = Platform::builder()
        .store(Arc::new(store.clone()))
        .ids(Arc::new(MemoryIdAllocator::default()))
        .clock(Arc::new(clock.clone()))
        .provisioner(Arc::new(FakeProvisioner::new()))
        .master_key(MasterKey::generate())
        .ip_deadline(Duration::from_millis(200))
        .poll_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    Setup {
        platform,
        store: Arc::new(store),
        ledger: Arc::new(MemoryLedger::new()),
        clock: Arc::new(clock),
        _keep: Box::new(()),
    }
}

async fn sqlite_sim_setup() -> Setup {
    let (db, sqlite) = common::sqlite().await;
    let sim = PveSim::builder()
        .nodes(2)
        .task_duration(Duration::from_millis(20))
        .ip_delay(Duration::from_millis(30))
        .start()
        .await
        .unwrap();
    let platform = common::builder(&db, common::provisioner(&sim, 3))
        .build()
        .unwrap();
    // The wallets' ledger in the same SQLite file as the records.
    let ledger = SqlLedger::sqlite(sqlite.pool().clone()).await.unwrap();
    Setup {
        platform,
        store: db.store.clone(),
        ledger: Arc::new(ledger),
        clock: Arc::new(SystemClock),
        _keep: Box::new((db, sim)),
    }
}

/// The newest operation of `kind` of the app, waited for until it finishes; it must succeed.
async fn wait_for(s: &Setup, org: OrgId, app: AppId, kind: OperationKind) {
    let ops = s.store.list_operations(org, app, 20).await.unwrap();
    let op = ops
        .iter()
        .find(|o| o.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} operation for app {app}: {ops:?}"));
    let done = tokio::time::timeout(PATIENCE, s.platform.wait(org, op.id))
        .await
        .unwrap_or_else(|_| panic!("{kind} of app {app} did not finish"))
        .unwrap();
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
}

async fn status(s: &Setup, org: OrgId, app: AppId) -> AppStatus {
    s.platform.app(org, app).await.unwrap().status
}

async fn create_and_deploy(s: &Setup, org: OrgId, plan: PlanId, name: &str) -> AppId {
    let runtime = Runtime::Lxc {
        template: TEMPLATE.into(),
    };
    let app = s
        .platform
        .create_app(org, NewApp::new(name, runtime, plan))
        .await
        .unwrap();
    let op = s.platform.deploy(org, app.id).await.unwrap();
    let done = tokio::time::timeout(PATIENCE, s.platform.wait(org, op))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "deploy {name}: {done:?}"
    );
    app.id
}

async fn wallet_runs_out_suspends_and_top_up_resumes(s: Setup) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = s.platform.worker();
    let worker_task = tokio::spawn(async move {
        worker
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let biller = Biller::new(
        s.store.clone(),
        s.ledger.clone(),
        s.clock.clone(),
        Policy::InArrears,
    );

    let org = s.platform.create_org("Acme Corp").await.unwrap().id;
    let plan = s
        .platform
        .create_plan(NewPlan::new("small", 1, 512, 8, money("0.01")))
        .await
        .unwrap()
        .id;
    let shop = create_and_deploy(&s, org, plan, "shop").await;
    let blog = create_and_deploy(&s, org, plan, "blog").await;
    let wiki = create_and_deploy(&s, org, plan, "wiki").await;
    let op = s.platform.stop(org, wiki).await.unwrap();
    s.platform.wait(org, op).await.unwrap();
    assert_eq!(status(&s, org, wiki).await, AppStatus::Stopped);

    // Two hours' worth for the two running apps.
    let paid = biller
        .top_up(org, money("0.04"), "payment-1")
        .await
        .unwrap();
    assert_eq!(paid.balance, money("0.04"));
    let base: Timestamp = "2026-03-01T06:00:00Z".parse().unwrap();
    let hour = |h: u64| base + Duration::from_secs(3600 * h);

    // Hour 0: both running apps charged, the stopped one not.
    let r = biller.bill_hour(hour(0)).await.unwrap();
    assert_eq!((r.apps, r.charged, r.already_charged), (2, 2, 0), "{r:?}");
    assert_eq!(r.amount, money("0.02"));
    assert_eq!(r.suspended, 0);
    // Billing the hour again charges nothing twice.
    let again = biller.bill_hour(hour(0)).await.unwrap();
    assert_eq!((again.charged, again.already_charged), (0, 2), "{again:?}");
    assert_eq!(biller.wallet_balance(org).await.unwrap(), money("0.02"));

    // Hour 1 brings the wallet to zero: both running apps are suspended by the worker.
    let r = biller.bill_hour(hour(1)).await.unwrap();
    assert_eq!((r.charged, r.suspended), (2, 2), "{r:?}");
    assert_eq!(biller.wallet_balance(org).await.unwrap(), Money::ZERO);
    for app in [shop, blog] {
        wait_for(&s, org, app, OperationKind::Suspend).await;
        assert_eq!(status(&s, org, app).await, AppStatus::Suspended);
    }
    assert_eq!(status(&s, org, wiki).await, AppStatus::Stopped);

    // Re-running hour 1 and billing hour 2 charge nothing: nothing runs any more.
    let r = biller.bill_hour(hour(1)).await.unwrap();
    assert_eq!((r.apps, r.charged, r.suspended), (0, 0, 0), "{r:?}");
    let r = biller.bill_hour(hour(2)).await.unwrap();
    assert_eq!((r.apps, r.charged), (0, 0), "{r:?}");
    assert_eq!(biller.wallet_balance(org).await.unwrap(), Money::ZERO);

    // A top-up resumes what billing suspended, and only that.
    let paid = biller
        .top_up(org, money("1.00"), "payment-2")
        .await
        .unwrap();
    assert_eq!(paid.balance, money("1.00"));
    let resumed: BTreeSet<AppId> = paid.enforcement.resumed.iter().copied().collect();
    assert_eq!(resumed, BTreeSet::from([shop, blog]));
    for app in [shop, blog] {
        wait_for(&s, org, app, OperationKind::Resume).await;
        assert_eq!(status(&s, org, app).await, AppStatus::Running);
    }
    assert_eq!(status(&s, org, wiki).await, AppStatus::Stopped);
    // The same payment again changes nothing.
    let twice = biller
        .top_up(org, money("1.00"), "payment-2")
        .await
        .unwrap();
    assert_eq!(twice.balance, money("1.00"));

    // Hour 3: charged again.
    let r = biller.bill_hour(hour(3)).await.unwrap();
    assert_eq!((r.charged, r.suspended), (2, 0), "{r:?}");
    assert_eq!(biller.wallet_balance(org).await.unwrap(), money("0.98"));

    // One usage record per (app, hour) charged, at the plan's price.
    let usage = s.store.list_usage(org, hour(0), hour(10)).await.unwrap();
    let charged: BTreeSet<(AppId, u64)> = usage
        .iter()
        .map(|u| (u.app, (u.hour - base).num_hours().unsigned_abs()))
        .collect();
    let expected: BTreeSet<(AppId, u64)> = [0, 1, 3]
        .into_iter()
        .flat_map(|h| [(shop, h), (blog, h)])
        .collect();
    assert_eq!(usage.len(), 6, "{usage:?}");
    assert_eq!(charged, expected);
    assert!(
        usage
            .iter()
            .all(|u| u.amount == money("0.01") && u.replicas == 1)
    );

    let _ = stop.send(());
    tokio::time::timeout(PATIENCE, worker_task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_wallet_runs_out_suspends_and_top_up_resumes() {
    wallet_runs_out_suspends_and_top_up_resumes(memory_setup().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sim_wallet_runs_out_suspends_and_top_up_resumes() {
    wallet_runs_out_suspends_and_top_up_resumes(sqlite_sim_setup().await).await;
}
