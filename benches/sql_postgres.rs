//! PostgreSQL store benchmarks against DESIGN.md's goals:
//! - `id_allocator/16_concurrent`: allocations/s with 16 concurrent allocators (goal >= 2,000/s);
//! - `queue/4_workers_noop`: no-op operations/s drained by 4 workers (goal >= 2,000/s);
//! - `queue/enqueue_to_start`: time from `enqueue` returning in one process to a worker of
//!   another process (its own pool, woken by `NOTIFY`) holding the lease (goal: median < 20 ms).
//!
//! Needs `PAAS_TEST_DATABASE_URL` (scripts/ensure-postgres.sh); each run uses fresh schemas,
//! dropped at the end. `cargo bench --features postgres --bench sql_postgres`.

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paas_core::model::{
    AppId, AppStatus, Application, Money, Operation, OperationId, OperationKind, OrgId,
    Organization, Plan, PlanId, Runtime,
};
use paas_core::ports::{Clock, IdAllocator, POOL_VMID, Pools, Store, SystemClock};
use paas_core::sql::{PgConfig, PgStore};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn url() -> Option<String> {
    match std::env::var("PAAS_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("sql_postgres benches skipped: PAAS_TEST_DATABASE_URL is not set");
            None
        }
    }
}

fn schema() -> String {
    format!("b_{}", OrgId::new().as_uuid().simple())
}

async fn store(url: &str, schema: &str, connections: u32) -> PgStore {
    let config = PgConfig::new(url)
        .max_connections(connections)
        .schema(schema)
        .unwrap();
    let store = PgStore::connect_with(config).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn drop_schema(store: &PgStore, schema: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(store.pool())
    .await
    .unwrap();
}

/// An organisation, a plan and `n` apps.
async fn apps(store: &PgStore, n: usize) -> Vec<Application> {
    let now = SystemClock.now();
    let org = Organization {
        id: OrgId::new(),
        name: "Bench".into(),
        slug: "bench".parse().unwrap(),
        created_at: now,
    };
    let plan = Plan {
        id: PlanId::new(),
        name: "small".into(),
        cpu: 1,
        memory_mb: 512,
        disk_gb: 8,
        price_per_hour: Money::from_micros(15_000),
        max_replicas: 4,
    };
    store.create_org(&org).await.unwrap();
    store.create_plan(&plan).await.unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let app = Application {
            id: AppId::new(),
            org: org.id,
            name: format!("app {i}"),
            slug: format!("app-{i}").parse().unwrap(),
            runtime: Runtime::Container {
                image: "registry.example/app:1".into(),
            },
            plan: plan.id,
            replicas: 1,
            env: Default::default(),
            domains: Vec::new(),
            health_check: None,
            listen_port: None,
            status: AppStatus::Running,
            status_reason: None,
            placement: None,
            ports: Vec::new(),
            current_release: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        store.create_app(&app).await.unwrap();
        out.push(app);
    }
    out
}

fn allocations(c: &mut Criterion, rt: &tokio::runtime::Runtime, url: &str) {
    let schema = schema();
    let store = rt.block_on(store(url, &schema, 20));
    let ids = Arc::new(store.id_allocator(Pools::default()));
    let owner = Arc::new(AtomicU64::new(0));
    let mut g = c.benchmark_group("id_allocator");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1));
    g.bench_function("16_concurrent", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (ids, owner) = (Arc::clone(&ids), Arc::clone(&owner));
            async move {
                let per_task = iters.div_ceil(16);
                let start = Instant::now();
                let tasks: Vec<_> = (0..16)
                    .map(|_| {
                        let (ids, owner) = (Arc::clone(&ids), Arc::clone(&owner));
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                let o = owner.fetch_add(1, Ordering::Relaxed);
                                ids.allocate(POOL_VMID, &format!("bench/{o}"), &[])
                                    .await
                                    .unwrap();
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                // Time per allocation, as if exactly `iters` were made.
                start
                    .elapsed()
                    .mul_f64(iters as f64 / (per_task * 16) as f64)
            }
        })
    });
    g.finish();
    rt.block_on(drop_schema(&store, &schema));
    rt.block_on(store.close());
}

fn queue(c: &mut Criterion, rt: &tokio::runtime::Runtime, url: &str) {
    let schema = schema();
    let producer = rt.block_on(store(url, &schema, 8));
    let apps = Arc::new(rt.block_on(apps(&producer, 256)));
    let mut g = c.benchmark_group("queue");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1));

    // Drain: enqueue `iters` no-op operations (untimed), then time 4 workers leasing and
    // completing them all.
    let workers = rt.block_on(store(url, &schema, 8));
    g.bench_function("4_workers_noop", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (producer, workers, apps) = (producer.clone(), workers.clone(), Arc::clone(&apps));
            async move {
                let now = SystemClock.now();
                for i in 0..iters as usize {
                    let app = &apps[i % apps.len()];
                    let op = Operation::new(app.org, app.id, OperationKind::Restart, now);
                    producer.enqueue(&op).await.unwrap();
                }
                let done = Arc::new(AtomicU64::new(0));
                let start = Instant::now();
                let tasks: Vec<_> = (0..4)
                    .map(|w| {
                        let (store, done) = (workers.clone(), Arc::clone(&done));
                        tokio::spawn(async move {
                            let worker = format!("w{w}");
                            while done.load(Ordering::SeqCst) < iters {
                                let now = SystemClock.now();
                                match store
                                    .lease(&worker, now, Duration::from_secs(30))
                                    .await
                                    .unwrap()
                                {
                                    Some(op) => {
                                        store.complete(op.id, &worker, now).await.unwrap();
                                        done.fetch_add(1, Ordering::SeqCst);
                                    }
                                    None => store.wait_for_work(Duration::from_millis(5)).await,
                                }
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed()
            }
        })
    });

    // Latency: 4 idle workers of another "process" (their own pool, woken only by NOTIFY);
    // one operation at a time, from enqueue returning to a worker holding its lease.
    let started: Arc<Mutex<HashMap<OperationId, tokio::sync::oneshot::Sender<Instant>>>> =
        Arc::default();
    let stop = Arc::new(AtomicU64::new(0));
    let worker_tasks: Vec<_> = (0..4)
        .map(|w| {
            let (store, started, stop) = (workers.clone(), Arc::clone(&started), Arc::clone(&stop));
            rt.spawn(async move {
                let worker = format!("idle{w}");
                while stop.load(Ordering::SeqCst) == 0 {
                    let now = SystemClock.now();
                    match store
                        .lease(&worker, now, Duration::from_secs(30))
                        .await
                        .unwrap()
                    {
                        Some(op) => {
                            let at = Instant::now();
                            if let Some(tx) = started.lock().unwrap().remove(&op.id) {
                                let _ = tx.send(at);
                            }
                            store.complete(op.id, &worker, now).await.unwrap();
                        }
                        None => store.wait_for_work(Duration::from_secs(1)).await,
                    }
                }
            })
        })
        .collect();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let next_app = Arc::new(AtomicU64::new(0));
    g.throughput(Throughput::Elements(1));
    g.bench_function("enqueue_to_start", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (producer, apps, started, latencies, next_app) = (
                producer.clone(),
                Arc::clone(&apps),
                Arc::clone(&started),
                Arc::clone(&latencies),
                Arc::clone(&next_app),
            );
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let i = next_app.fetch_add(1, Ordering::Relaxed) as usize;
                    let app = &apps[i % apps.len()];
                    let op =
                        Operation::new(app.org, app.id, OperationKind::Restart, SystemClock.now());
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    started.lock().unwrap().insert(op.id, tx);
                    // Give the workers time to go idle, as in real life.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    producer.enqueue(&op).await.unwrap();
                    let enqueued = Instant::now();
                    let at = rx.await.unwrap();
                    let d = at.saturating_duration_since(enqueued);
                    latencies.lock().unwrap().push(d);
                    total += d;
                }
                total
            }
        })
    });
    g.finish();
    stop.store(1, Ordering::SeqCst);
    for t in worker_tasks {
        t.abort();
    }
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    if !l.is_empty() {
        eprintln!(
            "queue/enqueue_to_start over {} operations: median {:?}, p90 {:?}, p99 {:?}, max {:?}",
            l.len(),
            l[l.len() / 2],
            l[l.len() * 9 / 10],
            l[l.len() * 99 / 100],
            l[l.len() - 1]
        );
    }
    rt.block_on(drop_schema(&producer, &schema));
    rt.block_on(producer.close());
    rt.block_on(workers.close());
}

fn benches(c: &mut Criterion) {
    let Some(url) = url() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    allocations(c, &rt, &url);
    queue(c, &rt, &url);
}

criterion_group!(sql_postgres, benches);
criterion_main!(sql_postgres);
