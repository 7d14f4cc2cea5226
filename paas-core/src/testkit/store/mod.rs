//! Conformance suite of the [`Store`] port.
//!
//! Every check takes an **empty** store and returns a [`CheckResult`](crate::testkit::check::CheckResult); [`run_all`] runs them
//! all, each on its own fresh store. The checks cover every semantic documented on [`Store`]:
//! uniqueness, optimistic concurrency, tenant scoping (reads and writes), pagination, filter
//! and search, the operation queue and its leases, events and usage.
//!
//! Records are built with whole-second timestamps so a backend that stores microseconds
//! compares equal. Apps are always created (with their organisation and plan) before anything
//! refers to them, so backends with foreign keys pass.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use paas_core::memory::MemoryStore;
//! use paas_core::ports::Store;
//! use paas_core::testkit::store;
//! use std::sync::Arc;
//!
//! // One check on its own:
//! store::update_app_bumps_version(&MemoryStore::new()).await.unwrap();
//! // The whole suite, a fresh store per check:
//! let report = store::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
//! report.assert_all_passed();
//! # });
//! ```

mod concurrency;
mod history;
mod listing;
mod queue;
mod records;

pub use concurrency::*;
pub use history::*;
pub use listing::*;
pub use queue::*;
pub use records::*;

use super::check::{Failure, OrFail, SuiteReport, SuiteRunner};
use crate::model::{
    AppId, AppStatus, Application, EventLevel, Money, NewEvent, Operation, OperationKind, OrgId,
    Organization, Plan, PlanId, Release, ReleaseId, Runtime, SealedValue, Timestamp, UsageRecord,
};
use crate::ports::Store;
use chrono::TimeZone;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// Runs every check of the suite, each on a store returned by a new call of `fresh`.
///
/// `fresh` must return an empty store each time (a new in-memory store, a new SQLite file, a
/// new Postgres schema).
pub async fn run_all<F, Fut>(mut fresh: F) -> SuiteReport
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let mut r = SuiteRunner::new();
    macro_rules! run {
        ($($check:ident),+ $(,)?) => {
            $( r.run(stringify!($check), async { $check(&*fresh().await).await }).await; )+
        };
    }
    run!(
        orgs_round_trip_and_list_by_id,
        org_slug_and_id_are_unique,
        plans_are_unique_by_name_and_listed_by_name,
        app_round_trips,
        app_slug_is_unique_among_live_apps,
        update_app_bumps_version,
        stale_update_conflicts_and_changes_nothing,
        concurrent_updates_have_one_winner,
        update_app_keeps_slugs_unique,
        update_app_is_tenant_scoped,
        reads_are_tenant_scoped,
        writes_for_another_orgs_app_are_not_found,
        deleted_apps_are_hidden_and_free_their_slug,
        releases_are_unique_per_app_and_listed_by_number,
        list_apps_pages_cover_everything_once,
        list_apps_limit_is_clamped,
        list_apps_filters_by_status,
        list_apps_searches_name_and_slug_case_insensitively,
        count_apps_per_org_and_platform,
        enqueue_get_and_list_newest_first,
        count_unfinished_operations_counts_queued_and_running,
        lease_is_fifo_and_one_at_a_time_per_app,
        concurrent_leases_never_share_an_operation,
        lease_respects_not_before,
        expired_lease_is_rescued_by_another_worker,
        heartbeat_extends_the_lease,
        stale_worker_is_refused,
        checkpoint_is_saved,
        checkpoint_with_event_writes_both_or_neither,
        retry_at_requeues_with_error,
        complete_and_fail_finish_operations,
        wait_for_work_wakes_on_enqueue,
        wait_for_work_times_out_when_idle,
        events_get_gap_free_seq_per_app,
        concurrent_events_get_gap_free_seq,
        list_events_after_and_limit,
        usage_is_recorded_once_per_app_hour,
        list_usage_filters_range_and_org,
        record_usages_is_idempotent_counted_and_scoped,
    );
    r.finish()
}

/// 2026-01-01T00:00:00Z plus `secs` seconds: the suite's timeline.
pub(crate) fn at(secs: i64) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + chrono::Duration::seconds(secs)
}

fn slug<T: std::str::FromStr>(check: &'static str, s: &str) -> Result<T, Failure> {
    s.parse()
        .map_err(|_| Failure::new(check, format!("fixture '{s}' should parse")))
}

pub(crate) fn org(check: &'static str, s: &str) -> Result<Organization, Failure> {
    Ok(Organization {
        id: OrgId::new(),
        name: format!("Org {s}"),
        slug: slug(check, s)?,
        created_at: at(0),
    })
}

pub(crate) fn plan(name: &str) -> Plan {
    Plan {
        id: PlanId::new(),
        name: name.to_owned(),
        cpu: 1,
        memory_mb: 512,
        disk_gb: 8,
        price_per_hour: Money::from_micros(15_000),
        max_replicas: 4,
    }
}

pub(crate) fn app(
    check: &'static str,
    org: OrgId,
    plan: PlanId,
    s: &str,
) -> Result<Application, Failure> {
    let mut env = BTreeMap::new();
    env.insert(
        slug(check, "GREETING")?,
        SealedValue("bm9uY2UAY2lwaGVy".to_owned()),
    );
    Ok(Application {
        id: AppId::new(),
        org,
        name: format!("App {s}"),
        slug: slug(check, s)?,
        runtime: Runtime::Container {
            image: format!("registry.example/{s}:1"),
        },
        plan,
        replicas: 1,
        env,
        domains: Vec::new(),
        health_check: None,
        listen_port: None,
        status: AppStatus::Created,
        status_reason: None,
        placement: None,
        ports: Vec::new(),
        current_release: None,
        created_at: at(0),
        updated_at: at(0),
        version: 1,
    })
}

pub(crate) fn release(app: &Application, number: u32) -> Release {
    Release {
        id: ReleaseId::new(),
        org: app.org,
        app: app.id,
        number,
        runtime: app.runtime.clone(),
        env_digest: format!("{number:064x}"),
        replicas: 1,
        plan: app.plan,
        created_at: at(i64::from(number)),
    }
}

pub(crate) fn operation(app: &Application, created: i64) -> Operation {
    Operation::new(app.org, app.id, OperationKind::Restart, at(created))
}

pub(crate) fn event(app: &Application, step: &str) -> NewEvent {
    NewEvent {
        org: app.org,
        app: app.id,
        operation: None,
        at: at(5),
        level: EventLevel::Info,
        step: step.to_owned(),
        message: format!("did {step}"),
    }
}

pub(crate) fn usage(app: &Application, hour: i64) -> UsageRecord {
    UsageRecord {
        org: app.org,
        app: app.id,
        hour: at(hour * 3600),
        replicas: 1,
        amount: Money::from_micros(15_000),
        transfer_id: format!("{:032x}", hour),
    }
}

/// Two organisations and a plan, recorded: what most checks start from.
pub(crate) struct World {
    pub(crate) org: Organization,
    pub(crate) other: Organization,
    pub(crate) plan: Plan,
}

pub(crate) async fn world(store: &dyn Store, check: &'static str) -> Result<World, Failure> {
    let w = World {
        org: org(check, "acme")?,
        other: org(check, "globex")?,
        plan: plan("small"),
    };
    store
        .create_org(&w.org)
        .await
        .or_fail(check, "create_org acme")?;
    store
        .create_org(&w.other)
        .await
        .or_fail(check, "create_org globex")?;
    store
        .create_plan(&w.plan)
        .await
        .or_fail(check, "create_plan small")?;
    Ok(w)
}

impl World {
    /// Records an app of `org` with slug `s`.
    pub(crate) async fn app_of(
        &self,
        store: &dyn Store,
        check: &'static str,
        org: OrgId,
        s: &str,
    ) -> Result<Application, Failure> {
        let a = app(check, org, self.plan.id, s)?;
        store
            .create_app(&a)
            .await
            .or_fail(check, format!("create_app {s}"))?;
        Ok(a)
    }

    /// Records an app of the main organisation with slug `s`.
    pub(crate) async fn app(
        &self,
        store: &dyn Store,
        check: &'static str,
        s: &str,
    ) -> Result<Application, Failure> {
        self.app_of(store, check, self.org.id, s).await
    }
}
