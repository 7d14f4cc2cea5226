//! Shared set-up of the engine tests: a platform on the in-memory backends with a manual clock.
#![allow(dead_code)]

use paas_core::MasterKey;
use paas_core::engine::{NewApp, NewPlan, Platform, RetryPolicy, owners};
use paas_core::memory::{
    FakeOrchestrator, FakeProvisioner, ManualClock, MemoryIdAllocator, MemoryStore,
};
use paas_core::model::{
    AppId, Application, Money, Operation, OperationId, OperationState, OrgId, Plan, Runtime,
};
use paas_core::ports::{IdAllocator, POOL_PUBLIC_PORT, POOL_VMID, Provisioner, Store, app_tag};
use std::sync::Arc;
use std::time::Duration;

pub const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

pub struct Env {
    pub platform: Platform,
    pub store: MemoryStore,
    pub ids: MemoryIdAllocator,
    pub clock: ManualClock,
    pub prov: FakeProvisioner,
    pub orch: FakeOrchestrator,
    pub org: OrgId,
    pub plan: Plan,
}

pub fn retry() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_secs(1),
        max: Duration::from_secs(4),
        attempts: 3,
        jitter: 0.0,
    }
}

impl Env {
    pub async fn new() -> Env {
        Self::with_provisioner(FakeProvisioner::new()).await
    }

    pub async fn with_provisioner(prov: FakeProvisioner) -> Env {
        let store = MemoryStore::new();
        let ids = MemoryIdAllocator::default();
        let clock = ManualClock::at("2026-03-01T10:00:00Z".parse().unwrap());
        let orch = FakeOrchestrator::new();
        let platform = Platform::builder()
            .store(Arc::new(store.clone()))
            .ids(Arc::new(ids.clone()))
            .clock(Arc::new(clock.clone()))
            .provisioner(Arc::new(prov.clone()))
            .orchestrator(Arc::new(orch.clone()))
            .master_key(MasterKey::generate())
            .retry(retry())
            .ip_deadline(Duration::from_millis(200))
            .lease_duration(Duration::from_secs(30))
            .poll_interval(Duration::from_millis(10))
            .build()
            .unwrap();
        Self::finish(platform, store, ids, clock, prov, orch).await
    }

    pub async fn finish(
        platform: Platform,
        store: MemoryStore,
        ids: MemoryIdAllocator,
        clock: ManualClock,
        prov: FakeProvisioner,
        orch: FakeOrchestrator,
    ) -> Env {
        let org = platform.create_org("Acme Corp").await.unwrap().id;
        let plan = platform
            .create_plan(
                NewPlan::new("small", 1, 512, 8, Money::from_micros(10_000)).max_replicas(3),
            )
            .await
            .unwrap();
        Env {
            platform,
            store,
            ids,
            clock,
            prov,
            orch,
            org,
            plan,
        }
    }

    pub async fn lxc_app(&self, name: &str) -> Application {
        self.platform
            .create_app(
                self.org,
                NewApp::new(
                    name,
                    Runtime::Lxc {
                        template: TEMPLATE.into(),
                    },
                    self.plan.id,
                ),
            )
            .await
            .unwrap()
    }

    pub async fn container_app(&self, name: &str, image: &str) -> Application {
        self.platform
            .create_app(
                self.org,
                NewApp::new(
                    name,
                    Runtime::Container {
                        image: image.into(),
                    },
                    self.plan.id,
                ),
            )
            .await
            .unwrap()
    }

    pub async fn app(&self, id: AppId) -> Application {
        self.platform.app(self.org, id).await.unwrap()
    }

    pub async fn op(&self, id: OperationId) -> Operation {
        self.platform.operation(self.org, id).await.unwrap()
    }

    /// Runs workers until every operation has finished, moving the clock past retry backoffs.
    pub async fn settle(&self) {
        for _ in 0..200 {
            self.platform.worker().run_until_idle().await.unwrap();
            if self.store.count_unfinished_operations().await.unwrap() == 0 {
                return;
            }
            self.clock.advance(Duration::from_secs(5));
        }
        panic!("operations did not settle");
    }

    /// Requests, settles, and returns the finished operation.
    pub async fn done(&self, op: OperationId) -> Operation {
        self.settle().await;
        let op = self.op(op).await;
        assert!(op.state.is_finished());
        op
    }

    pub async fn ok(&self, op: OperationId) -> Operation {
        let op = self.done(op).await;
        assert_eq!(
            op.state,
            OperationState::Succeeded,
            "operation failed: {:?}",
            op.error
        );
        op
    }

    /// Every event of `app` so far.
    pub async fn events(&self, app: AppId) -> Vec<paas_core::model::Event> {
        self.store
            .list_events(self.org, app, 0, 1000)
            .await
            .unwrap()
    }

    /// Guests on the cluster tagged for `app`.
    pub async fn guests_of(&self, app: AppId) -> usize {
        let tag = app_tag(app);
        self.prov
            .list()
            .await
            .unwrap()
            .iter()
            .filter(|g| g.tags.contains(&tag))
            .count()
    }

    /// VMIDs and ports held for `app`.
    pub async fn held_by(&self, app: AppId) -> usize {
        self.ids.owned_by(&owners::vmid(app)).await.unwrap().len()
            + self.ids.owned_by(&owners::port(app)).await.unwrap().len()
    }

    /// Nothing of `app` left anywhere: no guest, no service, no VMID, no port.
    pub async fn assert_nothing_left(&self, app: &Application) {
        assert_eq!(self.guests_of(app.id).await, 0, "a guest was left behind");
        assert_eq!(
            self.held_by(app.id).await,
            0,
            "a VMID or port was left allocated"
        );
        assert!(
            self.orch.services().iter().all(|s| s.app != Some(app.id)),
            "a service was left behind"
        );
        let vmids = self.ids.usage(POOL_VMID).await.unwrap().used;
        let ports = self.ids.usage(POOL_PUBLIC_PORT).await.unwrap().used;
        let _ = (vmids, ports);
    }
}
