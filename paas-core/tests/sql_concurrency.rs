//! The SQL stores under concurrency: many tasks and several OS processes allocating ids,
//! many workers leasing operations, a worker dying mid-operation, concurrent migrations,
//! cross-process wake-ups.

mod sql_support;

use paas_core::ErrorKind;
use paas_core::ports::{IdAllocator, POOL_VMID, Pools, Store};
use paas_core::sql::{PgStore, SqliteStore};
use sql_support::{Scratch, enqueue_restart, new_app, org_and_plan, pg_store, postgres_url};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- id allocation

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_16_tasks_allocate_vmids_without_duplicates() {
    let Some(url) = postgres_url() else { return };
    let scratch = Scratch::default();
    let store = scratch.pg(&url).await;
    let ids = Arc::new(store.id_allocator(Pools::default()));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let ids = Arc::clone(&ids);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..60 {
                // Some callers avoid values the "cluster" already uses.
                let avoid: Vec<u64> = if i % 3 == 0 { (100..140).collect() } else { Vec::new() };
                got.push(ids.allocate(POOL_VMID, &format!("task{t}/{i}"), &avoid).await.unwrap());
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 16 * 60, "duplicate vmids handed out");
    assert!(distinct.iter().all(|v| (100..=999_999_999).contains(v)));
    assert_eq!(ids.usage(POOL_VMID).await.unwrap().used, 16 * 60);
    // Lowest-free allocation keeps the values dense (only the avoided values may be skipped).
    assert!(*distinct.last().unwrap() < 100 + 16 * 60 + 40);
    scratch.cleanup(Some(&url)).await;
}

/// Values allocated by the child processes of the 4-process test (the child role runs
/// only when spawned by `postgres_4_processes_allocate_vmids_without_duplicates`).
const CHILD_ENV: &str = "PAAS_CHILD_ALLOC";
const CHILD_SCHEMA_ENV: &str = "PAAS_CHILD_SCHEMA";
const PER_CHILD: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_allocator_role() {
    if std::env::var(CHILD_ENV).ok().as_deref() != Some("1") {
        return; // only meaningful as a child of the 4-process test
    }
    let url = std::env::var("PAAS_TEST_DATABASE_URL").unwrap();
    let schema = std::env::var(CHILD_SCHEMA_ENV).unwrap();
    let child = std::process::id();
    let config = paas_core::sql::PgConfig::new(&url).schema(&schema).unwrap();
    let store = PgStore::connect_with(config).await.unwrap();
    // Every child migrates too: concurrent start-up of several processes.
    store.migrate().await.unwrap();
    let ids = store.id_allocator(Pools::default());
    for i in 0..PER_CHILD {
        let v = ids.allocate(POOL_VMID, &format!("proc{child}/{i}"), &[]).await.unwrap();
        println!("ALLOCATED {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_4_processes_allocate_vmids_without_duplicates() {
    let Some(url) = postgres_url() else { return };
    let schema = sql_support::schema_name();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            tokio::process::Command::new(&exe)
                .args(["--exact", "child_process_allocator_role", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, "1")
                .env(CHILD_SCHEMA_ENV, &schema)
                .env("PAAS_TEST_DATABASE_URL", &url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut all = Vec::new();
    for child in children {
        let out = child.wait_with_output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let values: Vec<u64> = stdout
            .lines()
            // libtest may print "test <name> ... " on the same line as the first value.
            .filter_map(|l| l.split("ALLOCATED ").nth(1))
            .map(|v| v.trim().parse().unwrap())
            .collect();
        assert_eq!(values.len(), PER_CHILD, "a child reported {} values", values.len());
        all.extend(values);
    }
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 4 * PER_CHILD, "two processes got the same vmid");
    let store = pg_store(&url, &schema).await;
    let used = store.id_allocator(Pools::default()).usage(POOL_VMID).await.unwrap().used;
    assert_eq!(used, (4 * PER_CHILD) as u64);
    store.close().await;
    sql_support::drop_schemas(&url, &[schema]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn released_values_are_reused_lowest_first_on_both_backends() {
    let scratch = Scratch::default();
    let url = postgres_url();
    let mut allocators: Vec<Arc<dyn IdAllocator>> =
        vec![Arc::new(scratch.sqlite().await.id_allocator(Pools::default()))];
    if let Some(url) = &url {
        allocators.push(Arc::new(scratch.pg(url).await.id_allocator(Pools::default())));
    }
    for ids in allocators {
        for i in 0..10 {
            assert_eq!(ids.allocate(POOL_VMID, &format!("o{i}"), &[]).await.unwrap(), 100 + i);
        }
        ids.release(POOL_VMID, 103).await.unwrap();
        ids.release(POOL_VMID, 101).await.unwrap();
        assert_eq!(ids.allocate(POOL_VMID, "x", &[101]).await.unwrap(), 103);
        assert_eq!(ids.allocate(POOL_VMID, "y", &[]).await.unwrap(), 101);
        assert_eq!(ids.allocate(POOL_VMID, "z", &[110, 111]).await.unwrap(), 112);
        assert_eq!(ids.allocate(POOL_VMID, "w", &[]).await.unwrap(), 110);
    }
    scratch.cleanup(url.as_deref()).await;
}

// ---------------------------------------------------------------- the operation queue

/// Leases everything in the queue with `workers` concurrent workers, checking that no
/// operation and no app is ever held by two workers at once; returns how often each
/// operation was leased.
async fn drain_with_workers(store: Arc<dyn Store>, workers: usize) -> BTreeMap<String, u32> {
    let held_ops = Arc::new(Mutex::new(HashSet::new()));
    let held_apps = Arc::new(Mutex::new(HashSet::new()));
    let leases = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (store, held_ops, held_apps, leases) =
            (Arc::clone(&store), held_ops.clone(), held_apps.clone(), leases.clone());
        tasks.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            loop {
                let now = chrono::Utc::now();
                match store.lease(&worker, now, Duration::from_secs(60)).await.unwrap() {
                    Some(op) => {
                        assert!(held_ops.lock().unwrap().insert(op.id), "{} leased twice", op.id);
                        assert!(held_apps.lock().unwrap().insert(op.app), "two ops of one app");
                        *leases.lock().unwrap().entry(op.id.to_string()).or_default() += 1;
                        tokio::task::yield_now().await;
                        held_apps.lock().unwrap().remove(&op.app);
                        held_ops.lock().unwrap().remove(&op.id);
                        store.complete(op.id, &worker, chrono::Utc::now()).await.unwrap();
                    }
                    None => {
                        if store.count_unfinished_operations().await.unwrap() == 0 {
                            return;
                        }
                        store.wait_for_work(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(leases).unwrap().into_inner().unwrap()
}

async fn many_workers_scenario(store: Arc<dyn Store>) {
    let (org, plan) = org_and_plan(&*store).await;
    let mut expected = BTreeSet::new();
    for i in 0..60 {
        let app = new_app(&*store, org, plan).await;
        // Some apps get several operations, which must run one at a time, in order.
        for _ in 0..(1 + i % 3) {
            expected.insert(enqueue_restart(&*store, &app).await.id.to_string());
        }
    }
    let leases = drain_with_workers(Arc::clone(&store), 8).await;
    assert_eq!(leases.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(leases.values().all(|n| *n == 1), "an operation was leased more than once");
    assert_eq!(store.count_unfinished_operations().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_workers_never_hold_the_same_lease() {
    let Some(url) = postgres_url() else { return };
    let scratch = Scratch::default();
    many_workers_scenario(Arc::new(scratch.pg(&url).await)).await;
    scratch.cleanup(Some(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_workers_never_hold_the_same_lease() {
    let scratch = Scratch::default();
    many_workers_scenario(Arc::new(scratch.sqlite().await)).await;
    scratch.cleanup(None).await;
}

/// Worker A leases an operation, saves a checkpoint and renews its lease; it is killed (its
/// task aborted, so renewals stop). Until the lease lapses nobody else gets the operation;
/// after, worker B does, sees the checkpoint, and A's late calls are refused.
async fn dead_worker_scenario(store: Arc<dyn Store>) {
    let (org, plan) = org_and_plan(&*store).await;
    let app = new_app(&*store, org, plan).await;
    let op = enqueue_restart(&*store, &app).await;
    let lease_for = Duration::from_millis(600);

    let leased = store.lease("worker-a", chrono::Utc::now(), lease_for).await.unwrap().unwrap();
    assert_eq!(leased.id, op.id);
    let checkpoint = serde_json::json!({"done": ["allocate-vmid", "create-guest"], "vmid": 123});
    store.checkpoint(op.id, "worker-a", &checkpoint).await.unwrap();
    let a = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                store.heartbeat(op.id, "worker-a", chrono::Utc::now(), lease_for).await.unwrap();
            }
        })
    };
    // While A is alive (1.5 s, well past one lease period), B gets nothing.
    let alive_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < alive_until {
        assert!(store.lease("worker-b", chrono::Utc::now(), lease_for).await.unwrap().is_none());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.abort();
    let killed = Instant::now();
    let rescued = loop {
        if let Some(op) = store.lease("worker-b", chrono::Utc::now(), lease_for).await.unwrap() {
            break op;
        }
        assert!(killed.elapsed() < Duration::from_secs(10), "the operation was never rescued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(killed.elapsed() >= Duration::from_millis(300), "rescued before the lease lapsed");
    assert_eq!(rescued.id, op.id);
    assert_eq!(rescued.checkpoint, checkpoint);
    assert_eq!(rescued.attempts, 2);
    assert_eq!(rescued.lease.as_ref().unwrap().worker, "worker-b");
    let late = store.heartbeat(op.id, "worker-a", chrono::Utc::now(), lease_for).await;
    assert_eq!(late.unwrap_err().kind(), ErrorKind::Conflict);
    let late = store.complete(op.id, "worker-a", chrono::Utc::now()).await;
    assert_eq!(late.unwrap_err().kind(), ErrorKind::Conflict);
    store.complete(op.id, "worker-b", chrono::Utc::now()).await.unwrap();
    let done = store.get_operation(org, op.id).await.unwrap();
    assert_eq!(done.state, paas_core::model::OperationState::Succeeded);
    assert_eq!(done.checkpoint, checkpoint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_dead_workers_operation_is_rescued_after_its_lease_expires() {
    let Some(url) = postgres_url() else { return };
    let scratch = Scratch::default();
    dead_worker_scenario(Arc::new(scratch.pg(&url).await)).await;
    scratch.cleanup(Some(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_dead_workers_operation_is_rescued_after_its_lease_expires() {
    let scratch = Scratch::default();
    dead_worker_scenario(Arc::new(scratch.sqlite().await)).await;
    scratch.cleanup(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_notify_wakes_a_worker_of_another_process() {
    let Some(url) = postgres_url() else { return };
    let scratch = Scratch::default();
    let producer = scratch.pg(&url).await;
    let schema = scratch.schemas.lock().unwrap()[0].clone();
    // A second store with its own pool stands for another process.
    let consumer = pg_store(&url, &schema).await;
    // A store in another schema must not be woken by this one's work.
    let stranger = scratch.pg(&url).await;
    let (org, plan) = org_and_plan(&producer).await;
    let app = new_app(&producer, org, plan).await;
    // Start both listeners, then wait.
    consumer.wait_for_work(Duration::from_millis(300)).await;
    stranger.wait_for_work(Duration::from_millis(300)).await;
    let waiter = tokio::spawn(async move {
        let t = Instant::now();
        consumer.wait_for_work(Duration::from_secs(10)).await;
        (t.elapsed(), consumer)
    });
    let other = tokio::spawn(async move {
        let t = Instant::now();
        stranger.wait_for_work(Duration::from_secs(2)).await;
        t.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let op = enqueue_restart(&producer, &app).await;
    let (waited, consumer) = waiter.await.unwrap();
    assert!(waited < Duration::from_secs(5), "the NOTIFY did not wake the worker ({waited:?})");
    let leased = consumer.lease("w", chrono::Utc::now(), Duration::from_secs(5)).await.unwrap();
    assert_eq!(leased.unwrap().id, op.id);
    assert!(other.await.unwrap() >= Duration::from_millis(1900), "woken by another schema");
    consumer.close().await;
    scratch.cleanup(Some(&url)).await;
}

// ---------------------------------------------------------------- migrations

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_migrations_are_safe() {
    let Some(url) = postgres_url() else { return };
    let schema = sql_support::schema_name();
    let config = || paas_core::sql::PgConfig::new(&url).schema(&schema).unwrap();
    let a = PgStore::connect_with(config()).await.unwrap();
    let b = PgStore::connect_with(config()).await.unwrap();
    let c = PgStore::connect_with(config()).await.unwrap();
    let (ra, rb, rc) = tokio::join!(a.migrate(), b.migrate(), c.migrate());
    ra.unwrap();
    rb.unwrap();
    rc.unwrap();
    a.migrate().await.unwrap(); // and again: nothing to do
    let (org, plan) = org_and_plan(&b).await;
    new_app(&c, org, plan).await;
    for s in [a, b, c] {
        s.close().await;
    }
    sql_support::drop_schemas(&url, &[schema]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_migrations_are_safe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paas.db");
    let path = path.to_str().unwrap();
    let a = SqliteStore::open(path).await.unwrap();
    let b = SqliteStore::open(path).await.unwrap();
    let c = SqliteStore::open(path).await.unwrap();
    let (ra, rb, rc) = tokio::join!(a.migrate(), b.migrate(), c.migrate());
    ra.unwrap();
    rb.unwrap();
    rc.unwrap();
    a.migrate().await.unwrap();
    let (org, plan) = org_and_plan(&b).await;
    new_app(&c, org, plan).await;
}

// ---------------------------------------------------------------- schema constraints

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn constraints_hold_in_the_schema_itself() {
    let scratch = Scratch::default();
    let url = postgres_url();
    let sqlite = scratch.sqlite().await;
    // SQL that bypasses the store still cannot break the rules.
    let (org, plan) = org_and_plan(&sqlite).await;
    let app = new_app(&sqlite, org, plan).await;
    let op1 = enqueue_restart(&sqlite, &app).await;
    let op2 = enqueue_restart(&sqlite, &app).await;
    let two_running = sqlx::query("UPDATE operations SET state = 'running', lease_worker = 'x', lease_expires_ns = 0 WHERE id IN ($1, $2)")
        .bind(op1.id.as_uuid())
        .bind(op2.id.as_uuid())
        .execute(sqlite.pool())
        .await;
    assert!(two_running.unwrap_err().as_database_error().unwrap().is_unique_violation());
    let dup_value = sqlx::query("INSERT INTO id_allocations VALUES ('vmid', 100, 'a', 0), ('vmid', 100, 'b', 0)")
        .execute(sqlite.pool())
        .await;
    assert!(dup_value.unwrap_err().as_database_error().unwrap().is_unique_violation());
    if let Some(url) = &url {
        let pg = scratch.pg(url).await;
        let (org, plan) = org_and_plan(&pg).await;
        let app = new_app(&pg, org, plan).await;
        let op1 = enqueue_restart(&pg, &app).await;
        let op2 = enqueue_restart(&pg, &app).await;
        let two_running = sqlx::query("UPDATE operations SET state = 'running', lease_worker = 'x', lease_expires_ns = 0 WHERE id IN ($1, $2)")
            .bind(op1.id.as_uuid())
            .bind(op2.id.as_uuid())
            .execute(pg.pool())
            .await;
        assert!(two_running.unwrap_err().as_database_error().unwrap().is_unique_violation());
        let orphan = sqlx::query("INSERT INTO events (app, seq, org, at_ns, level, step, message) VALUES ($1, 1, $2, 0, 'info', 's', 'm')")
            .bind(uuid::Uuid::new_v4())
            .bind(org.as_uuid())
            .execute(pg.pool())
            .await;
        assert!(orphan.unwrap_err().as_database_error().unwrap().is_foreign_key_violation());
    }
    scratch.cleanup(url.as_deref()).await;
}
