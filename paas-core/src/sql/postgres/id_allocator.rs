//! `IdAllocator` on PostgreSQL.

use super::BACKEND;
use crate::model::Allocation;
use crate::ports::{IdAllocator, PoolUsage, Pools};
use crate::sql::common::{allocation_from_row, pool_full, range_i64, to_u64, ts_to_ns};
use crate::sql::error::map_sqlx_error;
use crate::{Error, Result};
use async_trait::async_trait;
use sqlx::postgres::PgPool;
use std::fmt;

/// Unique integers from named pools, in PostgreSQL: an [`IdAllocator`] shared safely by any
/// number of processes.
///
/// Each allocation is one call of the `paas_allocate_id` function (installed by the
/// migrations): it locks the pool's row, returns the owner's value if it already holds one,
/// and otherwise takes the lowest free value not in `avoid`, searching from a low-water mark
/// below which every value is taken (so a billion-wide range is never scanned). The primary
/// key on (pool, value) and the unique (pool, owner) make a duplicate impossible even if the
/// code were wrong. Pool ranges come from the [`Pools`] given here, not from the database.
///
/// ```no_run
/// # async fn demo(store: paas_core::sql::PgStore) -> paas_core::Result<()> {
/// use paas_core::ports::{IdAllocator, Pools, POOL_VMID};
/// let ids = store.id_allocator(Pools::default());
/// let vmid = ids.allocate(POOL_VMID, "app:1/vmid", &[100, 101]).await?;
/// assert!(vmid >= 102);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgIdAllocator {
    pool: PgPool,
    pools: Pools,
}

impl fmt::Debug for PgIdAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgIdAllocator").field("pools", &self.pools).finish()
    }
}

impl PgIdAllocator {
    /// An allocator over `pool` (a migrated database, see `PgStore::migrate`) serving `pools`.
    pub fn new(pool: PgPool, pools: Pools) -> Self {
        PgIdAllocator { pool, pools }
    }

    /// The pools served.
    pub fn pools(&self) -> &Pools {
        &self.pools
    }
}

fn db_err(doing: impl fmt::Display) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| map_sqlx_error(BACKEND, doing, e)
}

#[async_trait]
impl IdAllocator for PgIdAllocator {
    async fn allocate(&self, pool: &str, owner: &str, avoid: &[u64]) -> Result<u64> {
        let range = self.pools.range(pool)?;
        let (first, last) = range_i64(pool, range)?;
        let avoid: Vec<i64> = avoid
            .iter()
            .filter_map(|v| i64::try_from(*v).ok())
            .filter(|v| (first..=last).contains(v))
            .collect();
        let value: Option<i64> =
            sqlx::query_scalar("SELECT paas_allocate_id($1, $2, $3, $4, $5, $6)")
                .bind(pool)
                .bind(owner)
                .bind(first)
                .bind(last)
                .bind(&avoid)
                .bind(ts_to_ns(chrono::Utc::now())?)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err(format!("allocating a value from pool '{pool}' for '{owner}'")))?;
        match value {
            Some(v) => to_u64(v, "allocated value"),
            None => Err(pool_full(pool, range, avoid.len()).with_backend(BACKEND)),
        }
    }

    async fn release(&self, pool: &str, value: u64) -> Result<()> {
        let Ok(value) = i64::try_from(value) else {
            return Ok(()); // never allocated: nothing to free
        };
        // The pool row's low-water mark drops to the freed value in the same transaction,
        // under the pool's row lock, so allocators see both or neither.
        sqlx::query(
            "WITH d AS (DELETE FROM id_allocations WHERE pool = $1 AND value = $2
                        RETURNING pool, value)
             UPDATE id_pools p SET low_water = least(p.low_water, d.value)
               FROM d WHERE p.pool = d.pool",
        )
        .bind(pool)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(db_err(format!("releasing {value} of pool '{pool}'")))?;
        Ok(())
    }

    async fn release_owner(&self, owner: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "WITH d AS (DELETE FROM id_allocations WHERE owner = $1 RETURNING pool, value),
                  lowest AS (SELECT pool, min(value) AS value FROM d GROUP BY pool),
                  u AS (UPDATE id_pools p SET low_water = least(p.low_water, lowest.value)
                          FROM lowest WHERE p.pool = lowest.pool RETURNING 1)
             SELECT (SELECT count(*) FROM d) + 0 * (SELECT count(*) FROM u)",
        )
        .bind(owner)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err(format!("releasing every value held by '{owner}'")))?;
        to_u64(n, "released count")
    }

    async fn owned_by(&self, owner: &str) -> Result<Vec<Allocation>> {
        sqlx::query(
            "SELECT pool, value, owner, allocated_at_ns FROM id_allocations WHERE owner = $1
              ORDER BY pool COLLATE \"C\", value",
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
