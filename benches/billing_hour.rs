//! One billing hour of 100,000 running apps, all on PostgreSQL (goal: under 10 s).
//!
//! 1,000 organisations with 100 running apps each, every wallet topped up, in a `PgStore` in
//! a schema of its own (dropped at the end), with the `SqlLedger` in that schema too. Each
//! iteration bills the next hour: 100,000 apps read page by page, 100,000 charges posted in
//! batches of 1,000, 100,000 usage records written with one `record_usages` per batch, then
//! the wallet policy for the 1,000 organisations.
//!
//! Seeding is not measured: one org, plan and app are written through the `Store` (so every
//! column is encoded as the store encodes it), then copied with `INSERT ... SELECT
//! generate_series`.
//!
//! Needs `PAAS_BENCH_DATABASE_URL` or `PAAS_TEST_DATABASE_URL` (skipped with a note without).

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, criterion_group, criterion_main};
use futures::{StreamExt, TryStreamExt};
use paas_billing::{Biller, Policy, SqlLedger};
use paas_core::memory::ManualClock;
use paas_core::model::{
    AppId, AppStatus, Application, Money, OrgId, Organization, Plan, PlanId, Runtime, Timestamp,
};
use paas_core::ports::{Clock, Store};
use paas_core::sql::{PgConfig, PgStore};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const ORGS: i64 = 1_000;
const APPS_PER_ORG: i64 = 100;

fn database_url() -> Option<String> {
    std::env::var("PAAS_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("PAAS_TEST_DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty())
}

/// Copies of the template org (ORGS - 1 more) and of the template app (APPS_PER_ORG per org,
/// replicas 1 to 3); the template app itself is then removed.
const SEED_ORGS: &str = "INSERT INTO orgs (id, name, slug, created_at_ns)
     SELECT gen_random_uuid(), 'org ' || g, 'o' || g || '-' || $2, created_at_ns
     FROM orgs, generate_series(1, $3::int8 - 1) AS g
     WHERE id = $1";
const SEED_APPS: &str = "INSERT INTO apps (id, org, name, slug, runtime, plan, replicas, env,
         domains, health_check, listen_port, status, status_reason, placement, ports,
         current_release, created_at_ns, updated_at_ns, version)
     SELECT gen_random_uuid(), o.id, 'app ' || a, 'a' || a || '-' || o.slug, t.runtime, t.plan,
         1 + a % 3, t.env, t.domains, t.health_check, t.listen_port, t.status, t.status_reason,
         t.placement, t.ports, t.current_release, t.created_at_ns, t.updated_at_ns, t.version
     FROM orgs o, generate_series(0, $2::int8 - 1) AS a, apps t
     WHERE t.id = $1";

async fn seed(store: &PgStore, biller: &Biller, t0: Timestamp, run: &str) {
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
    let org = Organization {
        id: OrgId::new(),
        name: "org 0".into(),
        slug: format!("o0-{run}").parse().unwrap(),
        created_at: t0,
    };
    store.create_org(&org).await.unwrap();
    let template = Application {
        id: AppId::new(),
        org: org.id,
        name: "template".into(),
        slug: format!("template-{run}").parse().unwrap(),
        runtime: Runtime::Container {
            image: "nginx".into(),
        },
        plan: plan.id,
        replicas: 1,
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
    store.create_app(&template).await.unwrap();
    let db = store.pool();
    sqlx::query(SEED_ORGS)
        .bind(org.id.as_uuid())
        .bind(run)
        .bind(ORGS)
        .execute(db)
        .await
        .unwrap();
    sqlx::query(SEED_APPS)
        .bind(template.id.as_uuid())
        .bind(APPS_PER_ORG)
        .execute(db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM apps WHERE id = $1")
        .bind(template.id.as_uuid())
        .execute(db)
        .await
        .unwrap();
    sqlx::query("ANALYZE").execute(db).await.unwrap();
    let orgs: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orgs")
        .fetch_all(db)
        .await
        .unwrap();
    assert_eq!(orgs.len() as i64, ORGS);
    futures::stream::iter(orgs)
        .map(|o| async move {
            biller
                .top_up(
                    OrgId::from_uuid(o),
                    Money::from_units(1_000_000).unwrap(),
                    &format!("bench-{run}-{o}"),
                )
                .await
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
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
    let run = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let schema = format!("bench_billing_{run}");
    let (store, biller) = rt.block_on(async {
        let config = PgConfig::new(url.clone())
            .max_connections(24)
            .schema(schema.clone())
            .unwrap();
        let store = PgStore::connect_with(config).await.unwrap();
        store.migrate().await.unwrap();
        let ledger = Arc::new(SqlLedger::postgres(store.pool().clone()).await.unwrap());
        let biller = Biller::new(
            Arc::new(store.clone()),
            ledger,
            Arc::new(clock.clone()),
            Policy::InArrears,
        );
        let seeding = Instant::now();
        seed(&store, &biller, t0, &run).await;
        eprintln!(
            "seeded {} apps in {:.1?}",
            ORGS * APPS_PER_ORG,
            seeding.elapsed()
        );
        (store, biller)
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

    rt.block_on(async {
        let drop = format!("DROP SCHEMA \"{schema}\" CASCADE");
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
