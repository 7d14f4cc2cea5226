//! Checks of the operation queue: order, leases, their expiry and the lease-checked calls.

use super::{at, event, operation, world};
use crate::ErrorKind;
use crate::model::{Application, Operation, OperationId, OperationState};
use crate::ports::Store;
use crate::testkit::check::{CheckResult, Failure, OrFail, expect_err};
use crate::{ensure, ensure_eq};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_secs(30);

async fn enqueue(
    store: &dyn Store,
    check: &'static str,
    app: &Application,
    created: i64,
) -> Result<Operation, Failure> {
    let op = operation(app, created);
    store.enqueue(&op).await.or_fail(check, "enqueue")?;
    Ok(op)
}

async fn lease(
    store: &dyn Store,
    check: &'static str,
    worker: &str,
    now: i64,
) -> Result<Option<Operation>, Failure> {
    store
        .lease(worker, at(now), LEASE)
        .await
        .or_fail(check, format!("lease by {worker} at +{now}s"))
}

async fn lease_some(
    store: &dyn Store,
    check: &'static str,
    worker: &str,
    now: i64,
) -> Result<Operation, Failure> {
    lease(store, check, worker, now).await?.ok_or_else(|| {
        Failure::new(
            check,
            format!("lease by {worker} at +{now}s found nothing, expected an operation"),
        )
    })
}

async fn lease_none(store: &dyn Store, check: &'static str, worker: &str, now: i64) -> CheckResult {
    if let Some(op) = lease(store, check, worker, now).await? {
        return Err(Failure::new(
            check,
            format!(
                "lease by {worker} at +{now}s handed out operation {} (created +{}s), expected none",
                op.id,
                (op.created_at - at(0)).num_seconds()
            ),
        ));
    }
    Ok(())
}

async fn get(store: &dyn Store, check: &'static str, op: &Operation) -> Result<Operation, Failure> {
    store
        .get_operation(op.org, op.id)
        .await
        .or_fail(check, "get_operation")
}

fn ids(ops: &[Operation]) -> Vec<OperationId> {
    ops.iter().map(|o| o.id).collect()
}

/// An enqueued operation reads back queued; an app's operations list newest first, at most
/// `limit`.
pub async fn enqueue_get_and_list_newest_first(store: &dyn Store) -> CheckResult {
    const C: &str = "enqueue_get_and_list_newest_first";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let b = w.app(store, C, "blog").await?;
    let mut ops = Vec::new();
    for t in 0..3 {
        ops.push(enqueue(store, C, &a, t).await?);
    }
    enqueue(store, C, &b, 1).await?;
    let got = get(store, C, &ops[0]).await?;
    ensure_eq!(C, got, ops[0], "get_operation after enqueue");
    ensure_eq!(
        C,
        got.state,
        OperationState::Queued,
        "state of a new operation"
    );
    let listed = store
        .list_operations(a.org, a.id, 10)
        .await
        .or_fail(C, "list_operations")?;
    let newest_first: Vec<OperationId> = ops.iter().rev().map(|o| o.id).collect();
    ensure_eq!(
        C,
        ids(&listed),
        newest_first,
        "list_operations (this app, newest first)"
    );
    let two = store
        .list_operations(a.org, a.id, 2)
        .await
        .or_fail(C, "list_operations limit 2")?;
    ensure_eq!(
        C,
        ids(&two),
        newest_first[..2].to_vec(),
        "list_operations limit 2"
    );
    expect_err(
        C,
        "get_operation of an unknown id",
        store.get_operation(a.org, OperationId::new()).await,
        ErrorKind::NotFound,
    )?;
    Ok(())
}

/// Queued and running operations count as unfinished; finished ones do not.
pub async fn count_unfinished_operations_counts_queued_and_running(
    store: &dyn Store,
) -> CheckResult {
    const C: &str = "count_unfinished_operations_counts_queued_and_running";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let b = w.app_of(store, C, w.other.id, "blog").await?;
    enqueue(store, C, &a, 0).await?;
    enqueue(store, C, &a, 1).await?;
    enqueue(store, C, &b, 2).await?;
    let count = || async {
        store
            .count_unfinished_operations()
            .await
            .or_fail(C, "count_unfinished_operations")
    };
    ensure_eq!(
        C,
        count().await?,
        3,
        "unfinished after 3 enqueues (two organisations)"
    );
    let first = lease_some(store, C, "w1", 10).await?;
    ensure_eq!(C, count().await?, 3, "unfinished with one running");
    store
        .complete(first.id, "w1", at(11))
        .await
        .or_fail(C, "complete")?;
    ensure_eq!(C, count().await?, 2, "unfinished after one completed");
    let second = lease_some(store, C, "w1", 12).await?;
    store
        .fail(second.id, "w1", at(13), "broken")
        .await
        .or_fail(C, "fail")?;
    ensure_eq!(C, count().await?, 1, "unfinished after one failed");
    Ok(())
}

/// Per app, only the oldest unfinished operation is leasable, so an app's operations run one
/// at a time in enqueue order; different apps run in parallel. A lease sets state running, the
/// worker, the expiry and one more attempt.
pub async fn lease_is_fifo_and_one_at_a_time_per_app(store: &dyn Store) -> CheckResult {
    const C: &str = "lease_is_fifo_and_one_at_a_time_per_app";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let b = w.app(store, C, "blog").await?;
    let a1 = enqueue(store, C, &a, 0).await?;
    let a2 = enqueue(store, C, &a, 1).await?;
    let b1 = enqueue(store, C, &b, 2).await?;
    let first = lease_some(store, C, "w1", 10).await?;
    let second = lease_some(store, C, "w2", 10).await?;
    let mut got = vec![first.id, second.id];
    got.sort();
    let mut want = vec![a1.id, b1.id];
    want.sort();
    ensure_eq!(
        C,
        got,
        want,
        "the first two leases (the oldest operation of each app)"
    );
    lease_none(store, C, "w3", 10).await?;
    let leased = if first.id == a1.id { &first } else { &second };
    ensure_eq!(
        C,
        leased.state,
        OperationState::Running,
        "state of a leased operation"
    );
    ensure_eq!(C, leased.attempts, 1, "attempts after the first lease");
    let held = leased
        .lease
        .as_ref()
        .ok_or_else(|| Failure::new(C, "a leased operation has no lease"))?;
    ensure_eq!(C, held.expires_at, at(40), "lease expiry (now + lease_for)");
    let stored = get(store, C, &a1).await?;
    ensure_eq!(
        C,
        stored.state,
        OperationState::Running,
        "stored state of the leased operation"
    );
    ensure_eq!(
        C,
        stored.lease.as_ref().map(|l| l.worker.clone()),
        Some(held.worker.clone()),
        "stored lease holder"
    );
    store
        .complete(a1.id, &held.worker, at(11))
        .await
        .or_fail(C, "complete a1")?;
    let next = lease_some(store, C, "w3", 12).await?;
    ensure_eq!(
        C,
        next.id,
        a2.id,
        "the lease after a1 completed (a2, next in line)"
    );
    Ok(())
}

/// An operation is not leased before its `not_before`, and an app's later operations wait
/// behind its oldest even when they are due first.
pub async fn lease_respects_not_before(store: &dyn Store) -> CheckResult {
    const C: &str = "lease_respects_not_before";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let mut later = operation(&a, 0);
    later.not_before = at(100);
    store
        .enqueue(&later)
        .await
        .or_fail(C, "enqueue due at +100s")?;
    enqueue(store, C, &a, 1).await?;
    lease_none(store, C, "w1", 50).await?;
    let got = lease_some(store, C, "w1", 100).await?;
    ensure_eq!(C, got.id, later.id, "lease at +100s (the oldest, now due)");
    Ok(())
}

/// A lease that expires (its worker died) lets another worker lease the operation again,
/// with one more attempt; before expiry nobody else gets it.
pub async fn expired_lease_is_rescued_by_another_worker(store: &dyn Store) -> CheckResult {
    const C: &str = "expired_lease_is_rescued_by_another_worker";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let op = enqueue(store, C, &a, 0).await?;
    lease_some(store, C, "w1", 0).await?;
    lease_none(store, C, "w2", 10).await?;
    let rescued = lease_some(store, C, "w2", 31).await?;
    ensure_eq!(C, rescued.id, op.id, "the rescued operation");
    ensure_eq!(C, rescued.attempts, 2, "attempts after the rescue");
    ensure_eq!(
        C,
        rescued.lease.map(|l| (l.worker, l.expires_at)),
        Some(("w2".to_owned(), at(61))),
        "the new lease"
    );
    Ok(())
}

/// `heartbeat` pushes the lease's expiry to `now + lease_for`.
pub async fn heartbeat_extends_the_lease(store: &dyn Store) -> CheckResult {
    const C: &str = "heartbeat_extends_the_lease";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let op = enqueue(store, C, &a, 0).await?;
    lease_some(store, C, "w1", 0).await?;
    store
        .heartbeat(op.id, "w1", at(20), LEASE)
        .await
        .or_fail(C, "heartbeat at +20s")?;
    let got = get(store, C, &op).await?;
    ensure_eq!(
        C,
        got.lease.map(|l| l.expires_at),
        Some(at(50)),
        "lease expiry after the heartbeat"
    );
    lease_none(store, C, "w2", 40).await?;
    let rescued = lease_some(store, C, "w2", 51).await?;
    ensure_eq!(
        C,
        rescued.id,
        op.id,
        "operation rescued after the renewed lease expired"
    );
    Ok(())
}

/// A worker that lost its lease (or never had it) is refused with `Conflict` by `heartbeat`,
/// `checkpoint`, `complete`, `retry_at` and `fail`, and changes nothing.
pub async fn stale_worker_is_refused(store: &dyn Store) -> CheckResult {
    const C: &str = "stale_worker_is_refused";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let op = enqueue(store, C, &a, 0).await?;
    lease_some(store, C, "w1", 0).await?;
    lease_some(store, C, "w2", 31).await?;
    let before = get(store, C, &op).await?;
    let cp = serde_json::json!({ "step": "stale" });
    for worker in ["w1", "stranger"] {
        let doing = |what: &str| format!("{what} by {worker}, who does not hold the lease");
        expect_err(
            C,
            doing("heartbeat"),
            store.heartbeat(op.id, worker, at(32), LEASE).await,
            ErrorKind::Conflict,
        )?;
        expect_err(
            C,
            doing("checkpoint"),
            store.checkpoint(op.id, worker, &cp).await,
            ErrorKind::Conflict,
        )?;
        expect_err(
            C,
            doing("complete"),
            store.complete(op.id, worker, at(32)).await,
            ErrorKind::Conflict,
        )?;
        expect_err(
            C,
            doing("retry_at"),
            store.retry_at(op.id, worker, at(90), "x").await,
            ErrorKind::Conflict,
        )?;
        expect_err(
            C,
            doing("fail"),
            store.fail(op.id, worker, at(32), "x").await,
            ErrorKind::Conflict,
        )?;
    }
    let after = get(store, C, &op).await?;
    ensure_eq!(C, after, before, "the operation after refused calls");
    store
        .complete(op.id, "w2", at(33))
        .await
        .or_fail(C, "complete by the holder")?;
    expect_err(
        C,
        "complete of a finished operation",
        store.complete(op.id, "w2", at(34)).await,
        ErrorKind::Conflict,
    )?;
    Ok(())
}

/// `checkpoint` saves progress on the operation, and it survives a retry.
pub async fn checkpoint_is_saved(store: &dyn Store) -> CheckResult {
    const C: &str = "checkpoint_is_saved";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let op = enqueue(store, C, &a, 0).await?;
    lease_some(store, C, "w1", 0).await?;
    let cp = serde_json::json!({ "done": ["allocate-vmid", "create-guest"], "vmid": 101 });
    store
        .checkpoint(op.id, "w1", &cp)
        .await
        .or_fail(C, "checkpoint")?;
    ensure_eq!(
        C,
        get(store, C, &op).await?.checkpoint,
        cp,
        "checkpoint after saving"
    );
    store
        .retry_at(op.id, "w1", at(5), "flaky")
        .await
        .or_fail(C, "retry_at")?;
    let again = lease_some(store, C, "w2", 5).await?;
    ensure_eq!(
        C,
        again.checkpoint,
        cp,
        "checkpoint seen by the next attempt"
    );
    Ok(())
}

/// `checkpoint_with_event` by the lease holder saves the checkpoint and appends the event with
/// the app's next seq; by a worker without the lease it is `Conflict` and writes neither.
pub async fn checkpoint_with_event_writes_both_or_neither(store: &dyn Store) -> CheckResult {
    const C: &str = "checkpoint_with_event_writes_both_or_neither";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let op = enqueue(store, C, &a, 0).await?;
    lease_some(store, C, "w1", 0).await?;
    store
        .append_event(&event(&a, "queued"))
        .await
        .or_fail(C, "append_event")?;
    let cp = serde_json::json!({ "done": ["allocate-vmid"], "vmid": 101 });
    let mut step = event(&a, "allocate-vmid");
    step.operation = Some(op.id);
    let stored = store
        .checkpoint_with_event(op.id, "w1", &cp, &step)
        .await
        .or_fail(C, "checkpoint_with_event by the holder")?;
    ensure_eq!(C, stored.seq, 2, "seq of the event after one other event");
    ensure_eq!(C, stored.step, step.step, "step of the returned event");
    ensure_eq!(
        C,
        stored.operation,
        Some(op.id),
        "operation of the returned event"
    );
    ensure_eq!(
        C,
        get(store, C, &op).await?.checkpoint,
        cp,
        "checkpoint after checkpoint_with_event"
    );
    let history = store
        .list_events(a.org, a.id, 0, 100)
        .await
        .or_fail(C, "list_events")?;
    ensure_eq!(
        C,
        history.last(),
        Some(&stored),
        "the app's last event is the one returned"
    );

    lease_some(store, C, "w2", 31).await?;
    let before = get(store, C, &op).await?;
    let stale = serde_json::json!({ "done": ["allocate-vmid", "place"] });
    for worker in ["w1", "stranger"] {
        expect_err(
            C,
            format!("checkpoint_with_event by {worker}, who does not hold the lease"),
            store
                .checkpoint_with_event(op.id, worker, &stale, &event(&a, "place"))
                .await,
            ErrorKind::Conflict,
        )?;
    }
    ensure_eq!(
        C,
        get(store, C, &op).await?,
        before,
        "the operation after refused checkpoint_with_event calls"
    );
    let after = store
        .list_events(a.org, a.id, 0, 100)
        .await
        .or_fail(C, "list_events")?;
    ensure_eq!(
        C,
        after,
        history,
        "events after refused checkpoint_with_event calls"
    );
    let next = store
        .checkpoint_with_event(op.id, "w2", &stale, &event(&a, "place"))
        .await
        .or_fail(C, "checkpoint_with_event by the new holder")?;
    ensure_eq!(C, next.seq, 3, "seq after the refused calls (no gap)");
    Ok(())
}

/// `retry_at` puts the operation back in the queue, due at `at`, with the error recorded and
/// no lease.
pub async fn retry_at_requeues_with_error(store: &dyn Store) -> CheckResult {
    const C: &str = "retry_at_requeues_with_error";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let op = enqueue(store, C, &a, 0).await?;
    lease_some(store, C, "w1", 0).await?;
    store
        .retry_at(op.id, "w1", at(60), "proxmox busy")
        .await
        .or_fail(C, "retry_at")?;
    let got = get(store, C, &op).await?;
    ensure_eq!(C, got.state, OperationState::Queued, "state after retry_at");
    ensure_eq!(C, got.not_before, at(60), "not_before after retry_at");
    ensure_eq!(
        C,
        got.error.as_deref(),
        Some("proxmox busy"),
        "error after retry_at"
    );
    ensure!(
        C,
        got.lease.is_none(),
        "a re-queued operation still has a lease: {:?}",
        got.lease
    );
    ensure!(
        C,
        got.finished_at.is_none(),
        "a re-queued operation has finished_at"
    );
    ensure_eq!(
        C,
        store
            .count_unfinished_operations()
            .await
            .or_fail(C, "count")?,
        1,
        "unfinished after retry_at"
    );
    lease_none(store, C, "w2", 59).await?;
    let again = lease_some(store, C, "w2", 60).await?;
    ensure_eq!(
        C,
        (again.id, again.attempts),
        (op.id, 2),
        "operation and attempts at the retry"
    );
    Ok(())
}

/// `complete` and `fail` finish the operation (state, `finished_at`, no lease, `fail`'s
/// error); a finished operation is never leased again and the app's next one becomes
/// leasable.
pub async fn complete_and_fail_finish_operations(store: &dyn Store) -> CheckResult {
    const C: &str = "complete_and_fail_finish_operations";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let first = enqueue(store, C, &a, 0).await?;
    let second = enqueue(store, C, &a, 1).await?;
    let third = enqueue(store, C, &a, 2).await?;
    lease_some(store, C, "w1", 10).await?;
    store
        .complete(first.id, "w1", at(11))
        .await
        .or_fail(C, "complete")?;
    let done = get(store, C, &first).await?;
    ensure_eq!(
        C,
        (done.state, done.finished_at),
        (OperationState::Succeeded, Some(at(11))),
        "state and finished_at after complete"
    );
    ensure!(
        C,
        done.lease.is_none(),
        "a completed operation still has a lease"
    );
    let leased = lease_some(store, C, "w1", 12).await?;
    ensure_eq!(C, leased.id, second.id, "the lease after complete");
    store
        .fail(second.id, "w1", at(13), "image not found")
        .await
        .or_fail(C, "fail")?;
    let failed = get(store, C, &second).await?;
    ensure_eq!(
        C,
        (failed.state, failed.finished_at),
        (OperationState::Failed, Some(at(13))),
        "state and finished_at after fail"
    );
    ensure_eq!(
        C,
        failed.error.as_deref(),
        Some("image not found"),
        "error after fail"
    );
    ensure!(
        C,
        failed.lease.is_none(),
        "a failed operation still has a lease"
    );
    let leased = lease_some(store, C, "w1", 10_000).await?;
    ensure_eq!(C, leased.id, third.id, "the lease after fail, much later");
    store
        .complete(third.id, "w1", at(10_001))
        .await
        .or_fail(C, "complete third")?;
    lease_none(store, C, "w1", 1_000_000).await?;
    Ok(())
}

/// `wait_for_work` returns soon after another task enqueues (within 3 s, so a backend may
/// poll at up to about a second), well before its 5 s timeout.
pub async fn wait_for_work_wakes_on_enqueue(store: &dyn Store) -> CheckResult {
    const C: &str = "wait_for_work_wakes_on_enqueue";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let op = operation(&a, 0);
    let started = Instant::now();
    let ((), enqueued) = tokio::join!(store.wait_for_work(Duration::from_secs(5)), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        store.enqueue(&op).await
    });
    enqueued.or_fail(C, "enqueue while a worker waits")?;
    let waited = started.elapsed();
    ensure!(
        C,
        waited < Duration::from_secs(3),
        "wait_for_work(5s) returned after {waited:?} although an operation was enqueued after 100ms"
    );
    Ok(())
}

/// With nothing happening, `wait_for_work` returns after about its timeout.
pub async fn wait_for_work_times_out_when_idle(store: &dyn Store) -> CheckResult {
    const C: &str = "wait_for_work_times_out_when_idle";
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    store.wait_for_work(timeout).await;
    let waited = started.elapsed();
    ensure!(
        C,
        waited >= timeout / 2,
        "wait_for_work(300ms) on an idle store returned after {waited:?}"
    );
    ensure!(
        C,
        waited < Duration::from_secs(10),
        "wait_for_work(300ms) returned after {waited:?}"
    );
    Ok(())
}
