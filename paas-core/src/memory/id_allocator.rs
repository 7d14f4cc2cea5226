//! The in-memory [`IdAllocator`].

use crate::model::{Allocation, Timestamp};
use crate::ports::{IdAllocator, PoolRange, PoolUsage, Pools};
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug)]
struct Holder {
    owner: String,
    allocated_at: Timestamp,
}

/// One pool: who holds what, and where the next search starts.
#[derive(Debug)]
struct Pool {
    range: PoolRange,
    used: BTreeMap<u64, Holder>,
    /// Search starts here and wraps around, so a freed value is handed out again only after
    /// the rest of the range (a VMID just released may still be in use by a guest being torn
    /// down).
    cursor: u64,
}

impl Pool {
    fn new(range: PoolRange) -> Self {
        Pool {
            range,
            used: BTreeMap::new(),
            cursor: range.first,
        }
    }

    /// The first value at or after the cursor (wrapping) that is neither used nor avoided.
    /// Each step skips a used or avoided value, so this costs O(used + avoid) at worst, never
    /// the width of the range.
    fn next_free(&self, avoid: &BTreeSet<u64>) -> Option<u64> {
        let PoolRange { first, last } = self.range;
        let start = self.cursor.clamp(first, last);
        let scan = |lo: u64, hi: u64| -> Option<u64> {
            let mut candidate = lo;
            while candidate <= hi {
                if !self.used.contains_key(&candidate) && !avoid.contains(&candidate) {
                    return Some(candidate);
                }
                candidate = candidate.checked_add(1)?;
            }
            None
        };
        scan(start, last).or_else(|| {
            if start > first {
                scan(first, start - 1)
            } else {
                None
            }
        })
    }
}

#[derive(Debug)]
struct State {
    pools: HashMap<String, Pool>,
    configured: Pools,
    /// owner -> pool -> value.
    owners: HashMap<String, BTreeMap<String, u64>>,
}

/// An [`IdAllocator`] kept in memory: unique within the process, `Clone` over shared state.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use paas_core::memory::MemoryIdAllocator;
/// use paas_core::ports::{IdAllocator, Pools};
///
/// let ids = MemoryIdAllocator::new(Pools::empty().with("vmid", 100, 199).unwrap());
/// let a = ids.allocate("vmid", "app:a", &[100]).await.unwrap();
/// assert_eq!(a, 101);
/// // Idempotent per owner: a retried step gets the same value back.
/// assert_eq!(ids.allocate("vmid", "app:a", &[]).await.unwrap(), a);
/// assert_ne!(ids.allocate("vmid", "app:b", &[]).await.unwrap(), a);
/// assert_eq!(ids.release_owner("app:a").await.unwrap(), 1);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MemoryIdAllocator {
    state: Arc<Mutex<State>>,
}

impl Default for MemoryIdAllocator {
    /// The default pools ([`Pools::default`]).
    fn default() -> Self {
        Self::new(Pools::default())
    }
}

impl MemoryIdAllocator {
    /// An allocator serving `pools`, with nothing allocated.
    pub fn new(pools: Pools) -> Self {
        let live = pools
            .iter()
            .map(|(name, range)| (name.to_owned(), Pool::new(range)))
            .collect();
        MemoryIdAllocator {
            state: Arc::new(Mutex::new(State {
                pools: live,
                configured: pools,
                owners: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change validates before it mutates, so a poisoned lock holds consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn pool_mut(&mut self, name: &str) -> Result<&mut Pool> {
        // `Pools::range` words the unknown-pool error, listing what is configured.
        self.configured.range(name)?;
        self.pools
            .get_mut(name)
            .ok_or_else(|| Error::internal(format!("pool '{name}' is configured but not set up")))
    }
}

#[async_trait]
impl IdAllocator for MemoryIdAllocator {
    async fn allocate(&self, pool: &str, owner: &str, avoid: &[u64]) -> Result<u64> {
        let mut state = self.lock();
        let held = state.owners.get(owner).and_then(|p| p.get(pool)).copied();
        let p = state.pool_mut(pool)?;
        if let Some(value) = held {
            return Ok(value);
        }
        let avoid: BTreeSet<u64> = avoid.iter().copied().collect();
        let value = p.next_free(&avoid).ok_or_else(|| {
            Error::conflict(format!(
                "id pool '{pool}' ({}..={}) is exhausted: {} values allocated, {} more to avoid; \
                 release unused values or widen the pool",
                p.range.first,
                p.range.last,
                p.used.len(),
                avoid.len()
            ))
        })?;
        p.used.insert(
            value,
            Holder {
                owner: owner.to_owned(),
                allocated_at: chrono::Utc::now(),
            },
        );
        p.cursor = if value >= p.range.last {
            p.range.first
        } else {
            value + 1
        };
        state
            .owners
            .entry(owner.to_owned())
            .or_default()
            .insert(pool.to_owned(), value);
        Ok(value)
    }

    async fn release(&self, pool: &str, value: u64) -> Result<()> {
        let mut state = self.lock();
        let p = state.pool_mut(pool)?;
        if let Some(holder) = p.used.remove(&value)
            && let Some(held) = state.owners.get_mut(&holder.owner)
        {
            held.remove(pool);
            if held.is_empty() {
                state.owners.remove(&holder.owner);
            }
        }
        Ok(())
    }

    async fn release_owner(&self, owner: &str) -> Result<u64> {
        let mut state = self.lock();
        let Some(held) = state.owners.remove(owner) else {
            return Ok(0);
        };
        let mut freed = 0;
        for (pool, value) in held {
            if let Some(p) = state.pools.get_mut(&pool)
                && p.used.remove(&value).is_some()
            {
                freed += 1;
            }
        }
        Ok(freed)
    }

    async fn owned_by(&self, owner: &str) -> Result<Vec<Allocation>> {
        let state = self.lock();
        let Some(held) = state.owners.get(owner) else {
            return Ok(Vec::new());
        };
        Ok(held
            .iter()
            .filter_map(|(pool, value)| {
                let holder = state.pools.get(pool)?.used.get(value)?;
                Some(Allocation {
                    pool: pool.clone(),
                    value: *value,
                    owner: holder.owner.clone(),
                    allocated_at: holder.allocated_at,
                })
            })
            .collect())
    }

    async fn usage(&self, pool: &str) -> Result<PoolUsage> {
        let mut state = self.lock();
        let p = state.pool_mut(pool)?;
        Ok(PoolUsage {
            pool: pool.to_owned(),
            range: p.range,
            used: p.used.len() as u64,
        })
    }
}
