//! The in-memory [`Store`]: every record in maps behind one mutex, with the same semantics as
//! the SQL store (conflicts, versions, tenant scoping, leases).

mod queue;
mod records;

use crate::Result;
use crate::model::{
    AppId, AppStatus, Application, Event, NewEvent, Operation, OperationId, OrgId, Organization,
    Plan, PlanId, Release, Timestamp, UsageRecord,
};
use crate::ports::{AppQuery, Page, Store};
use async_trait::async_trait;
use queue::Queue;
use records::Records;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct State {
    records: Records,
    queue: Queue,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes idle workers in `wait_for_work`.
    work: Notify,
}

/// A [`Store`] kept in memory. Clones share the same records, so a test can hand one copy to
/// the platform and keep another to look inside. Nothing survives the process.
///
/// Writes that name an app (`enqueue`, `create_release`, `append_event`, `record_usage`)
/// need the app recorded under the same organisation, and are `NotFound` otherwise, as with
/// the SQL store's foreign keys. A lease counts as expired once `now >= expires_at`.
///
/// The lock is never held across an `.await`; leasing costs O(log n) whatever the number of
/// queued operations.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use paas_core::memory::MemoryStore;
/// use paas_core::model::{Organization, OrgId};
/// use paas_core::ports::Store;
///
/// let store = MemoryStore::new();
/// let org = Organization {
///     id: OrgId::new(),
///     name: "Acme".into(),
///     slug: "acme".parse().unwrap(),
///     created_at: chrono::Utc::now(),
/// };
/// store.create_org(&org).await.unwrap();
/// assert_eq!(store.clone().get_org(org.id).await.unwrap(), org);
/// // Slugs are unique on the platform.
/// let twin = Organization { id: OrgId::new(), ..org.clone() };
/// assert!(store.create_org(&twin).await.unwrap_err().is_conflict());
/// # });
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MemoryStore");
        // `try_lock`: formatting must not deadlock when the store is in use.
        if let Ok(state) = self.shared.state.try_lock() {
            d.field("orgs", &state.records.list_orgs().len())
                .field("unfinished_operations", &state.queue.unfinished());
        }
        d.finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-made change behind: every change
        // validates first and mutates last.
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake_workers(&self) {
        // `notify_waiters` wakes everyone waiting now; the stored `notify_one` permit makes the
        // next `wait_for_work` return at once, so a worker that checked the queue just before
        // this change and is about to wait does not sleep through it.
        self.shared.work.notify_waiters();
        self.shared.work.notify_one();
    }
}

fn clamp(limit: u32) -> usize {
    limit.clamp(1, 1000) as usize
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_org(&self, org: &Organization) -> Result<()> {
        self.lock().records.create_org(org)
    }

    async fn get_org(&self, id: OrgId) -> Result<Organization> {
        self.lock().records.get_org(id)
    }

    async fn list_orgs_all(&self) -> Result<Vec<Organization>> {
        Ok(self.lock().records.list_orgs())
    }

    async fn create_plan(&self, plan: &Plan) -> Result<()> {
        self.lock().records.create_plan(plan)
    }

    async fn get_plan(&self, id: PlanId) -> Result<Plan> {
        self.lock().records.get_plan(id)
    }

    async fn list_plans(&self) -> Result<Vec<Plan>> {
        Ok(self.lock().records.list_plans())
    }

    async fn create_app(&self, app: &Application) -> Result<()> {
        self.lock().records.create_app(app)
    }

    async fn get_app(&self, org: OrgId, id: AppId) -> Result<Application> {
        self.lock().records.app(org, id).cloned()
    }

    async fn update_app(&self, app: &Application) -> Result<Application> {
        self.lock().records.update_app(app)
    }

    async fn list_apps(&self, org: OrgId, query: &AppQuery) -> Result<Page<Application>> {
        self.lock().records.list_apps(Some(org), query)
    }

    async fn list_apps_all(&self, query: &AppQuery) -> Result<Page<Application>> {
        self.lock().records.list_apps(None, query)
    }

    async fn count_apps(&self, org: Option<OrgId>) -> Result<BTreeMap<AppStatus, u64>> {
        Ok(self.lock().records.count_apps(org))
    }

    async fn create_release(&self, release: &Release) -> Result<()> {
        self.lock().records.create_release(release)
    }

    async fn get_release(&self, org: OrgId, app: AppId, number: u32) -> Result<Release> {
        self.lock().records.get_release(org, app, number)
    }

    async fn list_releases(&self, org: OrgId, app: AppId) -> Result<Vec<Release>> {
        self.lock().records.list_releases(org, app)
    }

    async fn enqueue(&self, op: &Operation) -> Result<()> {
        {
            let mut state = self.lock();
            state.records.app(op.org, op.app)?;
            state.queue.enqueue(op)?;
        }
        self.wake_workers();
        Ok(())
    }

    async fn get_operation(&self, org: OrgId, id: OperationId) -> Result<Operation> {
        self.lock()
            .queue
            .get(id)
            .filter(|op| op.org == org)
            .cloned()
            .ok_or_else(|| {
                crate::Error::not_found(format!(
                    "operation {id} does not exist in organisation {org}"
                ))
            })
    }

    async fn list_operations(&self, org: OrgId, app: AppId, limit: u32) -> Result<Vec<Operation>> {
        let state = self.lock();
        state.records.app(org, app)?;
        Ok(state.queue.newest_first(app, clamp(limit)))
    }

    async fn count_unfinished_operations(&self) -> Result<u64> {
        Ok(self.lock().queue.unfinished())
    }

    async fn lease(
        &self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<Option<Operation>> {
        self.lock().queue.lease(worker, now, lease_for)
    }

    async fn heartbeat(
        &self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<()> {
        self.lock().queue.heartbeat(id, worker, now, lease_for)
    }

    async fn checkpoint(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
    ) -> Result<()> {
        self.lock().queue.checkpoint(id, worker, checkpoint)
    }

    async fn checkpoint_with_event(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
        event: &NewEvent,
    ) -> Result<Event> {
        let mut state = self.lock();
        // Validate both writes before making either: the app first (the checkpoint is the
        // only write that can still be refused, and it validates before it mutates).
        state.records.app(event.org, event.app)?;
        state.queue.checkpoint(id, worker, checkpoint)?;
        state.records.append_event(event)
    }

    async fn complete(&self, id: OperationId, worker: &str, now: Timestamp) -> Result<()> {
        self.lock().queue.complete(id, worker, now)?;
        self.wake_workers();
        Ok(())
    }

    async fn retry_at(
        &self,
        id: OperationId,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> Result<()> {
        self.lock().queue.retry_at(id, worker, at, error)?;
        self.wake_workers();
        Ok(())
    }

    async fn fail(&self, id: OperationId, worker: &str, now: Timestamp, error: &str) -> Result<()> {
        self.lock().queue.fail(id, worker, now, error)?;
        self.wake_workers();
        Ok(())
    }

    async fn wait_for_work(&self, timeout: Duration) {
        // Timing out is the normal outcome of an idle wait, not an error.
        let _ = tokio::time::timeout(timeout, self.shared.work.notified()).await;
    }

    async fn append_event(&self, event: &NewEvent) -> Result<Event> {
        self.lock().records.append_event(event)
    }

    async fn list_events(
        &self,
        org: OrgId,
        app: AppId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>> {
        self.lock()
            .records
            .list_events(org, app, after, clamp(limit))
    }

    async fn record_usage(&self, usage: &UsageRecord) -> Result<bool> {
        self.lock().records.record_usage(usage)
    }

    async fn record_usages(&self, usages: &[UsageRecord]) -> Result<u64> {
        self.lock().records.record_usages(usages)
    }

    async fn list_usage(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageRecord>> {
        Ok(self.lock().records.list_usage(org, from, to))
    }
}
