//! What the two SQL backends share: conversions between records and columns, the page cursor,
//! and reading rows into records.

use crate::model::{
    Allocation, AppId, AppStatus, Application, Event, EventLevel, Lease, Money, Operation,
    OperationId, OperationState, OrgId, Organization, Plan, PlanId, Port, Release, ReleaseId,
    Timestamp, UsageRecord,
};
use crate::{Error, Result};
use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::types::Json;
use uuid::Uuid;

/// A timestamp as integer nanoseconds since the Unix epoch.
pub(crate) fn ts_to_ns(t: Timestamp) -> Result<i64> {
    t.timestamp_nanos_opt().ok_or_else(|| {
        Error::invalid_input(format!(
            "timestamp {t} cannot be stored: the SQL store keeps times between 1677-09-21 and \
             2262-04-11 (UTC)"
        ))
    })
}

/// A bound of a time range in nanoseconds: times beyond what the store keeps are clamped.
pub(crate) fn ts_to_ns_clamped(t: Timestamp) -> i64 {
    t.timestamp_nanos_opt()
        .unwrap_or(if t.timestamp() < 0 { i64::MIN } else { i64::MAX })
}

/// Integer nanoseconds since the Unix epoch as a timestamp.
pub(crate) fn ns_to_ts(ns: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_nanos(ns)
}

/// `now + d` in nanoseconds, saturating instead of overflowing.
pub(crate) fn ns_after(now: Timestamp, d: std::time::Duration) -> Result<i64> {
    let now = ts_to_ns(now)?;
    let d = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    Ok(now.saturating_add(d))
}

/// An unsigned count or number as the signed 64-bit integer SQL stores.
pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| {
        Error::invalid_input(format!("{what} {v} is too large for the SQL store (at most {})", i64::MAX))
    })
}

/// A stored integer back as an unsigned one; a negative value means a corrupt row.
pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(what, v))
}

/// A stored integer back as a `u32`.
pub(crate) fn to_u32(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(what, v))
}

fn corrupt(what: &str, v: impl std::fmt::Display) -> Error {
    Error::internal(format!(
        "the stored {what} ({v}) is out of range: the row was written by something other than \
         this SDK"
    ))
}

/// A value as JSON for a JSON column.
pub(crate) fn json<T: Serialize>(v: &T, what: &str) -> Result<Json<serde_json::Value>> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| Error::internal(format!("cannot encode the {what} as JSON: {e}")))
}

/// The opaque cursor of a page of apps: the last app's id, base64url.
pub(crate) fn encode_cursor(last: AppId) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_uuid().as_bytes())
}

/// Reads a cursor made by [`encode_cursor`].
pub(crate) fn decode_cursor(cursor: &str) -> Result<Uuid> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "'{}' is not a page cursor: pass the `next` of the previous page unchanged",
                cursor.chars().take(80).collect::<String>().escape_debug()
            ))
        })
}

/// Search text as the lowercase needle the queries look for (`strpos`/`instr` on lowercased
/// name and slug, so `%` and `_` are plain characters: nothing to escape).
pub(crate) fn search_needle(search: Option<&str>) -> Option<String> {
    search.map(str::to_lowercase).filter(|s| !s.is_empty())
}

/// Bind values of an app's columns, in the order of `app_columns!()`.
pub(crate) struct AppParams {
    pub id: Uuid,
    pub org: Uuid,
    pub name: String,
    pub slug: String,
    pub runtime: Json<serde_json::Value>,
    pub plan: Uuid,
    pub replicas: i64,
    pub env: Json<serde_json::Value>,
    pub domains: Json<serde_json::Value>,
    pub health_check: Json<serde_json::Value>,
    pub listen_port: Option<i64>,
    pub status: &'static str,
    pub status_reason: Option<String>,
    pub placement: Json<serde_json::Value>,
    pub ports: Json<serde_json::Value>,
    pub current_release: Option<i64>,
    pub created_at_ns: i64,
    pub updated_at_ns: i64,
    pub version: i64,
}

impl AppParams {
    pub(crate) fn new(app: &Application) -> Result<Self> {
        Ok(AppParams {
            id: app.id.as_uuid(),
            org: app.org.as_uuid(),
            name: app.name.clone(),
            slug: app.slug.as_str().to_owned(),
            runtime: json(&app.runtime, "runtime")?,
            plan: app.plan.as_uuid(),
            replicas: i64::from(app.replicas),
            env: json(&app.env, "env")?,
            domains: json(&app.domains, "domains")?,
            health_check: json(&app.health_check, "health check")?,
            listen_port: app.listen_port.map(|p| i64::from(p.get())),
            status: app.status.as_str(),
            status_reason: app.status_reason.clone(),
            placement: json(&app.placement, "placement")?,
            ports: json(&app.ports, "ports")?,
            current_release: app.current_release.map(i64::from),
            created_at_ns: ts_to_ns(app.created_at)?,
            updated_at_ns: ts_to_ns(app.updated_at)?,
            version: to_i64(app.version, "app version")?,
        })
    }
}

/// Binds [`AppParams`] in column order onto a query.
macro_rules! bind_app {
    ($q:expr, $p:expr) => {
        $q.bind($p.id)
            .bind($p.org)
            .bind($p.name)
            .bind($p.slug)
            .bind($p.runtime)
            .bind($p.plan)
            .bind($p.replicas)
            .bind($p.env)
            .bind($p.domains)
            .bind($p.health_check)
            .bind($p.listen_port)
            .bind($p.status)
            .bind($p.status_reason)
            .bind($p.placement)
            .bind($p.ports)
            .bind($p.current_release)
            .bind($p.created_at_ns)
            .bind($p.updated_at_ns)
            .bind($p.version)
    };
}
pub(crate) use bind_app;

/// Typed column access shared by both backends' rows.
pub(crate) trait Cols {
    fn uuid(&self, c: &str) -> Result<Uuid>;
    fn opt_uuid(&self, c: &str) -> Result<Option<Uuid>>;
    fn int(&self, c: &str) -> Result<i64>;
    fn opt_int(&self, c: &str) -> Result<Option<i64>>;
    fn text(&self, c: &str) -> Result<String>;
    fn opt_text(&self, c: &str) -> Result<Option<String>>;
    fn json<T: DeserializeOwned>(&self, c: &str) -> Result<T>;
}

fn decode_err(c: &str, e: sqlx::Error) -> Error {
    Error::internal(format!(
        "column '{c}' of a stored row does not decode ({e}); the schema is older or newer \
         than this SDK: run migrate()"
    ))
}

macro_rules! impl_cols {
    ($row:ty) => {
        impl Cols for $row {
            fn uuid(&self, c: &str) -> Result<Uuid> {
                sqlx::Row::try_get(self, c).map_err(|e| decode_err(c, e))
            }
            fn opt_uuid(&self, c: &str) -> Result<Option<Uuid>> {
                sqlx::Row::try_get(self, c).map_err(|e| decode_err(c, e))
            }
            fn int(&self, c: &str) -> Result<i64> {
                sqlx::Row::try_get(self, c).map_err(|e| decode_err(c, e))
            }
            fn opt_int(&self, c: &str) -> Result<Option<i64>> {
                sqlx::Row::try_get(self, c).map_err(|e| decode_err(c, e))
            }
            fn text(&self, c: &str) -> Result<String> {
                sqlx::Row::try_get(self, c).map_err(|e| decode_err(c, e))
            }
            fn opt_text(&self, c: &str) -> Result<Option<String>> {
                sqlx::Row::try_get(self, c).map_err(|e| decode_err(c, e))
            }
            fn json<T: DeserializeOwned>(&self, c: &str) -> Result<T> {
                sqlx::Row::try_get::<Json<T>, _>(self, c)
                    .map(|j| j.0)
                    .map_err(|e| decode_err(c, e))
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_cols!(sqlx::postgres::PgRow);
#[cfg(feature = "sqlite")]
impl_cols!(sqlx::sqlite::SqliteRow);

fn parse<T: std::str::FromStr<Err = Error>>(s: &str, what: &str) -> Result<T> {
    s.parse().map_err(|e: Error| Error::internal(format!("stored {what} is invalid: {}", e.message())))
}

/// The columns of `orgs` (a macro, so queries stay `&'static str` through `concat!`).
macro_rules! org_columns {
    () => {
        "id, name, slug, created_at_ns"
    };
}
pub(crate) use org_columns;

/// The columns of `plans`.
macro_rules! plan_columns {
    () => {
        "id, name, cpu, memory_mb, disk_gb, price_per_hour_micros, max_replicas"
    };
}
pub(crate) use plan_columns;

/// The columns of `releases`.
macro_rules! release_columns {
    () => {
        "id, org, app, number, runtime, env_digest, replicas, plan, created_at_ns"
    };
}
pub(crate) use release_columns;

/// The columns of `events`.
macro_rules! event_columns {
    () => {
        "seq, org, app, operation, at_ns, level, step, message"
    };
}
pub(crate) use event_columns;

/// The columns of `usage_records`.
macro_rules! usage_columns {
    () => {
        "org, app, hour_ns, replicas, amount_micros, transfer_id"
    };
}
pub(crate) use usage_columns;

pub(crate) fn org_from_row(r: &impl Cols) -> Result<Organization> {
    Ok(Organization {
        id: OrgId::from_uuid(r.uuid("id")?),
        name: r.text("name")?,
        slug: parse(&r.text("slug")?, "organisation slug")?,
        created_at: ns_to_ts(r.int("created_at_ns")?),
    })
}

pub(crate) fn plan_from_row(r: &impl Cols) -> Result<Plan> {
    Ok(Plan {
        id: PlanId::from_uuid(r.uuid("id")?),
        name: r.text("name")?,
        cpu: to_u32(r.int("cpu")?, "plan cpu")?,
        memory_mb: to_u32(r.int("memory_mb")?, "plan memory")?,
        disk_gb: to_u32(r.int("disk_gb")?, "plan disk")?,
        price_per_hour: Money::from_micros(r.int("price_per_hour_micros")?),
        max_replicas: to_u32(r.int("max_replicas")?, "plan max replicas")?,
    })
}

pub(crate) fn app_from_row(r: &impl Cols) -> Result<Application> {
    let status: AppStatus = parse(&r.text("status")?, "app status")?;
    Ok(Application {
        id: AppId::from_uuid(r.uuid("id")?),
        org: OrgId::from_uuid(r.uuid("org")?),
        name: r.text("name")?,
        slug: parse(&r.text("slug")?, "app slug")?,
        runtime: r.json("runtime")?,
        plan: PlanId::from_uuid(r.uuid("plan")?),
        replicas: to_u32(r.int("replicas")?, "replicas")?,
        env: r.json("env")?,
        domains: r.json("domains")?,
        health_check: r.json("health_check")?,
        listen_port: r
            .opt_int("listen_port")?
            .map(|p| u64::try_from(p).map_err(|_| corrupt("listen port", p)).and_then(Port::try_from))
            .transpose()?,
        status,
        status_reason: r.opt_text("status_reason")?,
        placement: r.json("placement")?,
        ports: r.json("ports")?,
        current_release: r.opt_int("current_release")?.map(|n| to_u32(n, "release number")).transpose()?,
        created_at: ns_to_ts(r.int("created_at_ns")?),
        updated_at: ns_to_ts(r.int("updated_at_ns")?),
        version: to_u64(r.int("version")?, "app version")?,
    })
}

/// The columns of `apps` a record is read from (and written to, in [`AppParams`] order).
macro_rules! app_columns {
    () => {
        "id, org, name, slug, runtime, plan, replicas, env, domains, health_check, listen_port, \
         status, status_reason, placement, ports, current_release, created_at_ns, \
         updated_at_ns, version"
    };
}
pub(crate) use app_columns;

pub(crate) fn release_from_row(r: &impl Cols) -> Result<Release> {
    Ok(Release {
        id: ReleaseId::from_uuid(r.uuid("id")?),
        org: OrgId::from_uuid(r.uuid("org")?),
        app: AppId::from_uuid(r.uuid("app")?),
        number: to_u32(r.int("number")?, "release number")?,
        runtime: r.json("runtime")?,
        env_digest: r.text("env_digest")?,
        replicas: to_u32(r.int("replicas")?, "replicas")?,
        plan: PlanId::from_uuid(r.uuid("plan")?),
        created_at: ns_to_ts(r.int("created_at_ns")?),
    })
}

fn op_state(s: &str) -> Result<OperationState> {
    Ok(match s {
        "queued" => OperationState::Queued,
        "running" => OperationState::Running,
        "succeeded" => OperationState::Succeeded,
        "failed" => OperationState::Failed,
        other => return Err(corrupt("operation state", other)),
    })
}

pub(crate) fn operation_from_row(r: &impl Cols) -> Result<Operation> {
    let lease = match (r.opt_text("lease_worker")?, r.opt_int("lease_expires_ns")?) {
        (Some(worker), Some(expires)) => Some(Lease { worker, expires_at: ns_to_ts(expires) }),
        _ => None,
    };
    Ok(Operation {
        id: OperationId::from_uuid(r.uuid("id")?),
        org: OrgId::from_uuid(r.uuid("org")?),
        app: AppId::from_uuid(r.uuid("app")?),
        kind: r.json("kind")?,
        state: op_state(&r.text("state")?)?,
        checkpoint: r.json("checkpoint")?,
        attempts: to_u32(r.int("attempts")?, "attempts")?,
        error: r.opt_text("error")?,
        not_before: ns_to_ts(r.int("not_before_ns")?),
        lease,
        created_at: ns_to_ts(r.int("created_at_ns")?),
        updated_at: ns_to_ts(r.int("updated_at_ns")?),
        finished_at: r.opt_int("finished_at_ns")?.map(ns_to_ts),
    })
}

/// The columns of `operations` a record is read from.
macro_rules! operation_columns {
    () => {
        "id, org, app, kind, state, checkpoint, attempts, error, not_before_ns, lease_worker, \
         lease_expires_ns, created_at_ns, updated_at_ns, finished_at_ns"
    };
}
pub(crate) use operation_columns;

pub(crate) fn event_level(s: &str) -> Result<EventLevel> {
    Ok(match s {
        "info" => EventLevel::Info,
        "warn" => EventLevel::Warn,
        "error" => EventLevel::Error,
        other => return Err(corrupt("event level", other)),
    })
}

pub(crate) fn event_from_row(r: &impl Cols) -> Result<Event> {
    Ok(Event {
        seq: to_u64(r.int("seq")?, "event seq")?,
        org: OrgId::from_uuid(r.uuid("org")?),
        app: AppId::from_uuid(r.uuid("app")?),
        operation: r.opt_uuid("operation")?.map(OperationId::from_uuid),
        at: ns_to_ts(r.int("at_ns")?),
        level: event_level(&r.text("level")?)?,
        step: r.text("step")?,
        message: r.text("message")?,
    })
}

pub(crate) fn usage_from_row(r: &impl Cols) -> Result<UsageRecord> {
    Ok(UsageRecord {
        org: OrgId::from_uuid(r.uuid("org")?),
        app: AppId::from_uuid(r.uuid("app")?),
        hour: ns_to_ts(r.int("hour_ns")?),
        replicas: to_u32(r.int("replicas")?, "replicas")?,
        amount: Money::from_micros(r.int("amount_micros")?),
        transfer_id: r.text("transfer_id")?,
    })
}

pub(crate) fn allocation_from_row(r: &impl Cols) -> Result<Allocation> {
    Ok(Allocation {
        pool: r.text("pool")?,
        value: to_u64(r.int("value")?, "allocated value")?,
        owner: r.text("owner")?,
        allocated_at: ns_to_ts(r.int("allocated_at_ns")?),
    })
}

/// A pool's range as the signed integers SQL stores; ranges beyond `i64::MAX` are refused.
pub(crate) fn range_i64(pool: &str, range: crate::ports::PoolRange) -> Result<(i64, i64)> {
    Ok((
        to_i64(range.first, &format!("first value of pool '{pool}'"))?,
        to_i64(range.last, &format!("last value of pool '{pool}'"))?,
    ))
}

/// The error of an allocation from a full pool.
pub(crate) fn pool_full(pool: &str, range: crate::ports::PoolRange, avoid: usize) -> Error {
    Error::conflict(format!(
        "id pool '{pool}' ({}..={}) has no free value left (besides {avoid} values to avoid); \
         release values or widen the pool's range",
        range.first, range.last
    ))
}

/// The error of a lease-checked call by a worker that does not hold the lease.
pub(crate) fn lost_lease_error(
    id: OperationId,
    worker: &str,
    doing: &str,
    state: &str,
    holder: Option<&str>,
) -> Error {
    let holder = holder.map_or_else(|| "nobody".to_owned(), |h| format!("worker '{h}'"));
    Error::conflict(format!(
        "{doing} operation {id}: worker '{worker}' does not hold its lease (it is {state}, \
         leased by {holder}); stop working on it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn timestamps_round_trip_exactly(ns in i64::MIN..i64::MAX) {
            let t = ns_to_ts(ns);
            prop_assert_eq!(ts_to_ns(t).unwrap(), ns);
        }

        #[test]
        fn cursor_round_trips(bytes in any::<[u8; 16]>()) {
            let id = AppId::from_uuid(Uuid::from_bytes(bytes));
            prop_assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id.as_uuid());
        }

        #[test]
        fn garbage_cursor_is_invalid_input(s in "\\PC{0,40}") {
            if let Err(e) = decode_cursor(&s) {
                prop_assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
            }
        }
    }

    #[test]
    fn far_future_timestamp_is_refused() {
        let t = chrono::DateTime::from_timestamp(10_000_000_000, 0).unwrap();
        assert_eq!(ts_to_ns(t).unwrap_err().kind(), crate::ErrorKind::InvalidInput);
    }
}
