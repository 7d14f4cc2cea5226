//! The store conformance suite against the in-memory store.

use paas_core::memory::MemoryStore;
use paas_core::ports::Store;
use paas_core::testkit::store;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_store_suite() {
    let report = store::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
    report.assert_all_passed();
    assert!(
        report.passed.len() >= 37,
        "only {} checks ran",
        report.passed.len()
    );
}

mod queue_model {
    //! The queue's index against a naive model: random enqueues, leases, heartbeats, retries,
    //! completions and failures; after each step the store must agree with a full scan of the
    //! documented rules.

    use paas_core::memory::MemoryStore;
    use paas_core::model::{
        AppId, AppStatus, Application, Operation, OperationKind, OrgId, Organization, PlanId,
        Runtime, Timestamp,
    };
    use paas_core::ports::Store;
    use proptest::prelude::*;
    use std::time::Duration;

    const LEASE: Duration = Duration::from_secs(10);

    #[derive(Debug, Clone)]
    enum Step {
        Enqueue { app: usize, delay: i64 },
        Lease { worker: usize },
        Heartbeat { worker: usize },
        Retry { worker: usize, delay: i64 },
        Complete { worker: usize },
        Fail { worker: usize },
        Wait { secs: i64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0..3usize, 0..15i64).prop_map(|(app, delay)| Step::Enqueue { app, delay }),
            4 => (0..3usize).prop_map(|worker| Step::Lease { worker }),
            1 => (0..3usize).prop_map(|worker| Step::Heartbeat { worker }),
            1 => (0..3usize, 0..15i64).prop_map(|(worker, delay)| Step::Retry { worker, delay }),
            2 => (0..3usize).prop_map(|worker| Step::Complete { worker }),
            1 => (0..3usize).prop_map(|worker| Step::Fail { worker }),
            2 => (1..12i64).prop_map(|secs| Step::Wait { secs }),
        ]
    }

    /// What the model knows of one operation.
    #[derive(Debug, Clone)]
    struct Op {
        id: paas_core::model::OperationId,
        app: usize,
        finished: bool,
        holder: Option<(usize, Timestamp)>,
        not_before: Timestamp,
    }

    /// The operations a lease at `now` may hand out: per app the oldest unfinished one, if it
    /// is due and not held, or held under an expired lease.
    fn leasable(ops: &[Op], now: Timestamp) -> Vec<usize> {
        (0..3)
            .filter_map(|app| ops.iter().position(|o| o.app == app && !o.finished))
            .filter(|&i| match ops[i].holder {
                Some((_, expires)) => expires <= now,
                None => ops[i].not_before <= now,
            })
            .collect()
    }

    fn app(org: OrgId, i: usize, now: Timestamp) -> Application {
        Application {
            id: AppId::new(),
            org,
            name: format!("app {i}"),
            slug: format!("app-{i}").parse().unwrap(),
            runtime: Runtime::Container {
                image: "img".into(),
            },
            plan: PlanId::new(),
            replicas: 1,
            env: Default::default(),
            domains: vec![],
            health_check: None,
            listen_port: None,
            status: AppStatus::Created,
            status_reason: None,
            placement: None,
            ports: vec![],
            current_release: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
        let store = MemoryStore::new();
        let mut now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let org = Organization {
            id: OrgId::new(),
            name: "o".into(),
            slug: "o".parse().unwrap(),
            created_at: now,
        };
        store.create_org(&org).await.unwrap();
        let mut apps = Vec::new();
        for i in 0..3 {
            let a = app(org.id, i, now);
            store.create_app(&a).await.unwrap();
            apps.push(a);
        }
        let mut ops: Vec<Op> = Vec::new();
        // The operation each worker last leased.
        let mut held: [Option<usize>; 3] = [None; 3];
        for step in steps {
            let secs = chrono::Duration::seconds;
            match step {
                Step::Enqueue { app, delay } => {
                    let mut op = Operation::new(org.id, apps[app].id, OperationKind::Start, now);
                    op.not_before = now + secs(delay);
                    store.enqueue(&op).await.unwrap();
                    ops.push(Op {
                        id: op.id,
                        app,
                        finished: false,
                        holder: None,
                        not_before: op.not_before,
                    });
                }
                Step::Lease { worker } => {
                    let allowed = leasable(&ops, now);
                    let got = store
                        .lease(&format!("w{worker}"), now, LEASE)
                        .await
                        .unwrap();
                    match got {
                        None => prop_assert!(
                            allowed.is_empty(),
                            "lease found nothing but {allowed:?} were leasable"
                        ),
                        Some(op) => {
                            let i = ops.iter().position(|o| o.id == op.id).unwrap();
                            prop_assert!(
                                allowed.contains(&i),
                                "leased #{i}, only {allowed:?} were leasable"
                            );
                            ops[i].holder = Some((worker, now + secs(10)));
                            held[worker] = Some(i);
                        }
                    }
                }
                Step::Wait { secs: s } => now += secs(s),
                Step::Heartbeat { worker }
                | Step::Retry { worker, .. }
                | Step::Complete { worker }
                | Step::Fail { worker } => {
                    let Some(i) = held[worker] else { continue };
                    let holds = !ops[i].finished && ops[i].holder.is_some_and(|(w, _)| w == worker);
                    let (id, w) = (ops[i].id, format!("w{worker}"));
                    let result = match step {
                        Step::Heartbeat { .. } => store.heartbeat(id, &w, now, LEASE).await,
                        Step::Retry { delay, .. } => {
                            store.retry_at(id, &w, now + secs(delay), "again").await
                        }
                        Step::Complete { .. } => store.complete(id, &w, now).await,
                        _ => store.fail(id, &w, now, "broken").await,
                    };
                    prop_assert_eq!(
                        result.is_ok(),
                        holds,
                        "{:?} by a worker holding it: {}",
                        step,
                        holds
                    );
                    if let Err(e) = result {
                        prop_assert!(e.is_conflict(), "{e}");
                        continue;
                    }
                    match step {
                        Step::Heartbeat { .. } => ops[i].holder = Some((worker, now + secs(10))),
                        Step::Retry { delay, .. } => {
                            ops[i].holder = None;
                            ops[i].not_before = now + secs(delay);
                        }
                        _ => {
                            ops[i].holder = None;
                            ops[i].finished = true;
                        }
                    }
                }
            }
            let unfinished = ops.iter().filter(|o| !o.finished).count() as u64;
            prop_assert_eq!(
                store.count_unfinished_operations().await.unwrap(),
                unfinished
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn queue_agrees_with_a_full_scan_of_the_rules(steps in prop::collection::vec(step(), 1..80)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(run(steps))?;
        }
    }
}
