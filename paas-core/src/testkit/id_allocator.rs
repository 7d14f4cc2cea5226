//! Conformance suite of the [`IdAllocator`] port.
//!
//! Every check expects an **empty** allocator configured with [`suite_pools`] (the default
//! pools plus small ones, so exhaustion is quick to reach). [`run_all`] builds one per check by
//! calling `fresh(suite_pools())`: `fresh` receives the [`Pools`] to configure.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use paas_core::memory::MemoryIdAllocator;
//! use paas_core::ports::IdAllocator;
//! use paas_core::testkit::id_allocator;
//! use std::sync::Arc;
//!
//! let report = id_allocator::run_all(|pools| async move {
//!     Arc::new(MemoryIdAllocator::new(pools)) as Arc<dyn IdAllocator>
//! })
//! .await;
//! report.assert_all_passed();
//! # });
//! ```

use super::check::{CheckResult, Failure, OrFail, SuiteReport, SuiteRunner, expect_err};
use crate::ErrorKind;
use crate::ports::{IdAllocator, POOL_INTERNAL_PORT, POOL_PUBLIC_PORT, POOL_VMID, Pools};
use crate::{ensure, ensure_eq};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

/// Pool `tiny`: 1..=3.
pub const TINY: &str = "tiny";
/// Pool `five`: 10..=14.
pub const FIVE: &str = "five";
/// Pool `crowd`: 1000..=1127 (128 values, for the concurrency checks).
pub const CROWD: &str = "crowd";

/// Concurrent callers in the concurrency checks.
const CALLERS: u64 = 16;

/// The pools every check expects: [`Pools::default`] plus [`TINY`], [`FIVE`] and [`CROWD`].
pub fn suite_pools() -> Pools {
    // The ranges are constant and valid; an error here would be a bug in this function.
    Pools::default()
        .with(TINY, 1, 3)
        .and_then(|p| p.with(FIVE, 10, 14))
        .and_then(|p| p.with(CROWD, 1000, 1000 + 8 * CALLERS - 1))
        .unwrap_or_default()
}

/// Runs every check, each on an allocator returned by `fresh(suite_pools())`.
pub async fn run_all<F, Fut>(mut fresh: F) -> SuiteReport
where
    F: FnMut(Pools) -> Fut,
    Fut: Future<Output = Arc<dyn IdAllocator>>,
{
    let mut r = SuiteRunner::new();
    macro_rules! run {
        ($($check:ident),+ $(,)?) => {
            $( r.run(stringify!($check), async { $check(&*fresh(suite_pools()).await).await }).await; )+
        };
    }
    run!(
        allocates_distinct_values_in_range,
        allocate_is_idempotent_per_owner,
        allocate_skips_avoided_values,
        full_pool_is_conflict,
        release_frees_a_value_for_reuse,
        release_owner_frees_everything_it_holds,
        owned_by_lists_an_owners_allocations,
        usage_reports_range_and_count,
        unknown_pool_is_invalid_input,
        default_pools_serve_vmids_and_ports,
        concurrent_callers_never_share_a_value,
        concurrent_calls_of_one_owner_get_one_value,
    );
    r.finish()
}

async fn alloc(
    ids: &dyn IdAllocator,
    check: &'static str,
    pool: &str,
    owner: &str,
    avoid: &[u64],
) -> Result<u64, Failure> {
    ids.allocate(pool, owner, avoid).await.or_fail(
        check,
        format!("allocate from '{pool}' for '{owner}' avoiding {avoid:?}"),
    )
}

async fn used(ids: &dyn IdAllocator, check: &'static str, pool: &str) -> Result<u64, Failure> {
    Ok(ids
        .usage(pool)
        .await
        .or_fail(check, format!("usage of '{pool}'"))?
        .used)
}

/// Different owners get different values, all inside the pool's range.
pub async fn allocates_distinct_values_in_range(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "allocates_distinct_values_in_range";
    let mut seen = BTreeSet::new();
    for i in 0..5 {
        let v = alloc(ids, C, FIVE, &format!("owner-{i}"), &[]).await?;
        ensure!(
            C,
            (10..=14).contains(&v),
            "value {v} is outside '{FIVE}' (10..=14)"
        );
        ensure!(C, seen.insert(v), "value {v} was handed out twice");
    }
    ensure_eq!(C, used(ids, C, FIVE).await?, 5, "values used");
    Ok(())
}

/// An owner that already holds a value of a pool gets the same value back (even when asked to
/// avoid it); another pool gives it another value.
pub async fn allocate_is_idempotent_per_owner(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "allocate_is_idempotent_per_owner";
    let first = alloc(ids, C, FIVE, "app:a/vmid", &[]).await?;
    let again = alloc(ids, C, FIVE, "app:a/vmid", &[]).await?;
    ensure_eq!(C, again, first, "a second allocate by the same owner");
    let avoided = alloc(ids, C, FIVE, "app:a/vmid", &[first]).await?;
    ensure_eq!(
        C,
        avoided,
        first,
        "a retry by the same owner avoiding its own value"
    );
    ensure_eq!(
        C,
        used(ids, C, FIVE).await?,
        1,
        "values used after three allocates by one owner"
    );
    let other_pool = alloc(ids, C, TINY, "app:a/vmid", &[]).await?;
    ensure!(
        C,
        (1..=3).contains(&other_pool),
        "value {other_pool} outside '{TINY}'"
    );
    ensure_eq!(
        C,
        used(ids, C, TINY).await?,
        1,
        "values used in the other pool"
    );
    let other_owner = alloc(ids, C, FIVE, "app:b/vmid", &[]).await?;
    ensure!(
        C,
        other_owner != first,
        "another owner got the same value {first}"
    );
    Ok(())
}

/// Values in `avoid` are never handed out; when `avoid` covers every free value the pool is
/// full (`Conflict`).
pub async fn allocate_skips_avoided_values(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "allocate_skips_avoided_values";
    let a = alloc(ids, C, FIVE, "a", &[10, 11, 12, 13]).await?;
    ensure_eq!(C, a, 14, "the only value not avoided");
    let b = alloc(ids, C, FIVE, "b", &[10, 11, 13]).await?;
    ensure_eq!(C, b, 12, "the only free value not avoided");
    let c = ids.allocate(FIVE, "c", &[10, 11, 13]).await;
    expect_err(
        C,
        "allocate avoiding every free value",
        c,
        ErrorKind::Conflict,
    )?;
    let d = alloc(ids, C, FIVE, "d", &[10, 13, 99, 0]).await?;
    ensure_eq!(
        C,
        d,
        11,
        "the only free value not avoided (avoid holds values out of range)"
    );
    Ok(())
}

/// Once every value is held, `allocate` for a new owner is `Conflict`; an owner already
/// holding a value still gets it.
pub async fn full_pool_is_conflict(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "full_pool_is_conflict";
    let mut got = BTreeSet::new();
    for owner in ["a", "b", "c"] {
        got.insert(alloc(ids, C, TINY, owner, &[]).await?);
    }
    ensure_eq!(
        C,
        got,
        BTreeSet::from([1, 2, 3]),
        "values of the three owners"
    );
    expect_err(
        C,
        "allocate from a full pool",
        ids.allocate(TINY, "d", &[]).await,
        ErrorKind::Conflict,
    )?;
    ensure_eq!(
        C,
        used(ids, C, TINY).await?,
        3,
        "values used after the refusal"
    );
    let held = alloc(ids, C, TINY, "b", &[]).await?;
    ensure!(
        C,
        got.contains(&held),
        "owner b got {held} from a full pool"
    );
    Ok(())
}

/// A released value can be allocated again; releasing a free value is `Ok`.
pub async fn release_frees_a_value_for_reuse(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "release_frees_a_value_for_reuse";
    let a = alloc(ids, C, TINY, "a", &[]).await?;
    alloc(ids, C, TINY, "b", &[]).await?;
    alloc(ids, C, TINY, "c", &[]).await?;
    ids.release(TINY, a).await.or_fail(C, "release")?;
    ids.release(TINY, a)
        .await
        .or_fail(C, "release of a value already free")?;
    ids.release(TINY, 999)
        .await
        .or_fail(C, "release of a value outside the range")?;
    ensure_eq!(
        C,
        used(ids, C, TINY).await?,
        2,
        "values used after one release"
    );
    let owned = ids.owned_by("a").await.or_fail(C, "owned_by")?;
    ensure!(
        C,
        owned.is_empty(),
        "owner a still holds {owned:?} after its value was released"
    );
    let d = alloc(ids, C, TINY, "d", &[]).await?;
    ensure_eq!(C, d, a, "the only free value, after its release");
    let again = ids.allocate(TINY, "a", &[]).await;
    expect_err(
        C,
        "allocate for the old owner once the pool is full again",
        again,
        ErrorKind::Conflict,
    )?;
    Ok(())
}

/// `release_owner` frees everything an owner holds, in every pool, and says how many.
pub async fn release_owner_frees_everything_it_holds(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "release_owner_frees_everything_it_holds";
    alloc(ids, C, TINY, "app:x", &[]).await?;
    alloc(ids, C, FIVE, "app:x", &[]).await?;
    let keep = alloc(ids, C, FIVE, "app:y", &[]).await?;
    let freed = ids
        .release_owner("app:x")
        .await
        .or_fail(C, "release_owner")?;
    ensure_eq!(C, freed, 2, "values freed by release_owner");
    ensure_eq!(C, used(ids, C, TINY).await?, 0, "values used in '{TINY}'");
    ensure_eq!(
        C,
        used(ids, C, FIVE).await?,
        1,
        "values used in '{FIVE}' (app:y keeps its own)"
    );
    let owned = ids.owned_by("app:x").await.or_fail(C, "owned_by")?;
    ensure!(C, owned.is_empty(), "app:x still holds {owned:?}");
    let again = ids
        .release_owner("app:x")
        .await
        .or_fail(C, "release_owner again")?;
    ensure_eq!(C, again, 0, "values freed by a second release_owner");
    ensure_eq!(
        C,
        alloc(ids, C, FIVE, "app:y", &[]).await?,
        keep,
        "app:y's value"
    );
    Ok(())
}

/// `owned_by` lists exactly the owner's allocations, with pool, value and owner.
pub async fn owned_by_lists_an_owners_allocations(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "owned_by_lists_an_owners_allocations";
    let t = alloc(ids, C, TINY, "app:x", &[]).await?;
    let f = alloc(ids, C, FIVE, "app:x", &[]).await?;
    alloc(ids, C, FIVE, "app:y", &[]).await?;
    let mut owned: Vec<(String, u64, String)> = ids
        .owned_by("app:x")
        .await
        .or_fail(C, "owned_by")?
        .into_iter()
        .map(|a| (a.pool, a.value, a.owner))
        .collect();
    owned.sort();
    let mut want = vec![
        (FIVE.to_owned(), f, "app:x".to_owned()),
        (TINY.to_owned(), t, "app:x".to_owned()),
    ];
    want.sort();
    ensure_eq!(C, owned, want, "allocations of app:x");
    let nobody = ids
        .owned_by("app:nobody")
        .await
        .or_fail(C, "owned_by of an unknown owner")?;
    ensure!(
        C,
        nobody.is_empty(),
        "an owner that never allocated holds {nobody:?}"
    );
    Ok(())
}

/// `usage` reports the pool's name, range and how many values are held.
pub async fn usage_reports_range_and_count(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "usage_reports_range_and_count";
    let empty = ids.usage(FIVE).await.or_fail(C, "usage")?;
    ensure_eq!(
        C,
        (
            empty.pool.as_str(),
            empty.range.first,
            empty.range.last,
            empty.used
        ),
        (FIVE, 10, 14, 0),
        "usage of an untouched pool"
    );
    alloc(ids, C, FIVE, "a", &[]).await?;
    alloc(ids, C, FIVE, "b", &[]).await?;
    ensure_eq!(
        C,
        used(ids, C, FIVE).await?,
        2,
        "values used after two owners"
    );
    ensure_eq!(
        C,
        used(ids, C, TINY).await?,
        0,
        "values used in another pool"
    );
    Ok(())
}

/// A pool that is not configured is `InvalidInput` for `allocate` and `usage`.
pub async fn unknown_pool_is_invalid_input(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "unknown_pool_is_invalid_input";
    expect_err(
        C,
        "allocate from an unknown pool",
        ids.allocate("no-such-pool", "a", &[]).await,
        ErrorKind::InvalidInput,
    )?;
    expect_err(
        C,
        "usage of an unknown pool",
        ids.usage("no-such-pool").await,
        ErrorKind::InvalidInput,
    )?;
    let owned = ids.owned_by("a").await.or_fail(C, "owned_by")?;
    ensure!(C, owned.is_empty(), "a refused allocate left {owned:?}");
    Ok(())
}

/// The default pools hand out VMIDs and ports from their documented ranges.
pub async fn default_pools_serve_vmids_and_ports(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "default_pools_serve_vmids_and_ports";
    let vmid = alloc(ids, C, POOL_VMID, "app:a/vmid", &[100, 101]).await?;
    ensure!(
        C,
        (102..=999_999_999).contains(&vmid),
        "vmid {vmid} outside 100..=999999999 or avoided"
    );
    let public = alloc(ids, C, POOL_PUBLIC_PORT, "app:a/public", &[]).await?;
    ensure!(
        C,
        (8100..=8999).contains(&public),
        "public port {public} outside 8100..=8999"
    );
    let internal = alloc(ids, C, POOL_INTERNAL_PORT, "app:a/internal", &[]).await?;
    ensure!(
        C,
        (9100..=9999).contains(&internal),
        "internal port {internal} outside 9100..=9999"
    );
    let usage = ids.usage(POOL_VMID).await.or_fail(C, "usage vmid")?;
    ensure_eq!(
        C,
        (usage.range.first, usage.range.last, usage.used),
        (100, 999_999_999, 1),
        "vmid pool usage"
    );
    Ok(())
}

/// 16 concurrent callers filling a pool never get the same value, and the pool ends full.
pub async fn concurrent_callers_never_share_a_value(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "concurrent_callers_never_share_a_value";
    let per_caller = 8;
    let callers = (0..CALLERS).map(|caller| async move {
        let mut got = Vec::new();
        for i in 0..per_caller {
            got.push(
                ids.allocate(CROWD, &format!("caller-{caller}/{i}"), &[])
                    .await?,
            );
        }
        crate::Result::Ok(got)
    });
    let mut seen = BTreeSet::new();
    for result in futures::future::join_all(callers).await {
        for v in result.or_fail(C, "concurrent allocate")? {
            ensure!(
                C,
                (1000..1000 + 8 * CALLERS).contains(&v),
                "value {v} outside '{CROWD}'"
            );
            ensure!(
                C,
                seen.insert(v),
                "value {v} was handed to two concurrent callers"
            );
        }
    }
    ensure_eq!(
        C,
        seen.len() as u64,
        CALLERS * per_caller,
        "distinct values handed out"
    );
    ensure_eq!(
        C,
        used(ids, C, CROWD).await?,
        CALLERS * per_caller,
        "values used"
    );
    expect_err(
        C,
        "allocate once every value is held",
        ids.allocate(CROWD, "late", &[]).await,
        ErrorKind::Conflict,
    )?;
    Ok(())
}

/// 16 concurrent allocates by one owner (a retried step racing itself) all get one value.
pub async fn concurrent_calls_of_one_owner_get_one_value(ids: &dyn IdAllocator) -> CheckResult {
    const C: &str = "concurrent_calls_of_one_owner_get_one_value";
    let calls = (0..CALLERS).map(|_| ids.allocate(CROWD, "app:same/vmid", &[]));
    let mut values = BTreeSet::new();
    for result in futures::future::join_all(calls).await {
        values.insert(result.or_fail(C, "concurrent allocate by one owner")?);
    }
    ensure_eq!(
        C,
        values.len(),
        1,
        "distinct values handed to one owner ({values:?})"
    );
    ensure_eq!(C, used(ids, C, CROWD).await?, 1, "values used");
    Ok(())
}
