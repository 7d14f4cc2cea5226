//! `record_usages` on PostgreSQL: a batch of charged hours in one statement.

use super::PgStore;
use super::store::{db_err, not_found};
use crate::Result;
use crate::model::UsageRecord;
use crate::sql::common::{ts_to_ns, usage_columns};
use sqlx::Row;
use uuid::Uuid;

/// One statement, so all or nothing: the rows are unnested from six arrays; if any row names
/// an app that is not its organisation's, nothing is inserted and that row is reported back.
/// Rows already recorded (and repeats within the batch) are skipped by `ON CONFLICT`.
const INSERT_USAGES: &str = concat!(
    "WITH input AS (
        SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::int8[], $5::int8[],
                             $6::text[])
            AS t(org, app, hour_ns, replicas, amount_micros, transfer_id)
     ),
     foreign_row AS (
        SELECT i.org, i.app FROM input i
        WHERE NOT EXISTS (SELECT 1 FROM apps a WHERE a.id = i.app AND a.org = i.org)
        LIMIT 1
     ),
     inserted AS (
        INSERT INTO usage_records (",
    usage_columns!(),
    ")
        SELECT ",
    usage_columns!(),
    " FROM input
        WHERE NOT EXISTS (SELECT 1 FROM foreign_row)
        ON CONFLICT (app, hour_ns) DO NOTHING
        RETURNING 1
     )
     SELECT (SELECT count(*) FROM inserted) AS new,
            (SELECT org FROM foreign_row) AS bad_org,
            (SELECT app FROM foreign_row) AS bad_app"
);

impl PgStore {
    /// The batch form of `record_usage`, in one round trip; see [`INSERT_USAGES`].
    pub(super) async fn insert_usages(&self, usages: &[UsageRecord]) -> Result<u64> {
        if usages.is_empty() {
            return Ok(0);
        }
        let doing = format!("recording {} usage record(s)", usages.len());
        let n = usages.len();
        let (mut orgs, mut apps, mut hours) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut replicas, mut amounts, mut transfers) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for u in usages {
            orgs.push(u.org.as_uuid());
            apps.push(u.app.as_uuid());
            hours.push(ts_to_ns(u.hour)?);
            replicas.push(i64::from(u.replicas));
            amounts.push(u.amount.micros());
            transfers.push(u.transfer_id.as_str());
        }
        let row = sqlx::query(INSERT_USAGES)
            .bind(orgs)
            .bind(apps)
            .bind(hours)
            .bind(replicas)
            .bind(amounts)
            .bind(transfers)
            .fetch_one(self.db())
            .await
            .map_err(db_err(doing.clone()))?;
        let bad_app: Option<Uuid> = row.try_get("bad_app").map_err(db_err(doing.clone()))?;
        if let Some(app) = bad_app {
            let org: Option<Uuid> = row.try_get("bad_org").map_err(db_err(doing.clone()))?;
            let org = org.map_or_else(|| "?".to_owned(), |o| o.to_string());
            return Err(not_found(format!(
                "{doing}: app {app} does not exist in organisation {org}; nothing of the batch \
                 was recorded (record the other apps' usage without it)"
            )));
        }
        let new: i64 = row.try_get("new").map_err(db_err(doing))?;
        Ok(u64::try_from(new).unwrap_or(0))
    }
}
