//! Checks of events (gap-free sequence per app) and usage (once per app and hour).

use super::{at, event, usage, world};
use crate::model::{Event, Money};
use crate::ports::Store;
use crate::testkit::check::{CheckResult, OrFail};
use crate::{ensure, ensure_eq};

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// Events get `seq` 1, 2, 3, ... per app (each app counts on its own), read back as written.
pub async fn events_get_gap_free_seq_per_app(store: &dyn Store) -> CheckResult {
    const C: &str = "events_get_gap_free_seq_per_app";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let b = w.app_of(store, C, w.other.id, "blog").await?;
    let mut a_seqs = Vec::new();
    let mut b_seqs = Vec::new();
    for i in 0..5 {
        let e = event(&a, &format!("step-{i}"));
        let stored = store.append_event(&e).await.or_fail(C, "append_event")?;
        ensure_eq!(
            C,
            (
                stored.org,
                stored.app,
                stored.at,
                stored.level,
                stored.step.clone(),
                stored.message.clone()
            ),
            (
                e.org,
                e.app,
                e.at,
                e.level,
                e.step.clone(),
                e.message.clone()
            ),
            "stored event fields"
        );
        a_seqs.push(stored.seq);
        if i % 2 == 0 {
            b_seqs.push(
                store
                    .append_event(&event(&b, "other"))
                    .await
                    .or_fail(C, "append_event b")?
                    .seq,
            );
        }
    }
    ensure_eq!(C, a_seqs, vec![1, 2, 3, 4, 5], "seq of app shop's events");
    ensure_eq!(C, b_seqs, vec![1, 2, 3], "seq of app blog's events");
    let listed = store
        .list_events(a.org, a.id, 0, 100)
        .await
        .or_fail(C, "list_events")?;
    ensure_eq!(
        C,
        seqs(&listed),
        a_seqs,
        "list_events (this app, oldest first)"
    );
    ensure_eq!(C, listed[2].step, "step-2", "step of event 3");
    Ok(())
}

/// Events appended concurrently still get 1..=n without gaps or duplicates.
pub async fn concurrent_events_get_gap_free_seq(store: &dyn Store) -> CheckResult {
    const C: &str = "concurrent_events_get_gap_free_seq";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let appends = (0..20).map(|i| {
        let e = event(&a, &format!("step-{i}"));
        async move { store.append_event(&e).await }
    });
    let mut got = Vec::new();
    for r in futures::future::join_all(appends).await {
        got.push(r.or_fail(C, "concurrent append_event")?.seq);
    }
    got.sort_unstable();
    ensure_eq!(
        C,
        got,
        (1..=20).collect::<Vec<u64>>(),
        "seqs of 20 concurrent appends"
    );
    let listed = store
        .list_events(a.org, a.id, 0, 100)
        .await
        .or_fail(C, "list_events")?;
    ensure_eq!(
        C,
        seqs(&listed),
        (1..=20).collect::<Vec<u64>>(),
        "listed seqs"
    );
    Ok(())
}

/// `list_events` returns events with `seq > after`, oldest first, at most `limit`.
pub async fn list_events_after_and_limit(store: &dyn Store) -> CheckResult {
    const C: &str = "list_events_after_and_limit";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    for i in 0..6 {
        store
            .append_event(&event(&a, &format!("s{i}")))
            .await
            .or_fail(C, "append_event")?;
    }
    let page = store
        .list_events(a.org, a.id, 2, 2)
        .await
        .or_fail(C, "list_events after 2 limit 2")?;
    ensure_eq!(C, seqs(&page), vec![3, 4], "after 2, limit 2");
    let rest = store
        .list_events(a.org, a.id, 4, 100)
        .await
        .or_fail(C, "list_events after 4")?;
    ensure_eq!(C, seqs(&rest), vec![5, 6], "after 4");
    let none = store
        .list_events(a.org, a.id, 6, 100)
        .await
        .or_fail(C, "list_events after 6")?;
    ensure!(
        C,
        none.is_empty(),
        "after the last seq, got {:?}",
        seqs(&none)
    );
    let far = store
        .list_events(a.org, a.id, u64::MAX / 2, 10)
        .await
        .or_fail(C, "list_events far after")?;
    ensure!(C, far.is_empty(), "after a huge seq, got {:?}", seqs(&far));
    Ok(())
}

/// A charged hour is recorded once per (app, hour): a second record is `Ok(false)` and keeps
/// the first.
pub async fn usage_is_recorded_once_per_app_hour(store: &dyn Store) -> CheckResult {
    const C: &str = "usage_is_recorded_once_per_app_hour";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let b = w.app(store, C, "blog").await?;
    let first = usage(&a, 0);
    ensure!(
        C,
        store
            .record_usage(&first)
            .await
            .or_fail(C, "record_usage")?,
        "first record_usage returned false"
    );
    let mut again = usage(&a, 0);
    again.amount = Money::from_micros(99);
    again.transfer_id = "f".repeat(32);
    ensure!(
        C,
        !store
            .record_usage(&again)
            .await
            .or_fail(C, "record_usage again")?,
        "second record_usage of the same hour returned true"
    );
    ensure!(
        C,
        store
            .record_usage(&usage(&b, 0))
            .await
            .or_fail(C, "record_usage other app")?,
        "record_usage of another app's same hour returned false"
    );
    ensure!(
        C,
        store
            .record_usage(&usage(&a, 1))
            .await
            .or_fail(C, "record_usage next hour")?,
        "record_usage of the next hour returned false"
    );
    let listed = store
        .list_usage(a.org, at(0), at(3600))
        .await
        .or_fail(C, "list_usage")?;
    let mine: Vec<_> = listed.into_iter().filter(|u| u.app == a.id).collect();
    ensure_eq!(
        C,
        mine,
        vec![first],
        "usage of the first hour (the first record kept)"
    );
    Ok(())
}

/// `list_usage` returns the organisation's records with `from <= hour < to`, by hour then app.
pub async fn list_usage_filters_range_and_org(store: &dyn Store) -> CheckResult {
    const C: &str = "list_usage_filters_range_and_org";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let b = w.app(store, C, "blog").await?;
    let c = w.app_of(store, C, w.other.id, "wiki").await?;
    for hour in 0..4 {
        for app in [&b, &a, &c] {
            store
                .record_usage(&usage(app, hour))
                .await
                .or_fail(C, "record_usage")?;
        }
    }
    let got = store
        .list_usage(a.org, at(3600), at(3 * 3600))
        .await
        .or_fail(C, "list_usage")?;
    let mut expected = Vec::new();
    for hour in 1..3 {
        let mut pair = [usage(&a, hour), usage(&b, hour)];
        pair.sort_by_key(|u| u.app);
        expected.extend(pair);
    }
    ensure_eq!(
        C,
        got,
        expected,
        "usage of hours 1 and 2 (this organisation, by hour then app)"
    );
    Ok(())
}
