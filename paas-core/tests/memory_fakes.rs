//! The provisioner and orchestrator fakes against their conformance suites, and the fakes'
//! own scripting (injected failures, seeded faults, drift, capacity, logs).

use futures::StreamExt;
use paas_core::memory::{FakeOrchestrator, FakeProvisioner, OrchestratorCall, ProvisionerCall};
use paas_core::model::{AppId, Capacity, HealthCheck, NodeName, OrgId, Vmid};
use paas_core::ports::{
    GuestRef, GuestSource, GuestSpec, GuestState, LogOptions, Orchestrator, Provisioner,
    RolloutState, ServiceSpec, app_tag,
};
use paas_core::testkit::orchestrator::{self, OrchestratorFixture, Unhealthy};
use paas_core::testkit::provisioner::{self, ProvisionerFixture};
use paas_core::{Error, ErrorKind};
use std::sync::Arc;
use std::time::Duration;

fn node(name: &str) -> NodeName {
    name.parse().unwrap()
}

fn vmid(n: u32) -> Vmid {
    Vmid::new(n).unwrap()
}

fn provisioner_fixture() -> ProvisionerFixture {
    let mut fixture = ProvisionerFixture::new(node("pve1"), "local:vztmpl/debian-12.tar.zst");
    fixture.vm_template = Some(vmid(9000));
    fixture.unmanaged_guest = Some(vmid(500));
    fixture.deadline = Duration::from_secs(2);
    fixture
}

fn cluster_with_extras() -> FakeProvisioner {
    let cluster = FakeProvisioner::new();
    cluster
        .add_vm_template(node("pve1"), vmid(9000), "debian-template")
        .unwrap();
    cluster
        .add_unmanaged_guest(node("pve2"), vmid(500), "legacy", vec!["prod".into()])
        .unwrap();
    cluster
}

#[tokio::test]
async fn fake_provisioner_passes_the_conformance_suite() {
    let fixture = provisioner_fixture();
    let report = provisioner::run_all(
        || async { Arc::new(cluster_with_extras()) as Arc<dyn Provisioner> },
        &fixture,
    )
    .await;
    assert_eq!(report.passed.len(), 13, "{report}");
    report.assert_all_passed();
}

#[tokio::test]
async fn provisioner_suite_works_on_a_shared_cluster_and_cleans_up() {
    let cluster = cluster_with_extras();
    let before = cluster.guests();
    let shared = cluster.clone();
    let fixture = provisioner_fixture();
    for _ in 0..2 {
        let shared = shared.clone();
        let report = provisioner::run_all(
            move || {
                let shared = shared.clone();
                async move { Arc::new(shared) as Arc<dyn Provisioner> }
            },
            &fixture,
        )
        .await;
        report.assert_all_passed();
    }
    assert_eq!(cluster.guests(), before, "the suite left guests behind");
}

fn spec(id: u32, on: &str, memory_mb: u32, app: AppId) -> GuestSpec {
    GuestSpec {
        vmid: vmid(id),
        node: node(on),
        hostname: format!("g{id}").parse().unwrap(),
        source: GuestSource::LxcTemplate {
            template: "local:vztmpl/debian-12.tar.zst".into(),
        },
        cores: 2,
        memory_mb,
        disk_gb: 8,
        tags: vec![app_tag(app)],
        password: None,
        ssh_public_keys: None,
        env: Default::default(),
        data_volume: None,
    }
}

#[tokio::test]
async fn node_usage_follows_guests_and_full_nodes_refuse() {
    let cluster = FakeProvisioner::builder()
        .nodes([node("a"), node("b")])
        .capacity(Capacity {
            cpu: 8,
            memory_mb: 1024,
            disk_gb: 100,
        })
        .build();
    let nodes = cluster.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    let g = cluster
        .create(&spec(101, "a", 768, AppId::new()))
        .await
        .unwrap();
    let a = &cluster.nodes().await.unwrap()[0];
    assert_eq!((a.used.memory_mb, a.used.cpu, a.used.disk_gb), (768, 2, 8));
    assert_eq!(a.free_memory_mb(), 256);
    let full = cluster
        .create(&spec(102, "a", 512, AppId::new()))
        .await
        .unwrap_err();
    assert_eq!(full.kind(), ErrorKind::Conflict);
    assert!(!full.is_retryable());
    let nowhere = cluster
        .create(&spec(103, "zz", 1, AppId::new()))
        .await
        .unwrap_err();
    assert_eq!(nowhere.kind(), ErrorKind::NotFound);
    cluster
        .create(&spec(102, "b", 512, AppId::new()))
        .await
        .unwrap();
    cluster.destroy(&g).await.unwrap();
    assert_eq!(cluster.nodes().await.unwrap()[0].used.memory_mb, 0);
}

#[tokio::test]
async fn guests_change_state_and_report_addresses() {
    let cluster = FakeProvisioner::new();
    let g = cluster
        .create(&spec(4321, "pve2", 512, AppId::new()))
        .await
        .unwrap();
    assert!(cluster.addresses(&g).await.unwrap().is_empty());
    cluster.start(&g).await.unwrap();
    let ips = cluster.addresses(&g).await.unwrap();
    assert_eq!(ips.len(), 1);
    assert!(ips[0].to_string().starts_with("10.0."), "{ips:?}");
    // The same VMID on another node is another address: nothing there.
    let elsewhere = GuestRef {
        node: node("pve1"),
        ..g.clone()
    };
    assert!(cluster.status(&elsewhere).await.unwrap_err().is_not_found());
    cluster.destroy(&elsewhere).await.unwrap();
    assert_eq!(cluster.status(&g).await.unwrap().state, GuestState::Running);
}

#[tokio::test]
async fn scripted_failures_drift_and_locks() {
    let cluster = FakeProvisioner::new();
    let g = cluster
        .create(&spec(200, "pve1", 512, AppId::new()))
        .await
        .unwrap();
    cluster.fail_next(ProvisionerCall::Destroy, Error::backend_error("boom"));
    cluster.fail_next(ProvisionerCall::Destroy, Error::unavailable("busy"));
    assert_eq!(cluster.destroy(&g).await.unwrap_err().message(), "boom");
    assert!(cluster.destroy(&g).await.unwrap_err().is_retryable());
    assert!(cluster.set_lock(vmid(200), Some("backup".into())));
    let locked = cluster.start(&g).await.unwrap_err();
    assert!(locked.is_retryable() && locked.message().contains("locked"));
    cluster.set_lock(vmid(200), None);
    cluster.start(&g).await.unwrap();
    assert!(cluster.set_state(vmid(200), GuestState::Stopped));
    assert_eq!(cluster.status(&g).await.unwrap().state, GuestState::Stopped);
    assert!(cluster.remove_guest(vmid(200)).is_some());
    assert!(cluster.status(&g).await.unwrap_err().is_not_found());
    assert_eq!(cluster.calls(ProvisionerCall::Destroy), 2);
    assert_eq!(cluster.calls(ProvisionerCall::Start), 2);
    assert!(cluster.guests().is_empty());
}

async fn failure_pattern(seed: u64) -> Vec<bool> {
    let cluster = FakeProvisioner::new().with_fault_rate(seed, 0.3);
    let mut out = Vec::new();
    for _ in 0..64 {
        match cluster.list().await {
            Ok(_) => out.push(false),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Unavailable);
                assert!(e.is_retryable());
                out.push(true);
            }
        }
    }
    out
}

#[tokio::test]
async fn seeded_faults_are_reproducible() {
    let a = failure_pattern(42).await;
    assert_eq!(a, failure_pattern(42).await);
    assert_ne!(a, failure_pattern(43).await);
    let failed = a.iter().filter(|f| **f).count();
    assert!(
        (5..=40).contains(&failed),
        "{failed} of 64 failed at rate 0.3"
    );
}

fn orchestrator_fixture() -> OrchestratorFixture {
    let mut fixture = OrchestratorFixture::new(
        "suite/app:1",
        Unhealthy::Image("suite/unhealthy:1".into()),
        "suite",
    );
    fixture.expected_log = Some("starting suite/app:1".into());
    fixture.unmanaged_service = Some("traefik".into());
    fixture.deadline = Duration::from_secs(2);
    fixture
}

#[tokio::test]
async fn fake_orchestrator_passes_the_conformance_suite() {
    let fixture = orchestrator_fixture();
    for rollback in [false, true] {
        let report = orchestrator::run_all(
            || async move {
                let fake = FakeOrchestrator::builder()
                    .rollback_on_failure(rollback)
                    .converge_after(2)
                    .build();
                fake.add_unmanaged_service("traefik", "traefik:3", 1);
                Arc::new(fake) as Arc<dyn Orchestrator>
            },
            &fixture,
        )
        .await;
        assert_eq!(report.passed.len(), 10, "{report}");
        report.assert_all_passed();
    }
}

fn service(name: &str, release: u32, image: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        org: OrgId::new(),
        app: AppId::new(),
        release,
        image: image.into(),
        env: Default::default(),
        replicas: 2,
        cpu_millis: 500,
        memory_mb: 128,
        health_check: HealthCheck::default(),
        listen_port: None,
        domains: vec![],
        labels: Default::default(),
    }
}

#[tokio::test]
async fn rollouts_progress_by_polls_and_fail_as_scripted() {
    let fake = FakeOrchestrator::builder().converge_after(2).build();
    let r1 = fake.apply(&service("web", 1, "web:1")).await.unwrap();
    for _ in 0..2 {
        let state = fake.rollout_status(&r1).await.unwrap();
        assert_eq!(
            state,
            RolloutState::InProgress {
                running: 0,
                desired: 2
            }
        );
    }
    assert_eq!(
        fake.rollout_status(&r1).await.unwrap(),
        RolloutState::Converged
    );
    fake.fail_release("web", 2, "exit code 137");
    let r2 = fake.apply(&service("web", 2, "web:2")).await.unwrap();
    let state = fake
        .await_rollout(&r2, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        state,
        RolloutState::Failed {
            reason: "exit code 137".into()
        }
    );
    assert_eq!(fake.calls(OrchestratorCall::AwaitRollout), 1);

    let slow = FakeOrchestrator::builder().converge_after(u32::MAX).build();
    let r = slow.apply(&service("slow", 1, "web:1")).await.unwrap();
    let err = slow
        .await_rollout(&r, Duration::from_millis(30))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn failing_update_rolls_back_when_configured() {
    let fake = FakeOrchestrator::builder()
        .rollback_on_failure(true)
        .build();
    let r1 = fake.apply(&service("api", 1, "api:1")).await.unwrap();
    fake.await_rollout(&r1, Duration::from_secs(1))
        .await
        .unwrap();
    let r2 = fake
        .apply(&service("api", 2, "api:unhealthy"))
        .await
        .unwrap();
    let state = fake
        .await_rollout(&r2, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        matches!(state, RolloutState::RolledBack { .. }),
        "{state:?}"
    );
    assert_eq!(fake.spec("api").unwrap().release, 1);
    assert_eq!(fake.status("api").await.unwrap().replicas_running, 2);
}

#[tokio::test]
async fn injected_failures_and_seeded_faults() {
    let fake = FakeOrchestrator::new();
    fake.fail_next(
        OrchestratorCall::Apply,
        Error::unavailable("swarm leader lost"),
    );
    assert!(
        fake.apply(&service("a", 1, "a:1"))
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert!(fake.status("a").await.unwrap_err().is_not_found());
    fake.apply(&service("a", 1, "a:1")).await.unwrap();
    assert_eq!(fake.calls(OrchestratorCall::Apply), 2);

    let pattern = |seed| async move {
        let fake = FakeOrchestrator::new().with_fault_rate(seed, 0.5);
        let mut out = Vec::new();
        for _ in 0..32 {
            out.push(fake.list().await.is_err());
        }
        out
    };
    let a = pattern(9).await;
    assert_eq!(a, pattern(9).await);
    assert!(a.iter().any(|f| *f) && a.iter().any(|f| !*f));
}

#[tokio::test]
async fn follow_streams_lines_pushed_later_and_ends_on_remove() {
    let fake = FakeOrchestrator::new();
    fake.apply(&service("logger", 1, "log:1")).await.unwrap();
    fake.push_log("logger", "one").unwrap();
    let options = LogOptions {
        follow: true,
        tail: Some(1),
        ..LogOptions::default()
    };
    let mut stream = fake.logs("logger", options).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().line, "one");
    fake.push_log("logger", "two").unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().line, "two");
    fake.remove("logger").await.unwrap();
    assert!(stream.next().await.is_none());
    assert!(fake.push_log("logger", "three").unwrap_err().is_not_found());
}

#[tokio::test]
async fn unmanaged_services_are_seen_but_not_touched() {
    let fake = FakeOrchestrator::new();
    fake.add_unmanaged_service("portainer", "portainer:2", 1);
    assert_eq!(fake.status("portainer").await.unwrap().org, None);
    assert!(fake.list().await.unwrap().is_empty());
    assert!(fake.remove("portainer").await.unwrap_err().is_conflict());
    let err = fake
        .apply(&service("portainer", 1, "x:1"))
        .await
        .unwrap_err();
    assert!(err.is_conflict());
}

#[tokio::test]
async fn latency_delays_each_call_but_calls_overlap() {
    let latency = Duration::from_millis(100);
    let cluster = FakeProvisioner::builder().latency(latency).build();
    let started = std::time::Instant::now();
    let calls = (0..8).map(|_| cluster.list());
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= latency, "{elapsed:?}");
    // Eight serial calls would take 800 ms; overlapping ones take about one latency.
    assert!(elapsed < latency * 6, "calls did not overlap: {elapsed:?}");

    let swarm = FakeOrchestrator::builder().latency(latency).build();
    let started = std::time::Instant::now();
    swarm.list().await.unwrap();
    assert!(started.elapsed() >= latency);
}
