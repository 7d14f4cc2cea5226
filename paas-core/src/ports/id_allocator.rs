//! The `IdAllocator` port: unique integers from named pools, leased to owners.

use crate::Result;
use crate::model::Allocation;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// Pool of Proxmox VMIDs.
pub const POOL_VMID: &str = "vmid";
/// Pool of ports published on the edge.
pub const POOL_PUBLIC_PORT: &str = "public-port";
/// Pool of ports used inside the platform's networks.
pub const POOL_INTERNAL_PORT: &str = "internal-port";

/// The inclusive range a pool hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRange {
    /// Lowest value.
    pub first: u64,
    /// Highest value.
    pub last: u64,
}

impl PoolRange {
    /// Number of values in the range.
    pub fn size(&self) -> u64 {
        self.last.saturating_sub(self.first).saturating_add(1)
    }
}

/// The pools an allocator serves, with their ranges.
///
/// ```
/// use paas_core::ports::{Pools, POOL_VMID};
/// let pools = Pools::default().with(POOL_VMID, 1000, 1999).unwrap();
/// assert_eq!(pools.range(POOL_VMID).unwrap().first, 1000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pools(BTreeMap<String, PoolRange>);

impl Default for Pools {
    /// `vmid` 100..=999_999_999, `public-port` 8100..=8999, `internal-port` 9100..=9999.
    fn default() -> Self {
        let mut m = BTreeMap::new();
        m.insert(
            POOL_VMID.into(),
            PoolRange {
                first: 100,
                last: 999_999_999,
            },
        );
        m.insert(
            POOL_PUBLIC_PORT.into(),
            PoolRange {
                first: 8100,
                last: 8999,
            },
        );
        m.insert(
            POOL_INTERNAL_PORT.into(),
            PoolRange {
                first: 9100,
                last: 9999,
            },
        );
        Pools(m)
    }
}

impl Pools {
    /// No pools at all.
    pub fn empty() -> Self {
        Pools(BTreeMap::new())
    }

    /// Adds or replaces a pool; an empty range (`first > last`) is an error.
    pub fn with(mut self, name: &str, first: u64, last: u64) -> Result<Self> {
        if first > last || name.is_empty() {
            return Err(crate::Error::invalid_input(format!(
                "pool '{name}' needs a name and first <= last, got {first}..={last}"
            )));
        }
        self.0.insert(name.to_owned(), PoolRange { first, last });
        Ok(self)
    }

    /// The range of a pool; an unknown pool is `InvalidInput`.
    pub fn range(&self, name: &str) -> Result<PoolRange> {
        self.0.get(name).copied().ok_or_else(|| {
            crate::Error::invalid_input(format!(
                "unknown id pool '{name}': configured pools are {:?}",
                self.0.keys().collect::<Vec<_>>()
            ))
        })
    }

    /// Every pool and its range.
    pub fn iter(&self) -> impl Iterator<Item = (&str, PoolRange)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// How much of a pool is in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUsage {
    /// Pool name.
    pub pool: String,
    /// Its range.
    pub range: PoolRange,
    /// Values allocated.
    pub used: u64,
}

/// Unique integers from named pools, each leased to an owner, unique across every process that
/// shares the backing store.
///
/// Semantics every implementation honours (the `testkit` suite checks them):
/// - `allocate` returns a value of the pool's range held by nobody and not in `avoid`, and
///   records `owner` as its holder. It is idempotent per `(pool, owner)`: an owner that already
///   holds a value in the pool gets that same value back, so a retried step allocates nothing
///   new. Concurrent callers never get the same value. A full pool is `Conflict`; an unknown
///   pool is `InvalidInput`.
/// - `release` frees a value; releasing a free value is `Ok` (idempotent cleanup).
/// - `release_owner` frees everything an owner holds (compensation after a failed deploy).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait IdAllocator: Send + Sync + Debug + 'static {
    /// Allocates a free value from `pool` for `owner`, skipping the values in `avoid` (e.g.
    /// VMIDs the cluster already uses).
    async fn allocate(&self, pool: &str, owner: &str, avoid: &[u64]) -> Result<u64>;

    /// Frees `value` in `pool`; `Ok` if it was not allocated.
    async fn release(&self, pool: &str, value: u64) -> Result<()>;

    /// Frees every value `owner` holds in any pool; returns how many were freed.
    async fn release_owner(&self, owner: &str) -> Result<u64>;

    /// Every allocation `owner` holds.
    async fn owned_by(&self, owner: &str) -> Result<Vec<Allocation>>;

    /// Usage of one pool.
    async fn usage(&self, pool: &str) -> Result<PoolUsage>;
}
