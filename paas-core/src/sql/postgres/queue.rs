//! The operation queue of the PostgreSQL store: enqueue, lease, renew, finish.

use super::store::{db_err, not_found};
use super::{BACKEND, PgStore};
use crate::model::{Event, NewEvent, Operation, OperationId, Timestamp};
use crate::sql::common::{
    event_columns, json, lost_lease_error, ns_after, operation_columns, operation_from_row, to_u64,
    ts_to_ns,
};
use crate::sql::error::map_sqlx_error;
use crate::{Error, Result};
use sqlx::Row;
use std::time::Duration;

/// Makes the current (single-statement) transaction commit without waiting for its WAL flush.
/// Used for leases and lease renewals only: losing one in a server crash is harmless (the
/// operation is leased again and its steps are idempotent), while waiting for the flush would
/// double the commits that wait for the disk per operation.
macro_rules! async_commit {
    () => {
        "cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS sync_off)"
    };
}

/// Whether the finished operation `o` leaves its app with a queued operation, which becomes
/// eligible now.
macro_rules! has_next {
    () => {
        "EXISTS (SELECT 1 FROM operations p
                  WHERE p.app = o.app AND p.state = 'queued' AND p.seq > o.seq) AS has_next"
    };
}

impl PgStore {
    /// After a lease-checked update changed no row: `NotFound` if the operation does not
    /// exist, else `Conflict` (the worker lost its lease).
    async fn lease_lost(&self, id: OperationId, worker: &str, doing: &str) -> Error {
        let row = sqlx::query("SELECT state, lease_worker FROM operations WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.db())
            .await;
        match row {
            Err(e) => map_sqlx_error(BACKEND, format!("{doing} operation {id}"), e),
            Ok(None) => Error::not_found(format!("{doing} operation {id}: it does not exist"))
                .with_backend(BACKEND),
            Ok(Some(r)) => {
                let state: String = r.try_get("state").unwrap_or_default();
                let holder: Option<String> = r.try_get("lease_worker").unwrap_or(None);
                lost_lease_error(id, worker, doing, &state, holder.as_deref()).with_backend(BACKEND)
            }
        }
    }

    /// Wakes idle workers of every process sharing this schema (`NOTIFY`) and of this one.
    ///
    /// A statement of its own with an asynchronous commit: PostgreSQL serialises the commits
    /// of notifying transactions on a global lock, so a `NOTIFY` inside the queue's durable
    /// writes would make them wait for each other's disk flush.
    async fn notify_workers(&self) {
        self.wake_local();
        let sent = sqlx::query(concat!(
            "WITH ",
            async_commit!(),
            " SELECT pg_notify('paas_work', coalesce(current_schema()::text, '')) FROM cfg"
        ))
        .execute(self.db())
        .await;
        if let Err(e) = sent {
            tracing::warn!(
                error = %e,
                "paas store: could not NOTIFY idle workers; they find the work at their next poll"
            );
        }
    }

    /// Runs a lease-checked update of one operation (`$1` id, `$2` worker) returning
    /// `has_next`: whether waiting workers should be told about work it made available.
    async fn leased_update(
        &self,
        sql: &'static str,
        id: OperationId,
        worker: &str,
        doing: &str,
        bind: impl FnOnce(
            sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        )
            -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<()> {
        let q = bind(sqlx::query(sql).bind(id.as_uuid()).bind(worker));
        let row = q
            .fetch_optional(self.db())
            .await
            .map_err(db_err(format!("{doing} operation {id}")))?;
        let Some(row) = row else {
            return Err(self.lease_lost(id, worker, doing).await);
        };
        let has_next: bool = row
            .try_get("has_next")
            .map_err(db_err(format!("{doing} operation {id}")))?;
        if has_next {
            self.notify_workers().await;
        }
        Ok(())
    }

    pub(super) async fn enqueue_op(&self, op: &Operation) -> Result<()> {
        let done = sqlx::query(concat!(
            "INSERT INTO operations (",
            operation_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
                WHERE EXISTS (SELECT 1 FROM apps WHERE id = $3 AND org = $2)"
        ))
        .bind(op.id.as_uuid())
        .bind(op.org.as_uuid())
        .bind(op.app.as_uuid())
        .bind(json(&op.kind, "operation kind")?)
        .bind(op.state.as_str())
        .bind(json(&op.checkpoint, "checkpoint")?)
        .bind(i64::from(op.attempts))
        .bind(op.error.as_deref())
        .bind(ts_to_ns(op.not_before)?)
        .bind(op.lease.as_ref().map(|l| l.worker.as_str()))
        .bind(
            op.lease
                .as_ref()
                .map(|l| ts_to_ns(l.expires_at))
                .transpose()?,
        )
        .bind(ts_to_ns(op.created_at)?)
        .bind(ts_to_ns(op.updated_at)?)
        .bind(op.finished_at.map(ts_to_ns).transpose()?)
        .execute(self.db())
        .await
        .map_err(db_err(format!("enqueuing {} operation {}", op.kind, op.id)))?;
        if done.rows_affected() == 0 {
            return Err(not_found(format!(
                "enqueuing {} operation {}: app {} does not exist in organisation {}",
                op.kind, op.id, op.app, op.org
            )));
        }
        self.notify_workers().await;
        Ok(())
    }

    pub(super) async fn lease_op(
        &self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<Option<Operation>> {
        self.lease_started();
        // One statement: pick the first due operation that is its app's oldest unfinished one
        // (queued, or running with an expired lease), skipping rows another worker is leasing
        // right now, and take it. The commit does not wait for the disk (see `async_commit`).
        let row = sqlx::query(concat!(
            "WITH candidate AS (
               SELECT o.id AS cid FROM operations o
                WHERE o.state IN ('queued', 'running')
                  AND o.not_before_ns <= $2
                  AND (o.state = 'queued' OR o.lease_expires_ns <= $2)
                  AND NOT EXISTS (SELECT 1 FROM operations p
                                   WHERE p.app = o.app AND p.state IN ('queued', 'running')
                                     AND p.seq < o.seq)
                ORDER BY o.not_before_ns, o.seq
                LIMIT 1
                FOR UPDATE OF o SKIP LOCKED), ",
            async_commit!(),
            " UPDATE operations
                SET state = 'running', lease_worker = $1, lease_expires_ns = $3,
                    attempts = attempts + 1, updated_at_ns = $2
               FROM candidate, cfg
              WHERE id = candidate.cid
             RETURNING ",
            operation_columns!()
        ))
        .bind(worker)
        .bind(ts_to_ns(now)?)
        .bind(ns_after(now, lease_for)?)
        .fetch_optional(self.db())
        .await
        .map_err(db_err(format!(
            "leasing an operation for worker '{worker}'"
        )))?;
        row.as_ref().map(operation_from_row).transpose()
    }

    pub(super) async fn heartbeat_op(
        &self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<()> {
        let done = sqlx::query(concat!(
            "WITH ",
            async_commit!(),
            " UPDATE operations SET lease_expires_ns = $3 FROM cfg
               WHERE id = $1 AND state = 'running' AND lease_worker = $2"
        ))
        .bind(id.as_uuid())
        .bind(worker)
        .bind(ns_after(now, lease_for)?)
        .execute(self.db())
        .await
        .map_err(db_err(format!("renewing the lease of operation {id}")))?;
        if done.rows_affected() == 0 {
            return Err(self.lease_lost(id, worker, "renewing the lease of").await);
        }
        Ok(())
    }

    pub(super) async fn checkpoint_op(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE operations SET checkpoint = $3
              WHERE id = $1 AND state = 'running' AND lease_worker = $2",
        )
        .bind(id.as_uuid())
        .bind(worker)
        .bind(json(checkpoint, "checkpoint")?)
        .execute(self.db())
        .await
        .map_err(db_err(format!("saving the checkpoint of operation {id}")))?;
        if done.rows_affected() == 0 {
            return Err(self
                .lease_lost(id, worker, "saving the checkpoint of")
                .await);
        }
        Ok(())
    }

    /// The checkpoint and the step's event in one statement (one round trip): the lease-checked
    /// checkpoint update, then the app's event counter bump and the event insert, each only if
    /// the one before matched a row. The checkpoint is only written when the event's app is
    /// the organisation's, so a refused append leaves nothing behind either.
    pub(super) async fn checkpoint_with_event_op(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
        event: &NewEvent,
    ) -> Result<Event> {
        let doing = format!("saving the checkpoint and an event of operation {id}");
        let seq: Option<i64> = sqlx::query_scalar(concat!(
            "WITH c AS (UPDATE operations SET checkpoint = $3
                         WHERE id = $1 AND state = 'running' AND lease_worker = $2
                           AND EXISTS (SELECT 1 FROM apps WHERE id = $4 AND org = $5)
                        RETURNING id),
                  s AS (UPDATE apps SET last_event_seq = last_event_seq + 1
                         WHERE id = $4 AND org = $5 AND EXISTS (SELECT 1 FROM c)
                        RETURNING last_event_seq)
             INSERT INTO events (",
            event_columns!(),
            ") SELECT s.last_event_seq, $5, $4, $6, $7, $8, $9, $10 FROM s
             RETURNING seq"
        ))
        .bind(id.as_uuid())
        .bind(worker)
        .bind(json(checkpoint, "checkpoint")?)
        .bind(event.app.as_uuid())
        .bind(event.org.as_uuid())
        .bind(event.operation.map(|o| o.as_uuid()))
        .bind(ts_to_ns(event.at)?)
        .bind(event.level.as_str())
        .bind(&event.step)
        .bind(&event.message)
        .fetch_optional(self.db())
        .await
        .map_err(db_err(doing.clone()))?;
        let Some(seq) = seq else {
            return Err(self.explain_unwritten(id, worker, event).await);
        };
        Ok(stored_event(event, to_u64(seq, "event seq")?))
    }

    /// Why a checkpoint-with-event wrote nothing: the lease is lost (`Conflict`), the
    /// operation does not exist, or the event's app is not the organisation's (`NotFound`).
    async fn explain_unwritten(&self, id: OperationId, worker: &str, event: &NewEvent) -> Error {
        let doing = "saving the checkpoint of";
        let err = self.lease_lost(id, worker, doing).await;
        let still_held = err.is_conflict()
            && sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM operations
                                 WHERE id = $1 AND state = 'running' AND lease_worker = $2)",
            )
            .bind(id.as_uuid())
            .bind(worker)
            .fetch_one(self.db())
            .await
            .unwrap_or(false);
        if still_held {
            return not_found(format!(
                "appending an event: app {} does not exist in organisation {}",
                event.app, event.org
            ));
        }
        err
    }

    pub(super) async fn complete_op(
        &self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
    ) -> Result<()> {
        let now = ts_to_ns(now)?;
        self.leased_update(
            concat!(
                "UPDATE operations o
                    SET state = 'succeeded', finished_at_ns = $3, updated_at_ns = $3,
                        lease_worker = NULL, lease_expires_ns = NULL
                  WHERE id = $1 AND state = 'running' AND lease_worker = $2
                 RETURNING ",
                has_next!()
            ),
            id,
            worker,
            "completing",
            |q| q.bind(now),
        )
        .await
    }

    pub(super) async fn retry_op_at(
        &self,
        id: OperationId,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> Result<()> {
        let at = ts_to_ns(at)?;
        let error = error.to_owned();
        self.leased_update(
            "UPDATE operations
                    SET state = 'queued', not_before_ns = $3, error = $4,
                        lease_worker = NULL, lease_expires_ns = NULL
                  WHERE id = $1 AND state = 'running' AND lease_worker = $2
                 RETURNING true AS has_next",
            id,
            worker,
            "scheduling a retry of",
            |q| q.bind(at).bind(error),
        )
        .await
    }

    pub(super) async fn fail_op(
        &self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
        error: &str,
    ) -> Result<()> {
        let now = ts_to_ns(now)?;
        let error = error.to_owned();
        self.leased_update(
            concat!(
                "UPDATE operations o
                    SET state = 'failed', error = $4, finished_at_ns = $3, updated_at_ns = $3,
                        lease_worker = NULL, lease_expires_ns = NULL
                  WHERE id = $1 AND state = 'running' AND lease_worker = $2
                 RETURNING ",
                has_next!()
            ),
            id,
            worker,
            "failing",
            |q| q.bind(now).bind(error),
        )
        .await
    }
}

/// The event `event` as stored with `seq`.
pub(super) fn stored_event(event: &NewEvent, seq: u64) -> Event {
    Event {
        seq,
        org: event.org,
        app: event.app,
        operation: event.operation,
        at: event.at,
        level: event.level,
        step: event.step.clone(),
        message: event.message.clone(),
    }
}
