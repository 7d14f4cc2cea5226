//! Checks of the rules under concurrent callers: racing updates and racing workers.

use super::{at, operation, world};
use crate::ErrorKind;
use crate::ports::Store;
use crate::testkit::check::{CheckResult, OrFail};
use crate::{ensure, ensure_eq};
use std::collections::BTreeSet;
use std::time::Duration;

/// Concurrent callers.
const RACERS: usize = 8;

/// Of several concurrent updates carrying the same version, exactly one wins; the others are
/// `Conflict`.
pub async fn concurrent_updates_have_one_winner(store: &dyn Store) -> CheckResult {
    const C: &str = "concurrent_updates_have_one_winner";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let updates = (0..RACERS).map(|i| {
        let mut mine = a.clone();
        mine.name = format!("writer {i}");
        async move { store.update_app(&mine).await }
    });
    let mut winners = Vec::new();
    for result in futures::future::join_all(updates).await {
        match result {
            Ok(app) => winners.push(app),
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            Err(e) => {
                return Err(crate::testkit::check::Failure::from_error(
                    C,
                    "racing update_app",
                    &e,
                ));
            }
        }
    }
    ensure_eq!(C, winners.len(), 1, "updates that won the race");
    let got = store.get_app(a.org, a.id).await.or_fail(C, "get_app")?;
    ensure_eq!(C, got, winners[0], "the stored app (the winner's)");
    ensure_eq!(C, got.version, 2, "version after one winning update");
    Ok(())
}

/// Workers leasing concurrently never get the same operation, and together they get exactly
/// one operation per app (each app's oldest).
pub async fn concurrent_leases_never_share_an_operation(store: &dyn Store) -> CheckResult {
    const C: &str = "concurrent_leases_never_share_an_operation";
    let w = world(store, C).await?;
    let mut oldest = BTreeSet::new();
    for i in 0..6 {
        let a = w.app(store, C, &format!("app-{i}")).await?;
        let first = operation(&a, 0);
        store.enqueue(&first).await.or_fail(C, "enqueue")?;
        store
            .enqueue(&operation(&a, 1))
            .await
            .or_fail(C, "enqueue")?;
        oldest.insert(first.id);
    }
    let workers = (0..RACERS).map(|i| async move {
        let worker = format!("w{i}");
        let mut got = Vec::new();
        // Bounded, so a store that hands out the same operation forever fails instead of
        // hanging.
        for _ in 0..12 {
            match store
                .lease(&worker, at(10), Duration::from_secs(30))
                .await?
            {
                Some(op) => got.push(op.id),
                None => break,
            }
        }
        crate::Result::Ok(got)
    });
    let mut leased = Vec::new();
    for result in futures::future::join_all(workers).await {
        leased.extend(result.or_fail(C, "racing lease")?);
    }
    let distinct: BTreeSet<_> = leased.iter().copied().collect();
    ensure!(
        C,
        distinct.len() == leased.len(),
        "{} leases handed out only {} distinct operations",
        leased.len(),
        distinct.len()
    );
    ensure_eq!(
        C,
        distinct,
        oldest,
        "operations leased (the oldest of each app)"
    );
    Ok(())
}
