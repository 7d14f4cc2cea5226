//! Goal: 200 deploys at once on a 3-node simulated cluster: no VMID collision, no lock failure
//! surfacing to the user, wall time close to the simulated backend's own floor.
//!
//! `sim_floor/200`: 200 concurrent create+start flows straight to the simulator (distinct
//! VMIDs chosen up front), the backend's own floor. `engine/200`: 200 deploys requested at
//! once and executed by workers (200 lanes), until all are running. Tasks take 10 ms.
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{Criterion, criterion_group, criterion_main};
use futures::future::join_all;
use paas_core::engine::{NewApp, NewPlan, Platform};
use paas_core::memory::{MemoryIdAllocator, MemoryStore};
use paas_core::model::{AppId, AppStatus, Money, OperationState, Runtime, Vmid};
use paas_core::ports::{GuestSource, GuestSpec, Provisioner, app_tag};
use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig};
use paas_proxmox::provisioner::ProxmoxProvisioner;
use paas_proxmox::sim::PveSim;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const N: usize = 200;
const DEBIAN: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

async fn sim() -> PveSim {
    PveSim::builder()
        .nodes(3)
        .node_memory_mb(10_000_000)
        .task_duration(Duration::from_millis(10))
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

async fn floor_once() -> Duration {
    let sim = sim().await;
    let p = provisioner(&sim);
    let nodes = p.nodes().await.expect("nodes");
    let t = Instant::now();
    join_all((0..N).map(|i| {
        let p = &p;
        let node = nodes[i % nodes.len()].name.clone();
        async move {
            let vmid = Vmid::new(1000 + i as u32).expect("vmid");
            let spec = GuestSpec {
                vmid,
                node,
                hostname: format!("c{vmid}").parse().expect("hostname"),
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
            let g = p.create(&spec).await.expect("create");
            p.start(&g).await.expect("start");
        }
    }))
    .await;
    t.elapsed()
}

async fn engine_once() -> Duration {
    let sim = sim().await;
    let platform = Platform::builder()
        .store(Arc::new(MemoryStore::new()))
        .ids(Arc::new(MemoryIdAllocator::default()))
        .provisioner(Arc::new(provisioner(&sim)))
        .development_mode()
        .worker_concurrency(N)
        .poll_interval(Duration::from_millis(5))
        .build()
        .expect("platform");
    let org = platform.create_org("Bench").await.expect("org").id;
    let plan = platform
        .create_plan(NewPlan::new("p", 1, 1, 1, Money::ZERO))
        .await
        .expect("plan")
        .id;
    let mut apps = Vec::new();
    for i in 0..N {
        let app = platform
            .create_app(
                org,
                NewApp::new(
                    &format!("c{i}"),
                    Runtime::Lxc {
                        template: DEBIAN.into(),
                    },
                    plan,
                ),
            )
            .await
            .expect("app");
        apps.push(app.id);
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = platform.worker();
    let handle = tokio::spawn(async move {
        worker
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let t = Instant::now();
    let ops = join_all(apps.iter().map(|a| platform.deploy(org, *a))).await;
    let ops: Vec<_> = ops.into_iter().map(|o| o.expect("deploy")).collect();
    for op in &ops {
        let done = platform.wait(org, *op).await.expect("wait");
        assert_eq!(done.state, OperationState::Succeeded, "{:?}", done.error);
    }
    let elapsed = t.elapsed();
    let _ = stop.send(());
    handle.await.expect("worker");
    // No VMID collision, every app running on its own guest.
    let mut vmids = HashSet::new();
    for a in &apps {
        let app = platform.app(org, *a).await.expect("app");
        assert_eq!(app.status, AppStatus::Running);
        if let Some(paas_core::model::Placement::Guest { vmid, .. }) = app.placement {
            assert!(vmids.insert(vmid), "VMID {vmid} used twice");
        }
    }
    assert_eq!(vmids.len(), N);
    elapsed
}

fn concurrency(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut g = c.benchmark_group("deploy_200_concurrent");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_millis(500));
    g.bench_function("sim_floor", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += floor_once().await;
            }
            total
        })
    });
    g.bench_function("engine", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += engine_once().await;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, concurrency);
criterion_main!(benches);
