//! The [`Platform`] handle and the helpers every part of the engine shares.

use super::builder::PlatformBuilder;
use super::config::Tunables;
use super::secrets::Sealer;
use crate::model::{
    AppId, Application, Event, EventLevel, NewEvent, OperationId, OrgId, Plan, PlanId, Release,
};
use crate::ports::{Clock, IdAllocator, Orchestrator, Provisioner, Store};
use crate::{Error, Result};
use std::sync::Arc;

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) ids: Arc<dyn IdAllocator>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) provisioner: Option<Arc<dyn Provisioner>>,
    pub(crate) orchestrator: Option<Arc<dyn Orchestrator>>,
    pub(crate) sealer: Sealer,
    pub(crate) tunables: Tunables,
    /// Woken whenever this process finishes an operation or appends an event, so waits in the
    /// same process return at once; other processes are seen by polling.
    pub(crate) notify: tokio::sync::Notify,
    /// Records the store never changes once written (plans, releases), kept so that the hot
    /// path of an operation does not read them again.
    pub(crate) immutable: ImmutableCache,
}

/// Plans and releases already read or written by this process. Both are immutable in the
/// store (there is no update or delete of either), so a cached copy can never be stale.
#[derive(Default)]
pub(crate) struct ImmutableCache {
    plans: std::sync::Mutex<std::collections::HashMap<PlanId, Plan>>,
    releases: std::sync::Mutex<std::collections::HashMap<(AppId, u32), Release>>,
}

/// Releases kept at most; past it the cache starts over (releases are read once per
/// operation, so only the newest matter).
const RELEASES_KEPT: usize = 1024;
/// Plans kept at most (a platform has a handful; this only bounds a misuse).
const PLANS_KEPT: usize = 4096;

impl ImmutableCache {
    fn plan(&self, id: PlanId) -> Option<Plan> {
        self.plans.lock().ok()?.get(&id).cloned()
    }

    fn keep_plan(&self, plan: &Plan) {
        if let Ok(mut plans) = self.plans.lock() {
            if plans.len() >= PLANS_KEPT {
                plans.clear();
            }
            plans.insert(plan.id, plan.clone());
        }
    }

    fn release(&self, app: AppId, number: u32) -> Option<Release> {
        self.releases.lock().ok()?.get(&(app, number)).cloned()
    }

    pub(crate) fn keep_release(&self, release: &Release) {
        if let Ok(mut releases) = self.releases.lock() {
            if releases.len() >= RELEASES_KEPT {
                releases.clear();
            }
            releases.insert((release.app, release.number), release.clone());
        }
    }
}

/// The platform: what a frontend calls. Cheap to clone (one shared `Arc`).
///
/// Every call takes the acting organisation; an app of another organisation is `NotFound`.
/// Mutating calls (`deploy`, `stop`, ...) record a durable operation and return its id at
/// once; workers ([`Platform::worker`]) execute them.
///
/// ```no_run
/// # async fn demo() -> paas_core::Result<()> {
/// use paas_core::engine::{NewApp, NewPlan, Platform};
/// use paas_core::memory::{FakeProvisioner, MemoryIdAllocator, MemoryStore};
/// use paas_core::model::{Money, Runtime};
/// use std::sync::Arc;
///
/// let platform = Platform::builder()
///     .store(Arc::new(MemoryStore::default()))
///     .ids(Arc::new(MemoryIdAllocator::default()))
///     .provisioner(Arc::new(FakeProvisioner::default()))
///     .development_mode()
///     .build()?;
/// let org = platform.create_org("Acme").await?;
/// let plan = platform.create_plan(NewPlan::new("small", 1, 512, 8, Money::from_micros(10_000))).await?;
/// let app = platform
///     .create_app(org.id, NewApp::new("shop", Runtime::Lxc { template: "local:vztmpl/debian-12.tar.zst".into() }, plan.id))
///     .await?;
/// let op = platform.deploy(org.id, app.id).await?;
/// platform.worker().run_until_idle().await?;
/// let done = platform.wait(org.id, op).await?;
/// println!("{}", done.state);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Platform {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("store", &self.inner.store)
            .field("provisioner", &self.inner.provisioner.is_some())
            .field("orchestrator", &self.inner.orchestrator.is_some())
            .field("tunables", &self.inner.tunables)
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Starts building a platform.
    pub fn builder() -> PlatformBuilder {
        PlatformBuilder::default()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Platform {
            inner: Arc::new(inner),
        }
    }

    /// The tunables the platform was built with.
    pub fn tunables(&self) -> &Tunables {
        &self.inner.tunables
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub(crate) fn now(&self) -> crate::model::Timestamp {
        self.inner.clock.now()
    }

    pub(crate) fn provisioner(&self) -> Result<Arc<dyn Provisioner>> {
        self.inner.provisioner.clone().ok_or_else(|| {
            Error::invalid_input(
                "this platform has no Proxmox provisioner: build it with .provisioner(...) to \
                 run apps with the Lxc or Vm runtime",
            )
        })
    }

    pub(crate) fn orchestrator(&self) -> Result<Arc<dyn Orchestrator>> {
        self.inner.orchestrator.clone().ok_or_else(|| {
            Error::invalid_input(
                "this platform has no Swarm orchestrator: build it with .orchestrator(...) to \
                 run apps with the Container runtime",
            )
        })
    }

    /// Reads an app, changes it with `change`, and writes it back; on a version conflict
    /// (someone else wrote in between) it reads again and re-applies `change`.
    pub(crate) async fn modify_app<F>(
        &self,
        org: OrgId,
        id: AppId,
        change: F,
    ) -> Result<Application>
    where
        F: FnMut(&mut Application) -> Result<()> + Send,
    {
        self.modify_app_from(org, id, None, change).await
    }

    /// Like [`Platform::modify_app`], trying first with `known`, a copy of the app read
    /// earlier (saves a read when nobody changed it since). A stale copy costs one refused
    /// update; a change refused on the copy is tried again on a fresh read.
    pub(crate) async fn modify_app_from<F>(
        &self,
        org: OrgId,
        id: AppId,
        mut known: Option<Application>,
        mut change: F,
    ) -> Result<Application>
    where
        F: FnMut(&mut Application) -> Result<()> + Send,
    {
        let mut last = None;
        for _ in 0..16 {
            let (mut app, fresh) = match known.take() {
                Some(app) if app.org == org && app.id == id => (app, false),
                _ => (self.store().get_app(org, id).await?, true),
            };
            if let Err(e) = change(&mut app) {
                if fresh {
                    return Err(e);
                }
                continue;
            }
            app.updated_at = self.now();
            match self.store().update_app(&app).await {
                Ok(stored) => return Ok(stored),
                Err(e) if e.is_conflict() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last
            .unwrap_or_else(|| Error::conflict("the app kept changing"))
            .context(format!(
                "updating app {id}: it kept changing under us; try again"
            )))
    }

    /// A plan, from the cache when this process has read it before (plans never change).
    pub(crate) async fn plan(&self, id: PlanId) -> Result<Plan> {
        if let Some(plan) = self.inner.immutable.plan(id) {
            return Ok(plan);
        }
        let plan = self.store().get_plan(id).await?;
        self.inner.immutable.keep_plan(&plan);
        Ok(plan)
    }

    /// A release of an app, from the cache when this process wrote or read it before
    /// (releases never change).
    pub(crate) async fn release(&self, org: OrgId, app: AppId, number: u32) -> Result<Release> {
        if let Some(release) = self.inner.immutable.release(app, number)
            && release.org == org
        {
            return Ok(release);
        }
        let release = self.store().get_release(org, app, number).await?;
        self.inner.immutable.keep_release(&release);
        Ok(release)
    }

    /// The event `emit` would append, for a write that carries it with something else.
    pub(crate) fn new_event(
        &self,
        org: OrgId,
        app: AppId,
        operation: Option<OperationId>,
        level: EventLevel,
        step: &str,
        message: impl Into<String>,
    ) -> NewEvent {
        NewEvent {
            org,
            app,
            operation,
            at: self.now(),
            level,
            step: step.to_owned(),
            message: message.into(),
        }
    }

    /// Appends an event to an app's history and wakes local listeners.
    pub(crate) async fn emit(
        &self,
        org: OrgId,
        app: AppId,
        operation: Option<OperationId>,
        level: EventLevel,
        step: &str,
        message: impl Into<String>,
    ) -> Result<Event> {
        let event = self.new_event(org, app, operation, level, step, message);
        let stored = self.store().append_event(&event).await?;
        self.inner.notify.notify_waiters();
        Ok(stored)
    }

    pub(crate) fn wake(&self) {
        self.inner.notify.notify_waiters();
    }

    /// Waits for a local notification or one poll interval, whichever comes first.
    pub(crate) async fn nap(&self) {
        let notified = self.inner.notify.notified();
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(self.inner.tunables.poll_interval) => {}
        }
    }
}

/// Owner name of an app's VMID in the id allocator.
pub(crate) fn vmid_owner(app: AppId) -> String {
    format!("app:{app}/vmid")
}

/// Owner name of an app's public port in the id allocator.
pub(crate) fn port_owner(app: AppId) -> String {
    format!("app:{app}/port")
}
