//! The conformance suites catch broken backends: each wrapper below delegates to a correct
//! in-memory backend but breaks exactly one semantic, and the suite must report the check
//! that covers it.

use async_trait::async_trait;
use paas_core::Result;
use paas_core::memory::{MemoryIdAllocator, MemoryStore};
use paas_core::model::{
    Allocation, AppId, AppStatus, Application, Event, NewEvent, Operation, OperationId, OrgId,
    Organization, Plan, PlanId, Release, Timestamp, UsageRecord,
};
use paas_core::ports::{AppQuery, IdAllocator, Page, PoolUsage, Store};
use paas_core::testkit::check::SuiteReport;
use paas_core::testkit::{id_allocator, store};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The one semantic a [`BrokenStore`] gets wrong.
#[derive(Debug, Clone, Copy)]
enum Break {
    /// `update_app` overwrites whatever version is stored (last writer wins).
    UpdateIgnoresVersion,
    /// `get_app` finds an app whatever organisation asks.
    GetAppIgnoresOrg,
    /// `record_usage` reports every record as new.
    UsageNotIdempotent,
    /// `wait_for_work` always sleeps its whole timeout (a lost wake-up).
    WaitIgnoresEnqueue,
    /// `lease` grants leases that are already expired, so a second worker gets the same
    /// operation.
    LeaseExpiresAtOnce,
}

#[derive(Debug)]
struct BrokenStore {
    inner: MemoryStore,
    broken: Break,
}

#[async_trait]
impl Store for BrokenStore {
    async fn create_org(&self, org: &Organization) -> Result<()> {
        self.inner.create_org(org).await
    }
    async fn get_org(&self, id: OrgId) -> Result<Organization> {
        self.inner.get_org(id).await
    }
    async fn list_orgs_all(&self) -> Result<Vec<Organization>> {
        self.inner.list_orgs_all().await
    }
    async fn create_plan(&self, plan: &Plan) -> Result<()> {
        self.inner.create_plan(plan).await
    }
    async fn get_plan(&self, id: PlanId) -> Result<Plan> {
        self.inner.get_plan(id).await
    }
    async fn list_plans(&self) -> Result<Vec<Plan>> {
        self.inner.list_plans().await
    }
    async fn create_app(&self, app: &Application) -> Result<()> {
        self.inner.create_app(app).await
    }
    async fn get_app(&self, org: OrgId, id: AppId) -> Result<Application> {
        if let Break::GetAppIgnoresOrg = self.broken {
            let everything = AppQuery {
                include_deleted: true,
                limit: 1000,
                ..AppQuery::default()
            };
            let page = self.inner.list_apps_all(&everything).await?;
            if let Some(app) = page.items.into_iter().find(|a| a.id == id) {
                return Ok(app);
            }
        }
        self.inner.get_app(org, id).await
    }
    async fn update_app(&self, app: &Application) -> Result<Application> {
        if let Break::UpdateIgnoresVersion = self.broken
            && let Ok(stored) = self.inner.get_app(app.org, app.id).await
        {
            let mut forced = app.clone();
            forced.version = stored.version;
            return self.inner.update_app(&forced).await;
        }
        self.inner.update_app(app).await
    }
    async fn list_apps(&self, org: OrgId, query: &AppQuery) -> Result<Page<Application>> {
        self.inner.list_apps(org, query).await
    }
    async fn list_apps_all(&self, query: &AppQuery) -> Result<Page<Application>> {
        self.inner.list_apps_all(query).await
    }
    async fn count_apps(&self, org: Option<OrgId>) -> Result<BTreeMap<AppStatus, u64>> {
        self.inner.count_apps(org).await
    }
    async fn create_release(&self, release: &Release) -> Result<()> {
        self.inner.create_release(release).await
    }
    async fn get_release(&self, org: OrgId, app: AppId, number: u32) -> Result<Release> {
        self.inner.get_release(org, app, number).await
    }
    async fn list_releases(&self, org: OrgId, app: AppId) -> Result<Vec<Release>> {
        self.inner.list_releases(org, app).await
    }
    async fn enqueue(&self, op: &Operation) -> Result<()> {
        self.inner.enqueue(op).await
    }
    async fn get_operation(&self, org: OrgId, id: OperationId) -> Result<Operation> {
        self.inner.get_operation(org, id).await
    }
    async fn list_operations(&self, org: OrgId, app: AppId, limit: u32) -> Result<Vec<Operation>> {
        self.inner.list_operations(org, app, limit).await
    }
    async fn count_unfinished_operations(&self) -> Result<u64> {
        self.inner.count_unfinished_operations().await
    }
    async fn lease(
        &self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<Option<Operation>> {
        if let Break::LeaseExpiresAtOnce = self.broken {
            return self.inner.lease(worker, now, Duration::ZERO).await;
        }
        self.inner.lease(worker, now, lease_for).await
    }
    async fn heartbeat(
        &self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<()> {
        self.inner.heartbeat(id, worker, now, lease_for).await
    }
    async fn checkpoint(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
    ) -> Result<()> {
        self.inner.checkpoint(id, worker, checkpoint).await
    }
    async fn complete(&self, id: OperationId, worker: &str, now: Timestamp) -> Result<()> {
        self.inner.complete(id, worker, now).await
    }
    async fn retry_at(
        &self,
        id: OperationId,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> Result<()> {
        self.inner.retry_at(id, worker, at, error).await
    }
    async fn fail(&self, id: OperationId, worker: &str, now: Timestamp, error: &str) -> Result<()> {
        self.inner.fail(id, worker, now, error).await
    }
    async fn wait_for_work(&self, timeout: Duration) {
        if let Break::WaitIgnoresEnqueue = self.broken {
            tokio::time::sleep(timeout).await;
            return;
        }
        self.inner.wait_for_work(timeout).await
    }
    async fn append_event(&self, event: &NewEvent) -> Result<Event> {
        self.inner.append_event(event).await
    }
    async fn list_events(
        &self,
        org: OrgId,
        app: AppId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>> {
        self.inner.list_events(org, app, after, limit).await
    }
    async fn record_usage(&self, usage: &UsageRecord) -> Result<bool> {
        let fresh = self.inner.record_usage(usage).await?;
        Ok(fresh || matches!(self.broken, Break::UsageNotIdempotent))
    }
    async fn list_usage(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageRecord>> {
        self.inner.list_usage(org, from, to).await
    }
    // The batch forms are forwarded too, so each wrapper breaks exactly one semantic: the trait's
    // defaults would route them through the broken single-record methods.
    async fn record_usages(&self, usages: &[UsageRecord]) -> Result<u64> {
        self.inner.record_usages(usages).await
    }
    async fn checkpoint_with_event(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
        event: &NewEvent,
    ) -> Result<Event> {
        self.inner
            .checkpoint_with_event(id, worker, checkpoint, event)
            .await
    }
}

async fn store_report(broken: Break) -> SuiteReport {
    store::run_all(move || async move {
        Arc::new(BrokenStore {
            inner: MemoryStore::new(),
            broken,
        }) as Arc<dyn Store>
    })
    .await
}

#[track_caller]
fn assert_caught(report: &SuiteReport, expected: &[&str]) {
    let mut failed = report.failed_checks();
    failed.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(
        failed, expected,
        "the suite should fail exactly these checks:\n{report}"
    );
    assert!(!report.is_ok());
}

#[tokio::test]
async fn store_suite_catches_update_ignoring_the_version() {
    let report = store_report(Break::UpdateIgnoresVersion).await;
    assert_caught(
        &report,
        &[
            "stale_update_conflicts_and_changes_nothing",
            "concurrent_updates_have_one_winner",
        ],
    );
    let failure = &report.failed[0];
    assert!(failure.message.contains("stale version"), "{failure}");
}

#[tokio::test]
async fn store_suite_catches_get_app_ignoring_the_org() {
    let report = store_report(Break::GetAppIgnoresOrg).await;
    assert_caught(&report, &["reads_are_tenant_scoped"]);
    assert!(
        report.failed[0]
            .message
            .contains("get_app from another organisation")
    );
}

#[tokio::test]
async fn store_suite_catches_usage_recorded_twice() {
    let report = store_report(Break::UsageNotIdempotent).await;
    assert_caught(&report, &["usage_is_recorded_once_per_app_hour"]);
}

#[tokio::test]
async fn store_suite_catches_a_lost_wake_up() {
    let report = store_report(Break::WaitIgnoresEnqueue).await;
    assert_caught(&report, &["wait_for_work_wakes_on_enqueue"]);
}

#[tokio::test]
async fn store_suite_catches_leases_handed_out_twice() {
    let report = store_report(Break::LeaseExpiresAtOnce).await;
    assert_caught(
        &report,
        &[
            "expired_lease_is_rescued_by_another_worker",
            "lease_is_fifo_and_one_at_a_time_per_app",
            "concurrent_leases_never_share_an_operation",
        ],
    );
}

/// The one semantic a [`BrokenAllocator`] gets wrong.
#[derive(Debug, Clone, Copy)]
enum AllocBreak {
    /// `allocate` ignores `avoid`.
    IgnoresAvoid,
    /// A caller that overlaps another reads a stale "last value" and hands it out again, as a
    /// read-then-write allocator without a lock or unique constraint would.
    RacesUnderConcurrency,
}

#[derive(Debug)]
struct BrokenAllocator {
    inner: MemoryIdAllocator,
    broken: AllocBreak,
    in_flight: AtomicUsize,
    last: Mutex<Option<u64>>,
}

#[async_trait]
impl IdAllocator for BrokenAllocator {
    async fn allocate(&self, pool: &str, owner: &str, avoid: &[u64]) -> Result<u64> {
        match self.broken {
            AllocBreak::IgnoresAvoid => self.inner.allocate(pool, owner, &[]).await,
            AllocBreak::RacesUnderConcurrency => {
                let others = self.in_flight.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                let stale = *self.last.lock().unwrap();
                let result = match stale {
                    Some(v) if others > 0 => Ok(v),
                    _ => self.inner.allocate(pool, owner, avoid).await,
                };
                if let Ok(v) = result {
                    *self.last.lock().unwrap() = Some(v);
                }
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                result
            }
        }
    }
    async fn release(&self, pool: &str, value: u64) -> Result<()> {
        self.inner.release(pool, value).await
    }
    async fn release_owner(&self, owner: &str) -> Result<u64> {
        self.inner.release_owner(owner).await
    }
    async fn owned_by(&self, owner: &str) -> Result<Vec<Allocation>> {
        self.inner.owned_by(owner).await
    }
    async fn usage(&self, pool: &str) -> Result<PoolUsage> {
        self.inner.usage(pool).await
    }
}

async fn allocator_report(broken: AllocBreak) -> SuiteReport {
    id_allocator::run_all(move |pools| async move {
        Arc::new(BrokenAllocator {
            inner: MemoryIdAllocator::new(pools),
            broken,
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(None),
        }) as Arc<dyn IdAllocator>
    })
    .await
}

#[tokio::test]
async fn allocator_suite_catches_ignored_avoid_list() {
    let report = allocator_report(AllocBreak::IgnoresAvoid).await;
    assert_caught(
        &report,
        &[
            "allocate_skips_avoided_values",
            "default_pools_serve_vmids_and_ports",
        ],
    );
}

#[tokio::test]
async fn allocator_suite_catches_duplicates_under_concurrency() {
    let report = allocator_report(AllocBreak::RacesUnderConcurrency).await;
    assert_caught(&report, &["concurrent_callers_never_share_a_value"]);
    assert!(
        report.failed[0].message.contains("two concurrent callers"),
        "{report}"
    );
}
