//! Workers that die mid-operation, lost leases, and resumption from the checkpoint.

mod engine_support;

use async_trait::async_trait;
use engine_support::Env;
use paas_core::engine::{Platform, StepOutcome};
use paas_core::memory::{
    FakeOrchestrator, FakeProvisioner, ManualClock, MemoryIdAllocator, MemoryStore, ProvisionerCall,
};
use paas_core::model::{AppStatus, Node, OperationState};
use paas_core::ports::{Guest, GuestRef, GuestSpec, Provisioner, StopMode};
use paas_core::{MasterKey, Result};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A provisioner whose `start` hangs while the gate is closed: a worker stuck (or dead) in the
/// middle of a deploy.
#[derive(Debug, Clone)]
struct Gated {
    inner: FakeProvisioner,
    closed: Arc<AtomicBool>,
    opened: Arc<tokio::sync::Notify>,
}

impl Gated {
    fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
        self.opened.notify_waiters();
    }
}

#[async_trait]
impl Provisioner for Gated {
    async fn nodes(&self) -> Result<Vec<Node>> {
        self.inner.nodes().await
    }
    async fn create(&self, spec: &GuestSpec) -> Result<GuestRef> {
        self.inner.create(spec).await
    }
    async fn start(&self, guest: &GuestRef) -> Result<()> {
        while self.closed.load(Ordering::SeqCst) {
            let wait = self.opened.notified();
            if !self.closed.load(Ordering::SeqCst) {
                break;
            }
            wait.await;
        }
        self.inner.start(guest).await
    }
    async fn stop(&self, guest: &GuestRef, mode: StopMode) -> Result<()> {
        self.inner.stop(guest, mode).await
    }
    async fn destroy(&self, guest: &GuestRef) -> Result<()> {
        self.inner.destroy(guest).await
    }
    async fn status(&self, guest: &GuestRef) -> Result<Guest> {
        self.inner.status(guest).await
    }
    async fn addresses(&self, guest: &GuestRef) -> Result<Vec<IpAddr>> {
        self.inner.addresses(guest).await
    }
    async fn list(&self) -> Result<Vec<Guest>> {
        self.inner.list().await
    }
    async fn move_data_volume(&self, from: &GuestRef, to: &GuestRef) -> Result<()> {
        self.inner.move_data_volume(from, to).await
    }
}

async fn gated_env(lease: Duration) -> (Env, Gated) {
    let fake = FakeProvisioner::new();
    let gated = Gated {
        inner: fake.clone(),
        closed: Arc::new(AtomicBool::new(true)),
        opened: Arc::new(tokio::sync::Notify::new()),
    };
    let store = MemoryStore::new();
    let ids = MemoryIdAllocator::default();
    let clock = ManualClock::at("2026-03-01T10:00:00Z".parse().unwrap());
    let orch = FakeOrchestrator::new();
    let platform = Platform::builder()
        .store(Arc::new(store.clone()))
        .ids(Arc::new(ids.clone()))
        .clock(Arc::new(clock.clone()))
        .provisioner(Arc::new(gated.clone()))
        .master_key(MasterKey::generate())
        .retry(engine_support::retry())
        .ip_deadline(Duration::from_millis(200))
        .lease_duration(lease)
        .build()
        .unwrap();
    (
        Env::finish(platform, store, ids, clock, fake, orch).await,
        gated,
    )
}

#[tokio::test]
async fn a_dead_workers_operation_is_resumed_from_its_checkpoint() {
    let (env, gate) = gated_env(Duration::from_secs(30)).await;
    let app = env.lxc_app("shop").await;
    let op = env.platform.deploy(env.org, app.id).await.unwrap();

    // Worker A gets as far as starting the guest, then dies (its future is dropped).
    let a = env.platform.worker();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), a.step())
            .await
            .is_err()
    );
    let stuck = env.op(op).await;
    assert_eq!(stuck.state, OperationState::Running);
    assert!(
        stuck.checkpoint["done"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "create-guest")
    );
    assert_eq!(env.guests_of(app.id).await, 1);

    // While A's lease holds, nobody else takes the operation.
    let b = env.platform.worker();
    assert_eq!(b.step().await.unwrap(), StepOutcome::Idle);

    // The lease expires; B resumes after the last checkpoint: no second guest, no new VMID.
    env.clock.advance(Duration::from_secs(31));
    gate.open();
    let outcome = b.step().await.unwrap();
    assert!(matches!(outcome, StepOutcome::Succeeded(_)), "{outcome:?}");
    let done = env.op(op).await;
    assert_eq!(done.state, OperationState::Succeeded);
    assert_eq!(done.attempts, 2);
    assert_eq!(
        env.prov.calls(ProvisionerCall::Create),
        1,
        "the resumed deploy created again"
    );
    assert_eq!(env.guests_of(app.id).await, 1);
    assert_eq!(env.held_by(app.id).await, 2);
    assert_eq!(env.app(app.id).await.status, AppStatus::Running);
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_stops_without_writing() {
    let (env, gate) = gated_env(Duration::from_secs(30)).await;
    let app = env.lxc_app("shop").await;
    let op = env.platform.deploy(env.org, app.id).await.unwrap();

    // Slow worker A is stuck in `start` (alive, but not heartbeating fast enough).
    let a = env.platform.worker();
    let slow = tokio::spawn(async move { a.step().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(env.op(op).await.state, OperationState::Running);

    // Its lease expires; B takes over and finishes (B's start passes the gate once opened).
    env.clock.advance(Duration::from_secs(31));
    let b = env.platform.worker();
    gate.open();
    assert!(matches!(b.step().await.unwrap(), StepOutcome::Succeeded(_)));
    let after_b = env.op(op).await;

    // A wakes up, finds the lease gone at its next write, and stops.
    let outcome = slow.await.unwrap().unwrap();
    assert!(matches!(outcome, StepOutcome::LeaseLost(_)), "{outcome:?}");
    let after_a = env.op(op).await;
    assert_eq!(after_a.state, OperationState::Succeeded);
    assert_eq!(after_a.checkpoint, after_b.checkpoint);
    assert_eq!(env.guests_of(app.id).await, 1);
}

#[tokio::test]
async fn heartbeats_keep_a_long_step_leased() {
    // A real-time lease of 300 ms, renewed every 100 ms, outlives a 1 s step.
    let (env, gate) = gated_env(Duration::from_millis(300)).await;
    let app = env.lxc_app("shop").await;
    let op = env.platform.deploy(env.org, app.id).await.unwrap();
    let a = env.platform.worker();
    let running = tokio::spawn(async move { a.step().await });
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        env.clock.advance(Duration::from_millis(100));
        // Nobody else can take it while A heartbeats.
        assert_eq!(
            env.platform.worker().step().await.unwrap(),
            StepOutcome::Idle
        );
    }
    gate.open();
    assert!(matches!(
        running.await.unwrap().unwrap(),
        StepOutcome::Succeeded(_)
    ));
    assert_eq!(env.op(op).await.attempts, 1);
}

#[tokio::test]
async fn many_workers_share_the_queue() {
    let env = Env::new().await;
    let mut apps = Vec::new();
    for i in 0..12 {
        let app = env.lxc_app(&format!("app-{i}")).await;
        env.platform.deploy(env.org, app.id).await.unwrap();
        env.platform.stop(env.org, app.id).await.unwrap();
        apps.push(app);
    }
    let workers: Vec<_> = (0..4).map(|_| env.platform.worker()).collect();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handles: Vec<_> = workers
        .into_iter()
        .map(|w| {
            let mut rx = rx.clone();
            tokio::spawn(async move {
                w.run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
            })
        })
        .collect();
    for _ in 0..500 {
        if env.platform.overview().await.unwrap().unfinished_operations == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tx.send(true).unwrap();
    for h in handles {
        h.await.unwrap();
    }
    for app in &apps {
        assert_eq!(env.app(app.id).await.status, AppStatus::Stopped);
        assert_eq!(env.guests_of(app.id).await, 1);
    }
    let vmids: std::collections::HashSet<_> =
        env.prov.guests().iter().map(|g| g.guest.vmid).collect();
    assert_eq!(vmids.len(), 12);
}
