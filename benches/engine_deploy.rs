//! Goal: SDK overhead per deploy, over the backend's own latency: under 0.2 ms with the memory
//! store, under 3 ms with PostgreSQL (an LXC deploy on the simulator with zero task time).
//!
//! `sim_floor` makes the provisioner calls one deploy makes (list, nodes, create, start,
//! addresses), straight to the simulator: the backend's own time. `deploy/<store>` is the
//! whole deploy through the engine (request, release, queue, lease, checkpoints, events,
//! allocations, status). Overhead = deploy - sim_floor.
//!
//! Both leave the cluster as they found it, outside the timed part (the floor destroys its
//! guest, the engine deletes its app), so every timed deploy sees the same, empty cluster:
//! otherwise `list` grows with every iteration and the floor and the engine, which run
//! different numbers of iterations, would not be measured against the same simulator.
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use paas_core::engine::{NewApp, NewPlan, Platform, StepOutcome};
use paas_core::memory::{MemoryIdAllocator, MemoryStore};
use paas_core::model::{AppId, Money, OrgId, PlanId, Runtime, Vmid};
use paas_core::ports::{GuestSource, GuestSpec, IdAllocator, Provisioner, Store, app_tag};
use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig};
use paas_proxmox::provisioner::ProxmoxProvisioner;
use paas_proxmox::sim::PveSim;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const DEBIAN: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

async fn sim() -> PveSim {
    PveSim::builder()
        .nodes(3)
        .node_memory_mb(100_000_000)
        .task_duration(Duration::ZERO)
        .ip_delay(Duration::ZERO)
        .start()
        .await
        .expect("simulator")
}

fn provisioner(sim: &PveSim) -> ProxmoxProvisioner {
    let t = sim.token();
    let cfg = ProxmoxConfig::builder(sim.http_url())
        .token(t.user, t.token_id, t.secret)
        .build()
        .expect("config");
    ProxmoxProvisioner::new(ProxmoxClient::new(cfg).expect("client"))
}

struct Bed {
    platform: Platform,
    org: OrgId,
    plan: PlanId,
    _sim: PveSim,
}

async fn bed(store: Arc<dyn Store>, ids: Arc<dyn IdAllocator>) -> Bed {
    let sim = sim().await;
    let platform = Platform::builder()
        .store(store)
        .ids(ids)
        .provisioner(Arc::new(provisioner(&sim)))
        .development_mode()
        .build()
        .expect("platform");
    let org = platform
        .create_org(&format!("bench {}", AppId::new()))
        .await
        .expect("org")
        .id;
    let plan = platform
        .create_plan(NewPlan::new(
            &format!("p-{}", AppId::new()),
            1,
            1,
            1,
            Money::ZERO,
        ))
        .await
        .expect("plan")
        .id;
    Bed {
        platform,
        org,
        plan,
        _sim: sim,
    }
}

/// `iters` deploys, each on a fresh app; only the deploy (request + execution) is timed.
async fn deploys(bed: &Bed, iters: u64) -> Duration {
    let worker = bed.platform.worker();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let app = bed
            .platform
            .create_app(
                bed.org,
                NewApp::new(
                    &format!("b{}", AppId::new().as_uuid().simple()),
                    Runtime::Lxc {
                        template: DEBIAN.into(),
                    },
                    bed.plan,
                ),
            )
            .await
            .expect("app");
        let t = Instant::now();
        bed.platform.deploy(bed.org, app.id).await.expect("deploy");
        let outcome = worker.step().await.expect("step");
        total += t.elapsed();
        assert!(
            matches!(outcome, StepOutcome::Succeeded(_)),
            "deploy did not succeed: {outcome:?}"
        );
        // Untimed: free the guest, VMID and port so the next deploy sees the same cluster.
        bed.platform.delete(bed.org, app.id).await.expect("delete");
        worker.step().await.expect("delete step");
    }
    total
}

fn deploy(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut g = c.benchmark_group("deploy");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));

    let floor_sim = rt.block_on(sim());
    let floor = provisioner(&floor_sim);
    let next = AtomicU32::new(100_000);
    g.bench_function("sim_floor", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let floor = &floor;
            let next = &next;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    floor.list().await.expect("list");
                    let nodes = floor.nodes().await.expect("nodes");
                    let vmid = Vmid::new(next.fetch_add(1, Ordering::Relaxed)).expect("vmid");
                    let spec = GuestSpec {
                        vmid,
                        node: nodes[0].name.clone(),
                        hostname: format!("b{vmid}").parse().expect("hostname"),
                        source: GuestSource::LxcTemplate {
                            template: DEBIAN.into(),
                        },
                        cores: 1,
                        memory_mb: 1,
                        disk_gb: 1,
                        tags: vec![app_tag(AppId::new())],
                        password: None,
                        ssh_public_keys: None,
                        env: Default::default(),
                        data_volume: None,
                    };
                    let g = floor.create(&spec).await.expect("create");
                    floor.start(&g).await.expect("start");
                    floor.addresses(&g).await.expect("addresses");
                    total += t.elapsed();
                    // Untimed, as the engine's delete: the next iteration sees the same cluster.
                    floor.destroy(&g).await.expect("destroy");
                }
                total
            }
        })
    });

    let memory = rt.block_on(bed(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryIdAllocator::default()),
    ));
    g.bench_with_input(BenchmarkId::new("engine", "memory"), &memory, |b, bed| {
        b.to_async(&rt).iter_custom(|iters| deploys(bed, iters))
    });

    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("PAAS_TEST_DATABASE_URL") {
        use paas_core::ports::Pools;
        use paas_core::sql::{PgConfig, PgStore};
        let pg = rt.block_on(async {
            let schema = format!("bench_{}", std::process::id());
            let store = PgStore::connect_with(PgConfig::new(url).schema(schema).expect("schema"))
                .await
                .expect("postgres");
            store.migrate().await.expect("migrate");
            let ids = store.id_allocator(Pools::default());
            bed(Arc::new(store), Arc::new(ids)).await
        });
        g.bench_with_input(BenchmarkId::new("engine", "postgres"), &pg, |b, bed| {
            b.to_async(&rt).iter_custom(|iters| deploys(bed, iters))
        });
    }
    g.finish();
}

criterion_group!(benches, deploy);
criterion_main!(benches);
