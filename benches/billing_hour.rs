//! One billing hour of 100,000 running apps, with the ledger on PostgreSQL (goal: under 10 s).
//!
//! 1,000 organisations with 100 running apps each, every wallet topped up. Each iteration
//! bills the next hour: 100,000 charges posted in batches of 1,000 and 100,000 usage records,
//! then the wallet policy for the 1,000 organisations. The apps, plans and usage records are
//! in a `MemoryStore` (the SQL store had not landed when this was written); the ledger is
//! `SqlLedger` on Postgres.
//!
//! Needs `PAAS_BENCH_DATABASE_URL` or `PAAS_TEST_DATABASE_URL` (skipped with a note without).

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, criterion_group, criterion_main};
use paas_billing::{Biller, Policy, SqlLedger};
use paas_core::memory::{ManualClock, MemoryStore};
use paas_core::model::{
    AppId, AppStatus, Application, Money, OrgId, Organization, Plan, PlanId, Runtime, Timestamp,
};
use paas_core::ports::{Clock, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ORGS: usize = 1_000;
const APPS_PER_ORG: usize = 100;

fn database_url() -> Option<String> {
    std::env::var("PAAS_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("PAAS_TEST_DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty())
}

async fn seed(store: &MemoryStore, biller: &Biller, t0: Timestamp) {
    let run = OrgId::new().as_uuid().simple().to_string();
    let run = &run[run.len() - 8..];
    let plan = Plan {
        id: PlanId::new(),
        name: format!("bench-{run}"),
        cpu: 1,
        memory_mb: 512,
        disk_gb: 8,
        price_per_hour: Money::from_micros(15_000),
        max_replicas: 3,
    };
    store.create_plan(&plan).await.unwrap();
    for o in 0..ORGS {
        let org = Organization {
            id: OrgId::new(),
            name: format!("org {o}"),
            slug: format!("o{o}-{run}").parse().unwrap(),
            created_at: t0,
        };
        store.create_org(&org).await.unwrap();
        for a in 0..APPS_PER_ORG {
            let app = Application {
                id: AppId::new(),
                org: org.id,
                name: format!("app {a}"),
                slug: format!("a{o}-{a}-{run}").parse().unwrap(),
                runtime: Runtime::Container {
                    image: "nginx".into(),
                },
                plan: plan.id,
                replicas: 1 + (a % 3) as u32,
                env: BTreeMap::new(),
                domains: Vec::new(),
                health_check: None,
                listen_port: None,
                status: AppStatus::Running,
                status_reason: None,
                placement: None,
                ports: Vec::new(),
                current_release: Some(1),
                created_at: t0,
                updated_at: t0,
                version: 1,
            };
            store.create_app(&app).await.unwrap();
        }
        biller
            .top_up(
                org.id,
                Money::from_units(1_000_000).unwrap(),
                &format!("bench-{run}-{o}"),
            )
            .await
            .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let Some(url) = database_url() else {
        eprintln!(
            "note: PAAS_BENCH_DATABASE_URL / PAAS_TEST_DATABASE_URL not set; skipping billing_hour"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let t0: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    let clock = ManualClock::at(t0);
    let store = MemoryStore::new();
    let biller = rt.block_on(async {
        let ledger = Arc::new(SqlLedger::connect(&url).await.unwrap());
        let biller = Biller::new(
            Arc::new(store.clone()),
            ledger,
            Arc::new(clock.clone()),
            Policy::InArrears,
        );
        seed(&store, &biller, t0).await;
        biller
    });

    let mut group = c.benchmark_group("billing_hour_postgres");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    group.bench_function("100000_running_apps", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    clock.advance(Duration::from_secs(3600));
                    let hour = clock.now() - Duration::from_secs(3600);
                    let start = Instant::now();
                    let report = biller.bill_hour(hour).await.unwrap();
                    total += start.elapsed();
                    assert_eq!(report.charged, (ORGS * APPS_PER_ORG) as u64, "{report:?}");
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
