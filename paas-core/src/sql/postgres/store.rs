//! `Store` on PostgreSQL.

use super::{BACKEND, PgStore};
use crate::model::{
    AppId, AppStatus, Application, Event, NewEvent, Operation, OperationId, OrgId, Organization,
    Plan, PlanId, Release, Timestamp, UsageRecord,
};
use crate::ports::{AppQuery, Page, Store};
use crate::sql::common::{
    AppParams, app_columns, app_from_row, bind_app, decode_cursor, encode_cursor, event_columns,
    event_from_row, json, org_columns, org_from_row, plan_columns, plan_from_row, release_columns,
    release_from_row, search_needle, to_u64, ts_to_ns, ts_to_ns_clamped, usage_columns,
    usage_from_row,
};
use crate::sql::error::map_sqlx_error;
use crate::{Error, Result};
use async_trait::async_trait;
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

pub(super) fn db_err(doing: impl std::fmt::Display) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| map_sqlx_error(BACKEND, doing, e)
}

/// The SELECT list and filter of a page of apps; `$1` is the org (NULL: every org).
const LIST_APPS: &str = concat!(
    "SELECT ",
    app_columns!(),
    " FROM apps
     WHERE ($1::uuid IS NULL OR org = $1)
       AND ($2::uuid IS NULL OR id > $2)
       AND ($3::text IS NULL OR status = $3)
       AND ($4 OR status <> 'deleted')
       AND ($5::text IS NULL OR strpos(lower(name), $5) > 0 OR strpos(lower(slug), $5) > 0)
     ORDER BY id
     LIMIT $6"
);

impl PgStore {
    async fn list_apps_in(
        &self,
        org: Option<OrgId>,
        query: &AppQuery,
    ) -> Result<Page<Application>> {
        let after = query.after.as_deref().map(decode_cursor).transpose()?;
        let limit = query.effective_limit();
        let rows = sqlx::query(LIST_APPS)
            .bind(org.map(|o| o.as_uuid()))
            .bind(after)
            .bind(query.status.map(AppStatus::as_str))
            .bind(query.include_deleted)
            .bind(search_needle(query.search.as_deref()))
            .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
            .fetch_all(self.db())
            .await
            .map_err(db_err("listing apps"))?;
        let mut items = rows.iter().map(app_from_row).collect::<Result<Vec<_>>>()?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|a| encode_cursor(a.id))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// An empty list of an app's records means nothing only if the app is the organisation's:
    /// otherwise the app is `NotFound`, as for a single read.
    pub(super) async fn nonempty_or_app_exists<T>(
        &self,
        org: OrgId,
        app: AppId,
        doing: &str,
        items: Vec<T>,
    ) -> Result<Vec<T>> {
        if !items.is_empty() {
            return Ok(items);
        }
        let exists: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM apps WHERE id = $1 AND org = $2")
                .bind(app.as_uuid())
                .bind(org.as_uuid())
                .fetch_optional(self.db())
                .await
                .map_err(db_err(format!("{doing} of app {app}")))?;
        match exists {
            Some(_) => Ok(items),
            None => Err(not_found(format!(
                "{doing}: app {app} does not exist in organisation {org}"
            ))),
        }
    }
}

pub(super) fn not_found(what: String) -> Error {
    Error::not_found(what).with_backend(BACKEND)
}

#[async_trait]
impl Store for PgStore {
    async fn create_org(&self, org: &Organization) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO orgs (",
            org_columns!(),
            ") VALUES ($1, $2, $3, $4)"
        ))
        .bind(org.id.as_uuid())
        .bind(&org.name)
        .bind(org.slug.as_str())
        .bind(ts_to_ns(org.created_at)?)
        .execute(self.db())
        .await
        .map_err(db_err(format!("creating organisation '{}'", org.slug)))?;
        Ok(())
    }

    async fn get_org(&self, id: OrgId) -> Result<Organization> {
        let row = sqlx::query(concat!(
            "SELECT ",
            org_columns!(),
            " FROM orgs WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(self.db())
        .await
        .map_err(db_err(format!("reading organisation {id}")))?;
        match row {
            Some(r) => org_from_row(&r),
            None => Err(not_found(format!("organisation {id} does not exist"))),
        }
    }

    async fn list_orgs_all(&self) -> Result<Vec<Organization>> {
        sqlx::query(concat!("SELECT ", org_columns!(), " FROM orgs ORDER BY id"))
            .fetch_all(self.db())
            .await
            .map_err(db_err("listing organisations"))?
            .iter()
            .map(org_from_row)
            .collect()
    }

    async fn create_plan(&self, plan: &Plan) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO plans (",
            plan_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(plan.id.as_uuid())
        .bind(&plan.name)
        .bind(i64::from(plan.cpu))
        .bind(i64::from(plan.memory_mb))
        .bind(i64::from(plan.disk_gb))
        .bind(plan.price_per_hour.micros())
        .bind(i64::from(plan.max_replicas))
        .execute(self.db())
        .await
        .map_err(db_err(format!("creating plan '{}'", plan.name)))?;
        Ok(())
    }

    async fn get_plan(&self, id: PlanId) -> Result<Plan> {
        let row = sqlx::query(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(self.db())
        .await
        .map_err(db_err(format!("reading plan {id}")))?;
        match row {
            Some(r) => plan_from_row(&r),
            None => Err(not_found(format!("plan {id} does not exist"))),
        }
    }

    async fn list_plans(&self) -> Result<Vec<Plan>> {
        // COLLATE "C": byte order, the same on every server and in every backend.
        sqlx::query(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans ORDER BY name COLLATE \"C\", id"
        ))
        .fetch_all(self.db())
        .await
        .map_err(db_err("listing plans"))?
        .iter()
        .map(plan_from_row)
        .collect()
    }

    async fn create_app(&self, app: &Application) -> Result<()> {
        let p = AppParams::new(app)?;
        bind_app!(
            sqlx::query(concat!(
                "INSERT INTO apps (",
                app_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                  $17, $18, $19)"
            )),
            p
        )
        .execute(self.db())
        .await
        .map_err(db_err(format!("creating app '{}'", app.slug)))?;
        Ok(())
    }

    async fn get_app(&self, org: OrgId, id: AppId) -> Result<Application> {
        let row = sqlx::query(concat!(
            "SELECT ",
            app_columns!(),
            " FROM apps WHERE id = $1 AND org = $2"
        ))
        .bind(id.as_uuid())
        .bind(org.as_uuid())
        .fetch_optional(self.db())
        .await
        .map_err(db_err(format!("reading app {id}")))?;
        match row {
            Some(r) => app_from_row(&r),
            None => Err(not_found(format!(
                "app {id} does not exist in organisation {org}"
            ))),
        }
    }

    async fn update_app(&self, app: &Application) -> Result<Application> {
        let p = AppParams::new(app)?;
        let row = bind_app!(
            sqlx::query(concat!(
                "UPDATE apps SET name = $3, slug = $4, runtime = $5, plan = $6, replicas = $7,
                    env = $8, domains = $9, health_check = $10, listen_port = $11, status = $12,
                    status_reason = $13, placement = $14, ports = $15, current_release = $16,
                    created_at_ns = $17, updated_at_ns = $18, version = version + 1
                 WHERE id = $1 AND org = $2 AND version = $19
                 RETURNING ",
                app_columns!()
            )),
            p
        )
        .fetch_optional(self.db())
        .await
        .map_err(db_err(format!("updating app '{}'", app.slug)))?;
        if let Some(r) = row {
            return app_from_row(&r);
        }
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT version FROM apps WHERE id = $1 AND org = $2")
                .bind(app.id.as_uuid())
                .bind(app.org.as_uuid())
                .fetch_optional(self.db())
                .await
                .map_err(db_err(format!("updating app '{}'", app.slug)))?;
        Err(match stored {
            None => not_found(format!(
                "app {} does not exist in organisation {}",
                app.id, app.org
            )),
            Some(v) => Error::conflict(format!(
                "updating app '{}': it was changed by someone else (stored version {v}, given \
                 {}); read it again and reapply the change",
                app.slug, app.version
            ))
            .with_backend(BACKEND),
        })
    }

    async fn list_apps(&self, org: OrgId, query: &AppQuery) -> Result<Page<Application>> {
        self.list_apps_in(Some(org), query).await
    }

    async fn list_apps_all(&self, query: &AppQuery) -> Result<Page<Application>> {
        self.list_apps_in(None, query).await
    }

    async fn count_apps(&self, org: Option<OrgId>) -> Result<BTreeMap<AppStatus, u64>> {
        let rows = sqlx::query(
            "SELECT status, count(*) AS n FROM apps WHERE ($1::uuid IS NULL OR org = $1)
             GROUP BY status",
        )
        .bind(org.map(|o| o.as_uuid()))
        .fetch_all(self.db())
        .await
        .map_err(db_err("counting apps"))?;
        let mut out = BTreeMap::new();
        for r in rows {
            let status: String = r.try_get("status").map_err(db_err("counting apps"))?;
            let n: i64 = r.try_get("n").map_err(db_err("counting apps"))?;
            let status = status.parse::<AppStatus>().map_err(|e| {
                Error::internal(format!("stored app status is invalid: {}", e.message()))
            })?;
            out.insert(status, to_u64(n, "app count")?);
        }
        Ok(out)
    }

    async fn create_release(&self, release: &Release) -> Result<()> {
        let done = sqlx::query(concat!(
            "INSERT INTO releases (",
            release_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
               WHERE EXISTS (SELECT 1 FROM apps WHERE id = $3 AND org = $2)"
        ))
        .bind(release.id.as_uuid())
        .bind(release.org.as_uuid())
        .bind(release.app.as_uuid())
        .bind(i64::from(release.number))
        .bind(json(&release.runtime, "runtime")?)
        .bind(&release.env_digest)
        .bind(i64::from(release.replicas))
        .bind(release.plan.as_uuid())
        .bind(ts_to_ns(release.created_at)?)
        .execute(self.db())
        .await
        .map_err(db_err(format!(
            "creating release {} of app {}",
            release.number, release.app
        )))?;
        if done.rows_affected() == 0 {
            return Err(not_found(format!(
                "creating release {}: app {} does not exist in organisation {}",
                release.number, release.app, release.org
            )));
        }
        Ok(())
    }

    async fn get_release(&self, org: OrgId, app: AppId, number: u32) -> Result<Release> {
        let row = sqlx::query(concat!(
            "SELECT ",
            release_columns!(),
            " FROM releases WHERE org = $1 AND app = $2 AND number = $3"
        ))
        .bind(org.as_uuid())
        .bind(app.as_uuid())
        .bind(i64::from(number))
        .fetch_optional(self.db())
        .await
        .map_err(db_err(format!("reading release {number} of app {app}")))?;
        match row {
            Some(r) => release_from_row(&r),
            None => Err(not_found(format!(
                "release {number} of app {app} does not exist"
            ))),
        }
    }

    async fn list_releases(&self, org: OrgId, app: AppId) -> Result<Vec<Release>> {
        let items = sqlx::query(concat!(
            "SELECT ",
            release_columns!(),
            " FROM releases WHERE org = $1 AND app = $2 ORDER BY number"
        ))
        .bind(org.as_uuid())
        .bind(app.as_uuid())
        .fetch_all(self.db())
        .await
        .map_err(db_err(format!("listing releases of app {app}")))?
        .iter()
        .map(release_from_row)
        .collect::<Result<Vec<_>>>()?;
        self.nonempty_or_app_exists(org, app, "listing releases", items)
            .await
    }

    async fn enqueue(&self, op: &Operation) -> Result<()> {
        self.enqueue_op(op).await
    }

    async fn get_operation(&self, org: OrgId, id: OperationId) -> Result<Operation> {
        self.get_op(org, id).await
    }

    async fn list_operations(&self, org: OrgId, app: AppId, limit: u32) -> Result<Vec<Operation>> {
        self.list_ops(org, app, limit).await
    }

    async fn count_unfinished_operations(&self) -> Result<u64> {
        self.count_unfinished().await
    }

    async fn lease(
        &self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<Option<Operation>> {
        self.lease_op(worker, now, lease_for).await
    }

    async fn heartbeat(
        &self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<()> {
        self.heartbeat_op(id, worker, now, lease_for).await
    }

    async fn checkpoint(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
    ) -> Result<()> {
        self.checkpoint_op(id, worker, checkpoint).await
    }

    async fn checkpoint_with_event(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
        event: &NewEvent,
    ) -> Result<Event> {
        self.checkpoint_with_event_op(id, worker, checkpoint, event)
            .await
    }

    async fn complete(&self, id: OperationId, worker: &str, now: Timestamp) -> Result<()> {
        self.complete_op(id, worker, now).await
    }

    async fn retry_at(
        &self,
        id: OperationId,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> Result<()> {
        self.retry_op_at(id, worker, at, error).await
    }

    async fn fail(&self, id: OperationId, worker: &str, now: Timestamp, error: &str) -> Result<()> {
        self.fail_op(id, worker, now, error).await
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.wait(timeout).await;
    }

    async fn append_event(&self, event: &NewEvent) -> Result<Event> {
        // The app row's counter is bumped and the event inserted in one statement: the row
        // lock orders concurrent appends, and a failed insert rolls the counter back.
        let seq: Option<i64> = sqlx::query_scalar(concat!(
            "WITH s AS (UPDATE apps SET last_event_seq = last_event_seq + 1
                         WHERE id = $1 AND org = $2 RETURNING last_event_seq)
             INSERT INTO events (",
            event_columns!(),
            ") SELECT s.last_event_seq, $2, $1, $3, $4, $5, $6, $7 FROM s
             RETURNING seq"
        ))
        .bind(event.app.as_uuid())
        .bind(event.org.as_uuid())
        .bind(event.operation.map(|o| o.as_uuid()))
        .bind(ts_to_ns(event.at)?)
        .bind(event.level.as_str())
        .bind(&event.step)
        .bind(&event.message)
        .fetch_optional(self.db())
        .await
        .map_err(db_err(format!("appending an event to app {}", event.app)))?;
        let Some(seq) = seq else {
            return Err(not_found(format!(
                "appending an event: app {} does not exist in organisation {}",
                event.app, event.org
            )));
        };
        Ok(Event {
            seq: to_u64(seq, "event seq")?,
            org: event.org,
            app: event.app,
            operation: event.operation,
            at: event.at,
            level: event.level,
            step: event.step.clone(),
            message: event.message.clone(),
        })
    }

    async fn list_events(
        &self,
        org: OrgId,
        app: AppId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>> {
        // Past the last possible seq: nothing, if the app is the organisation's.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let items = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE org = $1 AND app = $2 AND seq > $3 ORDER BY seq LIMIT $4"
        ))
        .bind(org.as_uuid())
        .bind(app.as_uuid())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.db())
        .await
        .map_err(db_err(format!("listing events of app {app}")))?
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>>>()?;
        self.nonempty_or_app_exists(org, app, "listing events", items)
            .await
    }

    async fn record_usage(&self, usage: &UsageRecord) -> Result<bool> {
        let doing = format!("recording usage of app {} at {}", usage.app, usage.hour);
        let done = sqlx::query(concat!(
            "INSERT INTO usage_records (",
            usage_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6
               WHERE EXISTS (SELECT 1 FROM apps WHERE id = $2 AND org = $1)
             ON CONFLICT (app, hour_ns) DO NOTHING"
        ))
        .bind(usage.org.as_uuid())
        .bind(usage.app.as_uuid())
        .bind(ts_to_ns(usage.hour)?)
        .bind(i64::from(usage.replicas))
        .bind(usage.amount.micros())
        .bind(&usage.transfer_id)
        .execute(self.db())
        .await
        .map_err(db_err(doing.clone()))?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        let exists: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM apps WHERE id = $1 AND org = $2")
                .bind(usage.app.as_uuid())
                .bind(usage.org.as_uuid())
                .fetch_optional(self.db())
                .await
                .map_err(db_err(doing.clone()))?;
        match exists {
            Some(_) => Ok(false),
            None => Err(not_found(format!(
                "{doing}: app {} does not exist in organisation {}",
                usage.app, usage.org
            ))),
        }
    }

    /// All or nothing: one statement (Postgres) or one transaction (SQLite); a row naming
    /// another organisation's app fails the whole batch with `NotFound`.
    async fn record_usages(&self, usages: &[UsageRecord]) -> Result<u64> {
        self.insert_usages(usages).await
    }

    async fn list_usage(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            usage_columns!(),
            " FROM usage_records WHERE org = $1 AND hour_ns >= $2 AND hour_ns < $3
              ORDER BY hour_ns, app"
        ))
        .bind(org.as_uuid())
        .bind(ts_to_ns_clamped(from))
        .bind(ts_to_ns_clamped(to))
        .fetch_all(self.db())
        .await
        .map_err(db_err(format!("listing usage of organisation {org}")))?
        .iter()
        .map(usage_from_row)
        .collect()
    }
}
