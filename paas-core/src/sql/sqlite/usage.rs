//! `record_usages` on SQLite: a batch of charged hours in one transaction.

use super::SqliteStore;
use super::store::{db_err, not_found};
use crate::Result;
use crate::model::UsageRecord;
use crate::sql::common::{ts_to_ns, usage_columns};
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

/// Rows per statement: 6 bound values a row stays under 999, the smallest variable limit a
/// SQLite build may have.
const CHUNK: usize = 160;

impl SqliteStore {
    /// The batch form of `record_usage`: multi-row inserts of [`CHUNK`] rows in one `BEGIN
    /// IMMEDIATE` transaction, so all or nothing. Each chunk is first checked for a row naming
    /// an app that is not its organisation's; one such row rolls the whole batch back.
    pub(super) async fn insert_usages(&self, usages: &[UsageRecord]) -> Result<u64> {
        if usages.is_empty() {
            return Ok(0);
        }
        let doing = format!("recording {} usage record(s)", usages.len());
        let hours = usages
            .iter()
            .map(|u| ts_to_ns(u.hour))
            .collect::<Result<Vec<_>>>()?;
        let mut tx = self
            .db()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(doing.clone()))?;
        let mut new = 0;
        for (chunk, hours) in usages.chunks(CHUNK).zip(hours.chunks(CHUNK)) {
            let mut check = QueryBuilder::<Sqlite>::new("WITH input(org, app) AS (");
            check.push_values(chunk, |mut b, u| {
                b.push_bind(u.org.as_uuid()).push_bind(u.app.as_uuid());
            });
            check.push(
                ") SELECT i.org, i.app FROM input i
                   WHERE NOT EXISTS (SELECT 1 FROM apps a WHERE a.id = i.app AND a.org = i.org)
                   LIMIT 1",
            );
            let foreign = check
                .build()
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err(doing.clone()))?;
            if let Some(row) = foreign {
                let org: Uuid = row.try_get(0).map_err(db_err(doing.clone()))?;
                let app: Uuid = row.try_get(1).map_err(db_err(doing.clone()))?;
                // Dropping `tx` rolls back the chunks already inserted.
                return Err(not_found(format!(
                    "{doing}: app {app} does not exist in organisation {org}; nothing of the \
                     batch was recorded (record the other apps' usage without it)"
                )));
            }
            let mut insert = QueryBuilder::<Sqlite>::new(concat!(
                "INSERT INTO usage_records (",
                usage_columns!(),
                ") "
            ));
            insert.push_values(chunk.iter().zip(hours), |mut b, (u, hour)| {
                b.push_bind(u.org.as_uuid())
                    .push_bind(u.app.as_uuid())
                    .push_bind(*hour)
                    .push_bind(i64::from(u.replicas))
                    .push_bind(u.amount.micros())
                    .push_bind(u.transfer_id.as_str());
            });
            insert.push(" ON CONFLICT (app, hour_ns) DO NOTHING");
            new += insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db_err(doing.clone()))?
                .rows_affected();
        }
        tx.commit().await.map_err(db_err(doing))?;
        Ok(new)
    }
}
