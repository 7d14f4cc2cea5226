//! `IdAllocator` on SQLite.

use super::BACKEND;
use crate::model::Allocation;
use crate::ports::{IdAllocator, PoolUsage, Pools};
use crate::sql::common::{allocation_from_row, pool_full, range_i64, to_u64, ts_to_ns};
use crate::sql::error::map_sqlx_error;
use crate::{Error, Result};
use async_trait::async_trait;
use sqlx::sqlite::SqlitePool;
use sqlx::{Row, SqliteConnection};
use std::fmt;

/// Unique integers from named pools, in SQLite: an [`IdAllocator`] shared by every process
/// using the database file.
///
/// An allocation is one `BEGIN IMMEDIATE` transaction (SQLite's write lock, so no other
/// allocation interleaves): the owner's existing value if it holds one, otherwise the lowest
/// free value not in `avoid`, searched from the pool's low-water mark (below which every
/// value is taken). The primary key on (pool, value) and the unique (pool, owner) back it up.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> paas_core::Result<()> {
/// use paas_core::sql::SqliteStore;
/// use paas_core::ports::{IdAllocator, Pools, POOL_VMID};
/// let store = SqliteStore::open("sqlite::memory:").await?;
/// store.migrate().await?;
/// let ids = store.id_allocator(Pools::default());
/// assert_eq!(ids.allocate(POOL_VMID, "app:1/vmid", &[100]).await?, 101);
/// assert_eq!(ids.allocate(POOL_VMID, "app:1/vmid", &[]).await?, 101);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteIdAllocator {
    pool: SqlitePool,
    pools: Pools,
}

impl fmt::Debug for SqliteIdAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteIdAllocator").field("pools", &self.pools).finish()
    }
}

impl SqliteIdAllocator {
    /// An allocator over `pool` (a migrated database, see `SqliteStore::migrate`) serving
    /// `pools`.
    pub fn new(pool: SqlitePool, pools: Pools) -> Self {
        SqliteIdAllocator { pool, pools }
    }

    /// The pools served.
    pub fn pools(&self) -> &Pools {
        &self.pools
    }
}

/// The lowest value `>= start` of `pool` that is not allocated (it may lie beyond the range).
async fn first_unallocated(
    conn: &mut SqliteConnection,
    pool: &str,
    start: i64,
) -> std::result::Result<i64, sqlx::Error> {
    let taken: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM id_allocations WHERE pool = $1 AND value = $2")
            .bind(pool)
            .bind(start)
            .fetch_optional(&mut *conn)
            .await?;
    if taken.is_none() {
        return Ok(start);
    }
    // One past the first allocated value (from `start`) whose successor is not allocated.
    sqlx::query_scalar(
        "SELECT value + 1 FROM (
           SELECT value, lead(value) OVER (ORDER BY value) AS next_value
             FROM id_allocations WHERE pool = $1 AND value >= $2)
          WHERE next_value IS NULL OR next_value <> value + 1
          ORDER BY value LIMIT 1",
    )
    .bind(pool)
    .bind(start)
    .fetch_one(&mut *conn)
    .await
}

fn db_err(doing: impl fmt::Display) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| map_sqlx_error(BACKEND, doing, e)
}

#[async_trait]
impl IdAllocator for SqliteIdAllocator {
    async fn allocate(&self, pool: &str, owner: &str, avoid: &[u64]) -> Result<u64> {
        let range = self.pools.range(pool)?;
        let (first, last) = range_i64(pool, range)?;
        let doing = format!("allocating a value from pool '{pool}' for '{owner}'");
        let now = ts_to_ns(chrono::Utc::now())?;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(doing.clone()))?;
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT value FROM id_allocations WHERE pool = $1 AND owner = $2",
        )
        .bind(pool)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err(doing.clone()))?;
        if let Some(v) = held {
            return to_u64(v, "allocated value");
        }
        let row = sqlx::query(
            "INSERT INTO id_pools (pool, range_first, low_water) VALUES ($1, $2, $2)
             ON CONFLICT (pool) DO UPDATE SET pool = excluded.pool
             RETURNING range_first, low_water",
        )
        .bind(pool)
        .bind(first)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err(doing.clone()))?;
        let range_first: i64 = row.try_get("range_first").map_err(db_err(doing.clone()))?;
        let mut low: i64 = row.try_get("low_water").map_err(db_err(doing.clone()))?;
        if range_first != first {
            low = first; // the configured range changed: the low-water mark no longer applies
        }
        let mut start = low.max(first);
        let mut skipped = false;
        let value = loop {
            if start > last {
                break None;
            }
            let candidate = first_unallocated(&mut tx, pool, start)
                .await
                .map_err(db_err(doing.clone()))?;
            if candidate > last {
                break None;
            }
            if !u64::try_from(candidate).is_ok_and(|c| avoid.contains(&c)) {
                break Some(candidate);
            }
            skipped = true;
            start = candidate.saturating_add(1);
        };
        let Some(value) = value else {
            return Err(pool_full(pool, range, avoid.len()).with_backend(BACKEND));
        };
        sqlx::query(
            "INSERT INTO id_allocations (pool, value, owner, allocated_at_ns)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(pool)
        .bind(value)
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err(doing.clone()))?;
        // Without skipped values, everything below the new value is now allocated.
        let new_low = if skipped { low } else { value.saturating_add(1) };
        sqlx::query("UPDATE id_pools SET range_first = $2, low_water = $3 WHERE pool = $1")
            .bind(pool)
            .bind(first)
            .bind(new_low)
            .execute(&mut *tx)
            .await
            .map_err(db_err(doing.clone()))?;
        tx.commit().await.map_err(db_err(doing))?;
        to_u64(value, "allocated value")
    }

    async fn release(&self, pool: &str, value: u64) -> Result<()> {
        let Ok(value) = i64::try_from(value) else {
            return Ok(()); // never allocated: nothing to free
        };
        let doing = format!("releasing {value} of pool '{pool}'");
        let mut tx =
            self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err(doing.clone()))?;
        let freed = sqlx::query("DELETE FROM id_allocations WHERE pool = $1 AND value = $2")
            .bind(pool)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db_err(doing.clone()))?;
        if freed.rows_affected() > 0 {
            sqlx::query("UPDATE id_pools SET low_water = min(low_water, $2) WHERE pool = $1")
                .bind(pool)
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(db_err(doing.clone()))?;
        }
        tx.commit().await.map_err(db_err(doing))?;
        Ok(())
    }

    async fn release_owner(&self, owner: &str) -> Result<u64> {
        let doing = format!("releasing every value held by '{owner}'");
        let mut tx =
            self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err(doing.clone()))?;
        sqlx::query(
            "UPDATE id_pools SET low_water = min(low_water, (
                SELECT min(value) FROM id_allocations a
                 WHERE a.owner = $1 AND a.pool = id_pools.pool))
              WHERE pool IN (SELECT pool FROM id_allocations WHERE owner = $1)",
        )
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(db_err(doing.clone()))?;
        let freed = sqlx::query("DELETE FROM id_allocations WHERE owner = $1")
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(db_err(doing.clone()))?;
        tx.commit().await.map_err(db_err(doing))?;
        Ok(freed.rows_affected())
    }

    async fn owned_by(&self, owner: &str) -> Result<Vec<Allocation>> {
        sqlx::query(
            "SELECT pool, value, owner, allocated_at_ns FROM id_allocations WHERE owner = $1
              ORDER BY pool, value",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err(format!("listing the values held by '{owner}'")))?
        .iter()
        .map(allocation_from_row)
        .collect()
    }

    async fn usage(&self, pool: &str) -> Result<PoolUsage> {
        let range = self.pools.range(pool)?;
        let (first, last) = range_i64(pool, range)?;
        let used: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM id_allocations WHERE pool = $1 AND value BETWEEN $2 AND $3",
        )
        .bind(pool)
        .bind(first)
        .bind(last)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err(format!("measuring the usage of pool '{pool}'")))?;
        Ok(PoolUsage { pool: pool.to_owned(), range, used: to_u64(used, "used count")? })
    }
}
