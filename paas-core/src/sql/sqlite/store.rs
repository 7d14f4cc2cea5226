//! `Store` on SQLite.

use super::{BACKEND, SqliteStore};
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
use crate::sql::common::{operation_columns, operation_from_row};
use crate::sql::error::map_sqlx_error;
use crate::sql::store_impl::impl_store;
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
     WHERE ($1 IS NULL OR org = $1)
       AND ($2 IS NULL OR id > $2)
       AND ($3 IS NULL OR status = $3)
       AND ($4 OR status <> 'deleted')
       AND ($5 IS NULL OR instr(lower(name), $5) > 0 OR instr(lower(slug), $5) > 0)
     ORDER BY id
     LIMIT $6"
);

impl SqliteStore {
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

impl_store!(SqliteStore, {
    async fn list_plans(&self) -> Result<Vec<Plan>> {
        sqlx::query(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans ORDER BY name, id"
        ))
        .fetch_all(self.db())
        .await
        .map_err(db_err("listing plans"))?
        .iter()
        .map(plan_from_row)
        .collect()
    }

    async fn count_apps(&self, org: Option<OrgId>) -> Result<BTreeMap<AppStatus, u64>> {
        let rows = sqlx::query(
            "SELECT status, count(*) AS n FROM apps WHERE ($1 IS NULL OR org = $1)
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

    async fn append_event(&self, event: &NewEvent) -> Result<Event> {
        // One INSERT statement runs under SQLite's write lock, so max(seq) + 1 is gap-free and
        // unique; no row is inserted when the app is not the organisation's.
        let seq: Option<i64> = sqlx::query_scalar(concat!(
            "INSERT INTO events (",
            event_columns!(),
            ") SELECT coalesce((SELECT max(seq) FROM events WHERE app = $1), 0) + 1,
                      $2, $1, $3, $4, $5, $6, $7
                 FROM apps WHERE id = $1 AND org = $2
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
});
