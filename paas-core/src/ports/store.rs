//! The `Store` port: the durable records, with optimistic concurrency, tenant scoping and the
//! operation queue.

use crate::Result;
use crate::model::{
    AppId, AppStatus, Application, Event, NewEvent, Operation, OperationId, OrgId, Organization,
    Plan, PlanId, Release, Timestamp, UsageRecord,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

/// Which apps to list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppQuery {
    /// Only apps in this status.
    pub status: Option<AppStatus>,
    /// Only apps whose name or slug contains this text (case-insensitive).
    pub search: Option<String>,
    /// Include deleted apps (default: no).
    pub include_deleted: bool,
    /// Page size, 1..=1000 (larger values are clamped to 1000, 0 is taken as 1).
    pub limit: u32,
    /// Continue after this cursor (`Page::next` of the previous page).
    pub after: Option<String>,
}

impl Default for AppQuery {
    fn default() -> Self {
        AppQuery {
            status: None,
            search: None,
            include_deleted: false,
            limit: 100,
            after: None,
        }
    }
}

impl AppQuery {
    /// `limit` clamped to 1..=1000.
    pub fn effective_limit(&self) -> usize {
        self.limit.clamp(1, 1000) as usize
    }
}

/// One page of results in a stable order (apps: by id, which is creation order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page; `None` on the last.
    pub next: Option<String>,
}

/// Durable records shared by every control-plane process.
///
/// Semantics every implementation honours (the `testkit` suite checks them):
/// - Tenant scoping: every read or write that takes an `OrgId` sees only that organisation's
///   records; another organisation's app is `NotFound`, never visible. Writes that name an app
///   (`enqueue`, `create_release`, `append_event`, `record_usage`) and per-app lists
///   (`list_releases`, `list_operations`, `list_events`) of an app that is not the
///   organisation's are `NotFound` too, not an empty answer. Methods named `*_all`
///   are platform-wide and are for the reconciler, billing and the admin overview only.
/// - Uniqueness: an organisation's slug, a plan's name, and an app's slug among apps not
///   deleted are unique on the platform (`Conflict`); a release number is unique per app.
/// - Optimistic concurrency: `update_app` succeeds only if the stored version equals the given
///   app's `version`; it stores `version + 1` and returns the stored app. A stale version is
///   `Conflict`.
/// - Operation queue: `lease` hands an operation to one worker at a time. Per app, operations
///   run one at a time in the order they were enqueued: only an app's oldest unfinished
///   operation can be leased, and only when it is due (`not_before <= now`) and queued, or
///   running with an expired lease (`now >= expires_at`: a dead worker's operation is rescued).
///   The holder of an expired lease may still renew it as long as nobody else has leased the
///   operation since. A lease is renewed by
///   `heartbeat`; `checkpoint`, `heartbeat`, `complete`, `retry_at`, `fail` by a worker that no
///   longer holds the lease are `Conflict` (the worker must stop).
/// - Events get `seq` 1, 2, 3, ... per app, without gaps.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync + Debug + 'static {
    // --- organisations and plans ---

    /// Records a new organisation.
    async fn create_org(&self, org: &Organization) -> Result<()>;
    /// An organisation by id.
    async fn get_org(&self, id: OrgId) -> Result<Organization>;
    /// Every organisation (platform-wide), by id.
    async fn list_orgs_all(&self) -> Result<Vec<Organization>>;
    /// Records a new plan.
    async fn create_plan(&self, plan: &Plan) -> Result<()>;
    /// A plan by id.
    async fn get_plan(&self, id: PlanId) -> Result<Plan>;
    /// Every plan, by name.
    async fn list_plans(&self) -> Result<Vec<Plan>>;

    // --- applications ---

    /// Records a new app (its `version` is stored as given, normally 1).
    async fn create_app(&self, app: &Application) -> Result<()>;
    /// An app of `org`.
    async fn get_app(&self, org: OrgId, id: AppId) -> Result<Application>;
    /// Updates an app of `app.org` if `app.version` is current; returns it with the new version.
    async fn update_app(&self, app: &Application) -> Result<Application>;
    /// A page of `org`'s apps.
    async fn list_apps(&self, org: OrgId, query: &AppQuery) -> Result<Page<Application>>;
    /// A page of every organisation's apps (platform-wide).
    async fn list_apps_all(&self, query: &AppQuery) -> Result<Page<Application>>;
    /// Number of apps per status, for one organisation or (with `None`) the platform.
    async fn count_apps(&self, org: Option<OrgId>) -> Result<BTreeMap<AppStatus, u64>>;

    // --- releases ---

    /// Records a release; its number must be new for the app.
    async fn create_release(&self, release: &Release) -> Result<()>;
    /// A release of an app by number.
    async fn get_release(&self, org: OrgId, app: AppId, number: u32) -> Result<Release>;
    /// Every release of an app, by number.
    async fn list_releases(&self, org: OrgId, app: AppId) -> Result<Vec<Release>>;

    // --- operations and the queue ---

    /// Records a new operation (state queued).
    async fn enqueue(&self, op: &Operation) -> Result<()>;
    /// An operation of `org`.
    async fn get_operation(&self, org: OrgId, id: OperationId) -> Result<Operation>;
    /// An app's operations, newest first, at most `limit`.
    async fn list_operations(&self, org: OrgId, app: AppId, limit: u32) -> Result<Vec<Operation>>;
    /// Number of operations not finished (platform-wide).
    async fn count_unfinished_operations(&self) -> Result<u64>;
    /// Leases the next due operation to `worker` until `now + lease_for`, or `None`.
    async fn lease(
        &self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<Option<Operation>>;
    /// Renews `worker`'s lease until `now + lease_for`.
    async fn heartbeat(
        &self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<()>;
    /// Saves progress of a leased operation.
    async fn checkpoint(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
    ) -> Result<()>;
    /// Saves progress of a leased operation and appends the event describing that step, as one
    /// write where the backend can (the engine does this after every step, so it is the hot
    /// path of a deploy). Same lease rule as [`Store::checkpoint`]: when the lease is lost,
    /// `Conflict` and nothing is written.
    async fn checkpoint_with_event(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
        event: &NewEvent,
    ) -> Result<Event> {
        self.checkpoint(id, worker, checkpoint).await?;
        self.append_event(event).await
    }
    /// Finishes a leased operation successfully.
    async fn complete(&self, id: OperationId, worker: &str, now: Timestamp) -> Result<()>;
    /// Puts a leased operation back in the queue, due at `at`, recording `error`.
    async fn retry_at(
        &self,
        id: OperationId,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> Result<()>;
    /// Finishes a leased operation as failed with `error`.
    async fn fail(&self, id: OperationId, worker: &str, now: Timestamp, error: &str) -> Result<()>;
    /// Returns when an operation may have become available (one was enqueued or released), or
    /// after `timeout`. Idle workers wait here instead of polling hard.
    async fn wait_for_work(&self, timeout: Duration);

    // --- events ---

    /// Appends an event to its app's history and returns it with its `seq`.
    async fn append_event(&self, event: &NewEvent) -> Result<Event>;
    /// An app's events with `seq > after`, oldest first, at most `limit`.
    async fn list_events(
        &self,
        org: OrgId,
        app: AppId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>>;

    // --- usage ---

    /// Records a charged hour; `Ok(false)` if that (app, hour) is already recorded.
    async fn record_usage(&self, usage: &UsageRecord) -> Result<bool>;
    /// Records many charged hours (of any organisations) in one go; returns how many were new.
    /// All or nothing: if any record names an app that is not its organisation's, the call is
    /// `NotFound` and nothing of the batch is recorded; an (app, hour) already recorded is
    /// skipped. Backends override this default to write a batch in one round trip, which is
    /// what billing an hour of many apps needs.
    async fn record_usages(&self, usages: &[UsageRecord]) -> Result<u64> {
        // Check every app first so a refused batch writes nothing (the suite demands it).
        for usage in usages {
            self.get_app(usage.org, usage.app).await?;
        }
        let mut new = 0;
        for usage in usages {
            if self.record_usage(usage).await? {
                new += 1;
            }
        }
        Ok(new)
    }
    /// `org`'s usage with `from <= hour < to`, by hour then app.
    async fn list_usage(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageRecord>>;
}
