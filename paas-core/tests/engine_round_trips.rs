//! Store round trips of one deploy: the hot path the SDK's overhead goal is about. A counting
//! (and timing) `Store` wrapper sees every call the engine makes; the test fails when a deploy
//! needs more calls than the budget, and prints where the calls (and, on PostgreSQL, the time)
//! go. Run with `--nocapture` to see the table.

mod engine_support;
mod sql_support;

use async_trait::async_trait;
use engine_support::TEMPLATE;
use paas_core::Result;
use paas_core::engine::{NewApp, NewPlan, Platform, StepOutcome};
use paas_core::memory::{FakeProvisioner, MemoryIdAllocator, MemoryStore};
use paas_core::model::{
    AppId, AppStatus, Application, Event, Money, NewEvent, Operation, OperationId, OrgId,
    Organization, Plan, PlanId, Release, Runtime, Timestamp, UsageRecord,
};
use paas_core::ports::{AppQuery, IdAllocator, Page, Pools, Store};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Store calls one deploy (request + execution to Running) may make.
const DEPLOY_BUDGET: u64 = 21;

/// Per method: calls and total time.
type Tally = BTreeMap<&'static str, (u64, Duration)>;

#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Store>,
    tally: Mutex<Tally>,
}

impl Counting {
    fn new(inner: Arc<dyn Store>) -> Self {
        Counting {
            inner,
            tally: Mutex::new(Tally::new()),
        }
    }

    fn take(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().unwrap())
    }

    async fn timed<T>(&self, name: &'static str, f: impl Future<Output = T>) -> T {
        let t = Instant::now();
        let out = f.await;
        let mut tally = self.tally.lock().unwrap();
        let e = tally.entry(name).or_default();
        e.0 += 1;
        e.1 += t.elapsed();
        out
    }
}

#[async_trait]
impl Store for Counting {
    async fn create_org(&self, org: &Organization) -> Result<()> {
        self.timed("create_org", self.inner.create_org(org)).await
    }
    async fn get_org(&self, id: OrgId) -> Result<Organization> {
        self.timed("get_org", self.inner.get_org(id)).await
    }
    async fn list_orgs_all(&self) -> Result<Vec<Organization>> {
        self.timed("list_orgs_all", self.inner.list_orgs_all())
            .await
    }
    async fn create_plan(&self, plan: &Plan) -> Result<()> {
        self.timed("create_plan", self.inner.create_plan(plan))
            .await
    }
    async fn get_plan(&self, id: PlanId) -> Result<Plan> {
        self.timed("get_plan", self.inner.get_plan(id)).await
    }
    async fn list_plans(&self) -> Result<Vec<Plan>> {
        self.timed("list_plans", self.inner.list_plans()).await
    }
    async fn create_app(&self, app: &Application) -> Result<()> {
        self.timed("create_app", self.inner.create_app(app)).await
    }
    async fn get_app(&self, org: OrgId, id: AppId) -> Result<Application> {
        self.timed("get_app", self.inner.get_app(org, id)).await
    }
    async fn update_app(&self, app: &Application) -> Result<Application> {
        self.timed("update_app", self.inner.update_app(app)).await
    }
    async fn list_apps(&self, org: OrgId, query: &AppQuery) -> Result<Page<Application>> {
        self.timed("list_apps", self.inner.list_apps(org, query))
            .await
    }
    async fn list_apps_all(&self, query: &AppQuery) -> Result<Page<Application>> {
        self.timed("list_apps_all", self.inner.list_apps_all(query))
            .await
    }
    async fn count_apps(&self, org: Option<OrgId>) -> Result<BTreeMap<AppStatus, u64>> {
        self.timed("count_apps", self.inner.count_apps(org)).await
    }
    async fn create_release(&self, release: &Release) -> Result<()> {
        self.timed("create_release", self.inner.create_release(release))
            .await
    }
    async fn get_release(&self, org: OrgId, app: AppId, number: u32) -> Result<Release> {
        self.timed("get_release", self.inner.get_release(org, app, number))
            .await
    }
    async fn list_releases(&self, org: OrgId, app: AppId) -> Result<Vec<Release>> {
        self.timed("list_releases", self.inner.list_releases(org, app))
            .await
    }
    async fn enqueue(&self, op: &Operation) -> Result<()> {
        self.timed("enqueue", self.inner.enqueue(op)).await
    }
    async fn get_operation(&self, org: OrgId, id: OperationId) -> Result<Operation> {
        self.timed("get_operation", self.inner.get_operation(org, id))
            .await
    }
    async fn list_operations(&self, org: OrgId, app: AppId, limit: u32) -> Result<Vec<Operation>> {
        self.timed(
            "list_operations",
            self.inner.list_operations(org, app, limit),
        )
        .await
    }
    async fn count_unfinished_operations(&self) -> Result<u64> {
        self.timed(
            "count_unfinished_operations",
            self.inner.count_unfinished_operations(),
        )
        .await
    }
    async fn lease(
        &self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<Option<Operation>> {
        self.timed("lease", self.inner.lease(worker, now, lease_for))
            .await
    }
    async fn heartbeat(
        &self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<()> {
        self.timed(
            "heartbeat",
            self.inner.heartbeat(id, worker, now, lease_for),
        )
        .await
    }
    async fn checkpoint(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
    ) -> Result<()> {
        self.timed("checkpoint", self.inner.checkpoint(id, worker, checkpoint))
            .await
    }
    async fn checkpoint_with_event(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
        event: &NewEvent,
    ) -> Result<Event> {
        self.timed(
            "checkpoint_with_event",
            self.inner
                .checkpoint_with_event(id, worker, checkpoint, event),
        )
        .await
    }
    async fn complete(&self, id: OperationId, worker: &str, now: Timestamp) -> Result<()> {
        self.timed("complete", self.inner.complete(id, worker, now))
            .await
    }
    async fn retry_at(
        &self,
        id: OperationId,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> Result<()> {
        self.timed("retry_at", self.inner.retry_at(id, worker, at, error))
            .await
    }
    async fn fail(&self, id: OperationId, worker: &str, now: Timestamp, error: &str) -> Result<()> {
        self.timed("fail", self.inner.fail(id, worker, now, error))
            .await
    }
    async fn wait_for_work(&self, timeout: Duration) {
        self.inner.wait_for_work(timeout).await
    }
    async fn append_event(&self, event: &NewEvent) -> Result<Event> {
        self.timed("append_event", self.inner.append_event(event))
            .await
    }
    async fn list_events(
        &self,
        org: OrgId,
        app: AppId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>> {
        self.timed(
            "list_events",
            self.inner.list_events(org, app, after, limit),
        )
        .await
    }
    async fn record_usage(&self, usage: &UsageRecord) -> Result<bool> {
        self.timed("record_usage", self.inner.record_usage(usage))
            .await
    }
    async fn record_usages(&self, usages: &[UsageRecord]) -> Result<u64> {
        self.timed("record_usages", self.inner.record_usages(usages))
            .await
    }
    async fn list_usage(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageRecord>> {
        self.timed("list_usage", self.inner.list_usage(org, from, to))
            .await
    }
}

/// Deploys `n` fresh apps through `store` and returns the tally of the last deploy (the
/// first ones warm the caches a long-running process has warm).
async fn deploy_tally(store: Arc<dyn Store>, ids: Arc<dyn IdAllocator>, n: usize) -> Tally {
    let counting = Arc::new(Counting::new(store));
    let platform = Platform::builder()
        .store(counting.clone())
        .ids(ids)
        .provisioner(Arc::new(FakeProvisioner::new()))
        .development_mode()
        .build()
        .unwrap();
    let org = platform.create_org("Acme").await.unwrap().id;
    let plan = platform
        .create_plan(NewPlan::new("small", 1, 512, 8, Money::ZERO))
        .await
        .unwrap()
        .id;
    let worker = platform.worker();
    let mut last = Tally::new();
    for i in 0..n {
        let app = platform
            .create_app(
                org,
                NewApp::new(
                    &format!("shop{i}"),
                    Runtime::Lxc {
                        template: TEMPLATE.into(),
                    },
                    plan,
                ),
            )
            .await
            .unwrap();
        counting.take();
        let t = Instant::now();
        platform.deploy(org, app.id).await.unwrap();
        let outcome = worker.step().await.unwrap();
        let took = t.elapsed();
        assert!(matches!(outcome, StepOutcome::Succeeded(_)), "{outcome:?}");
        last = counting.take();
        last.insert("(whole deploy, not a call)", (0, took));
    }
    last
}

fn report(backend: &str, tally: &Tally) -> u64 {
    let calls: u64 = tally.values().map(|(n, _)| n).sum();
    let time: Duration = tally
        .values()
        .filter(|(n, _)| *n > 0)
        .map(|(_, t)| *t)
        .sum();
    println!("{backend}: {calls} store calls per deploy, {time:?} in the store");
    for (name, (n, t)) in tally {
        println!("  {name:<24} {n:>3}  {t:?}");
    }
    calls
}

#[tokio::test]
async fn a_deploy_stays_within_its_store_call_budget() {
    let tally = deploy_tally(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryIdAllocator::default()),
        3,
    )
    .await;
    let calls = report("memory", &tally);
    assert!(
        calls <= DEPLOY_BUDGET,
        "a deploy made {calls} store calls, budget {DEPLOY_BUDGET}: {tally:?}"
    );
    // One write per saga step: the checkpoint and its event go together.
    assert_eq!(tally.get("checkpoint").map(|t| t.0), None);
    assert_eq!(tally.get("get_plan").map(|t| t.0), None, "plans are cached");
    assert_eq!(
        tally.get("get_release").map(|t| t.0),
        None,
        "the release the request wrote is cached"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_on_postgres_stays_within_its_store_call_budget() {
    let Some(url) = sql_support::postgres_url() else {
        return;
    };
    let schema = sql_support::schema_name();
    let store = sql_support::pg_store(&url, &schema).await;
    let ids = Arc::new(store.id_allocator(Pools::default()));
    let tally = deploy_tally(Arc::new(store), ids, 5).await;
    sql_support::drop_schemas(&url, &[schema]).await;
    let calls = report("postgres", &tally);
    assert!(
        calls <= DEPLOY_BUDGET,
        "a deploy made {calls} store calls, budget {DEPLOY_BUDGET}: {tally:?}"
    );
}
