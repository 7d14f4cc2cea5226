//! The operation queue of the SQLite store: enqueue, lease, renew, finish.

use super::store::{db_err, not_found};
use super::{BACKEND, SqliteStore};
use crate::model::{Event, NewEvent, Operation, OperationId, Timestamp};
use crate::sql::common::{
    event_columns, json, lost_lease_error, ns_after, operation_columns, operation_from_row, to_u64,
    ts_to_ns,
};
use crate::sql::error::map_sqlx_error;
use crate::{Error, Result};
use sqlx::Row;
use std::time::Duration;

impl SqliteStore {
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

    /// Runs a lease-checked update of one operation (`$1` id, `$2` worker) and wakes this
    /// process's waiting workers when it changed the row.
    async fn leased_update(
        &self,
        sql: &'static str,
        id: OperationId,
        worker: &str,
        doing: &str,
        bind: impl FnOnce(
            sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
        )
            -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<()> {
        let q = bind(sqlx::query(sql).bind(id.as_uuid()).bind(worker));
        let changed = q
            .execute(self.db())
            .await
            .map_err(db_err(format!("{doing} operation {id}")))?
            .rows_affected();
        if changed == 0 {
            return Err(self.lease_lost(id, worker, doing).await);
        }
        self.wake_local();
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
        self.wake_local();
        Ok(())
    }

    pub(super) async fn lease_op(
        &self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<Option<Operation>> {
        self.lease_started();
        // One UPDATE statement: SQLite takes the write lock before it reads, so picking the
        // first due operation that is its app's oldest unfinished one (queued, or running with
        // an expired lease) and taking it cannot interleave with another writer.
        let row = sqlx::query(concat!(
            "UPDATE operations
                SET state = 'running', lease_worker = $1, lease_expires_ns = $3,
                    attempts = attempts + 1, updated_at_ns = $2
              WHERE id = (
                SELECT o.id FROM operations o
                 WHERE o.state IN ('queued', 'running')
                   AND o.not_before_ns <= $2
                   AND (o.state = 'queued' OR o.lease_expires_ns <= $2)
                   AND NOT EXISTS (SELECT 1 FROM operations p
                                    WHERE p.app = o.app AND p.state IN ('queued', 'running')
                                      AND p.seq < o.seq)
                 ORDER BY o.not_before_ns, o.seq
                 LIMIT 1)
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
        let done = sqlx::query(
            "UPDATE operations SET lease_expires_ns = $3
              WHERE id = $1 AND state = 'running' AND lease_worker = $2",
        )
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

    /// The checkpoint and the step's event in one `BEGIN IMMEDIATE` transaction: both are
    /// written, or (lease lost, or the event's app not the organisation's) neither.
    pub(super) async fn checkpoint_with_event_op(
        &self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
        event: &NewEvent,
    ) -> Result<Event> {
        let doing = format!("saving the checkpoint and an event of operation {id}");
        let checkpoint = json(checkpoint, "checkpoint")?;
        let at = ts_to_ns(event.at)?;
        let mut tx = self
            .db()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(doing.clone()))?;
        let done = sqlx::query(
            "UPDATE operations SET checkpoint = $3
              WHERE id = $1 AND state = 'running' AND lease_worker = $2",
        )
        .bind(id.as_uuid())
        .bind(worker)
        .bind(checkpoint)
        .execute(&mut *tx)
        .await
        .map_err(db_err(doing.clone()))?;
        if done.rows_affected() == 0 {
            drop(tx);
            return Err(self
                .lease_lost(id, worker, "saving the checkpoint of")
                .await);
        }
        // The same gap-free seq as `append_event`: the write lock is held since BEGIN.
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
        .bind(at)
        .bind(event.level.as_str())
        .bind(&event.step)
        .bind(&event.message)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err(doing.clone()))?;
        let Some(seq) = seq else {
            // Dropping the transaction rolls the checkpoint back.
            return Err(not_found(format!(
                "appending an event: app {} does not exist in organisation {}",
                event.app, event.org
            )));
        };
        tx.commit().await.map_err(db_err(doing))?;
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

    pub(super) async fn complete_op(
        &self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
    ) -> Result<()> {
        let now = ts_to_ns(now)?;
        self.leased_update(
            "UPDATE operations
                      SET state = 'succeeded', finished_at_ns = $3, updated_at_ns = $3,
                          lease_worker = NULL, lease_expires_ns = NULL
                    WHERE id = $1 AND state = 'running' AND lease_worker = $2",
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
                    WHERE id = $1 AND state = 'running' AND lease_worker = $2",
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
            "UPDATE operations
                      SET state = 'failed', error = $4, finished_at_ns = $3, updated_at_ns = $3,
                          lease_worker = NULL, lease_expires_ns = NULL
                    WHERE id = $1 AND state = 'running' AND lease_worker = $2",
            id,
            worker,
            "failing",
            |q| q.bind(now).bind(error),
        )
        .await
    }
}
