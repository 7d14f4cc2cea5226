//! Goal: reconcile 10,000 guests and 10,000 services in under 1 s (DESIGN.md).
//!
//! 10,000 LXC apps and 10,000 container apps on the in-memory store, each with its guest or
//! service on the in-memory backends, all in agreement (the steady state a periodic reconciler
//! sees): one pass reads every record and both backend lists and compares them.
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{Criterion, criterion_group, criterion_main};
use paas_core::engine::Platform;
use paas_core::memory::{FakeOrchestrator, FakeProvisioner, MemoryIdAllocator, MemoryStore};
use paas_core::model::{
    AppId, AppStatus, Application, HealthCheck, Money, NodeName, OrgId, Organization, Placement,
    Plan, PlanId, Runtime, Vmid,
};
use paas_core::ports::{
    Guest, GuestKind, GuestRef, GuestState, MANAGED_TAG, Orchestrator, ServiceSpec, Store, app_tag,
};
use std::sync::Arc;
use std::time::Duration;

const N: u32 = 10_000;

fn app(org: OrgId, plan: PlanId, i: u32, runtime: Runtime, placement: Placement) -> Application {
    let now = chrono_now();
    Application {
        id: AppId::new(),
        org,
        name: format!("app-{i}"),
        slug: format!("app-{i}").parse().expect("slug"),
        runtime,
        plan,
        replicas: 1,
        env: Default::default(),
        domains: Vec::new(),
        health_check: None,
        listen_port: None,
        status: AppStatus::Running,
        status_reason: None,
        placement: Some(placement),
        ports: Vec::new(),
        current_release: Some(1),
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

fn chrono_now() -> paas_core::model::Timestamp {
    std::time::SystemTime::now().into()
}

async fn setup() -> Platform {
    let store = MemoryStore::new();
    let prov = FakeProvisioner::new();
    let orch = FakeOrchestrator::new();
    let org = Organization {
        id: OrgId::new(),
        name: "Big".into(),
        slug: "big".parse().expect("slug"),
        created_at: chrono_now(),
    };
    store.create_org(&org).await.expect("org");
    let plan = Plan {
        id: PlanId::new(),
        name: "p".into(),
        cpu: 1,
        memory_mb: 64,
        disk_gb: 1,
        price_per_hour: Money::ZERO,
        max_replicas: 3,
    };
    store.create_plan(&plan).await.expect("plan");
    let nodes: Vec<NodeName> = ["pve1", "pve2", "pve3"]
        .iter()
        .map(|n| n.parse().expect("node"))
        .collect();
    for i in 0..N {
        let vmid = Vmid::new(1000 + i).expect("vmid");
        let node = nodes[(i % 3) as usize].clone();
        let a = app(
            org.id,
            plan.id,
            i,
            Runtime::Lxc {
                template: "t".into(),
            },
            Placement::Guest {
                node: node.clone(),
                vmid,
                addresses: Vec::new(),
            },
        );
        prov.add_guest(Guest {
            guest: GuestRef {
                node,
                vmid,
                kind: GuestKind::Lxc,
            },
            name: a.slug.as_str().to_owned(),
            state: GuestState::Running,
            tags: vec![MANAGED_TAG.into(), app_tag(a.id)],
            template: false,
            lock: None,
            memory_mb: 64,
            cores: 1,
            data_volume: None,
        })
        .expect("guest");
        store.create_app(&a).await.expect("app");
    }
    for i in N..2 * N {
        let name = format!("app-{i}");
        let a = app(
            org.id,
            plan.id,
            i,
            Runtime::Container {
                image: "x:1".into(),
            },
            Placement::Service {
                name: name.clone(),
                id: None,
            },
        );
        orch.apply(&ServiceSpec {
            name,
            org: org.id,
            app: a.id,
            release: 1,
            image: "x:1".into(),
            env: Default::default(),
            replicas: 1,
            cpu_millis: 100,
            memory_mb: 64,
            health_check: HealthCheck::default(),
            listen_port: None,
            domains: Vec::new(),
            labels: Default::default(),
        })
        .await
        .expect("service");
        store.create_app(&a).await.expect("app");
    }
    Platform::builder()
        .store(Arc::new(store))
        .ids(Arc::new(MemoryIdAllocator::default()))
        .provisioner(Arc::new(prov))
        .orchestrator(Arc::new(orch))
        .development_mode()
        .build()
        .expect("platform")
}

fn reconcile(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let platform = rt.block_on(setup());
    let report = rt.block_on(platform.reconcile()).expect("reconcile");
    assert_eq!(report.apps_checked, 2 * N as usize);
    assert_eq!(
        (report.guests_seen, report.services_seen),
        (N as usize, N as usize)
    );
    assert!(
        report.corrected.is_empty() && report.adoptable.is_empty(),
        "setup is not in agreement"
    );
    let mut g = c.benchmark_group("reconcile");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("10k_guests_10k_services", |b| {
        b.to_async(&rt)
            .iter(|| async { platform.reconcile().await.expect("reconcile") })
    });
    g.finish();
}

criterion_group!(benches, reconcile);
criterion_main!(benches);
