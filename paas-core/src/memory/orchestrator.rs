//! A scriptable in-memory [`Orchestrator`]: services that roll out, converge or fail as
//! scripted, with log streams and injectable failures for engine tests.

use super::faults::Faults;
use crate::model::{Slug, Timestamp};
use crate::ports::{
    LogLine, LogOptions, Orchestrator, Rollout, RolloutState, Service, ServiceSpec,
};
use crate::{Error, Result};
use async_trait::async_trait;
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use futures::stream::BoxStream;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

const BACKEND: &str = "fake-orchestrator";

/// One method of the [`Orchestrator`] port, to script failures and read call counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrchestratorCall {
    /// [`Orchestrator::apply`].
    Apply,
    /// [`Orchestrator::rollout_status`].
    RolloutStatus,
    /// [`Orchestrator::await_rollout`] (counted and failed once per call, not per poll).
    AwaitRollout,
    /// [`Orchestrator::scale`].
    Scale,
    /// [`Orchestrator::rollback`].
    Rollback,
    /// [`Orchestrator::remove`].
    Remove,
    /// [`Orchestrator::status`].
    Status,
    /// [`Orchestrator::list`].
    List,
    /// [`Orchestrator::logs`].
    Logs,
}

/// A fake container cluster. Clones share the same services.
///
/// A rollout answers `InProgress` to the first `converge_after` polls (default 1), then its
/// final state: `Converged`, or — for a release scripted with
/// [`FakeOrchestrator::fail_release`] or an image whose name contains the failing-image
/// marker (default `"unhealthy"`) — `Failed`, or `RolledBack` (spec restored to the previous
/// one) when built with `rollback_on_failure(true)`. A rollout superseded by a later apply
/// before it settled is `Failed`. Services added with
/// [`FakeOrchestrator::add_unmanaged_service`] show in `status` but not in `list`, and the
/// fake refuses (`Conflict`) to change or remove them: the platform never touches what it did
/// not create. Each apply writes a log line `starting <image> (release <n>)`.
///
/// ```
/// use paas_core::memory::FakeOrchestrator;
/// use paas_core::ports::{Orchestrator, RolloutState};
/// # use paas_core::model::{AppId, OrgId, HealthCheck};
/// # use paas_core::ports::ServiceSpec;
/// use std::time::Duration;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let spec = ServiceSpec {
/// #     name: "shop".into(), org: OrgId::new(), app: AppId::new(), release: 1,
/// #     image: "shop:1".into(), env: Default::default(), replicas: 2, cpu_millis: 500,
/// #     memory_mb: 256, health_check: HealthCheck::default(), listen_port: None,
/// #     domains: vec![], labels: Default::default(),
/// # };
/// let swarm = FakeOrchestrator::new();
/// let rollout = swarm.apply(&spec).await?;
/// let state = swarm.await_rollout(&rollout, Duration::from_secs(1)).await?;
/// assert_eq!(state, RolloutState::Converged);
/// assert_eq!(swarm.status("shop").await?.replicas_running, 2);
/// # Ok::<(), paas_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FakeOrchestrator {
    /// Slept before every port call (outside the lock), to model a slow backend.
    latency: Duration,
    engine: Arc<Mutex<Engine>>,
}

/// Builds a [`FakeOrchestrator`] with chosen rollout behaviour and faults.
#[derive(Debug, Clone)]
pub struct FakeOrchestratorBuilder {
    converge_after: u32,
    poll_interval: Duration,
    failing_image_marker: String,
    rollback_on_failure: bool,
    fault_rate: Option<(u64, f64)>,
    latency: Duration,
}

impl Default for FakeOrchestratorBuilder {
    fn default() -> Self {
        FakeOrchestratorBuilder {
            converge_after: 1,
            poll_interval: Duration::from_millis(2),
            failing_image_marker: "unhealthy".into(),
            rollback_on_failure: false,
            fault_rate: None,
            latency: Duration::ZERO,
        }
    }
}

impl FakeOrchestratorBuilder {
    /// How many polls of a rollout answer `InProgress` before its final state (default 1).
    #[must_use]
    pub fn converge_after(mut self, polls: u32) -> Self {
        self.converge_after = polls;
        self
    }

    /// How long `await_rollout` sleeps between polls (default 2 ms).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Images whose name contains `marker` fail their rollout (default `"unhealthy"`; an empty
    /// marker turns this off).
    #[must_use]
    pub fn failing_image_marker(mut self, marker: impl Into<String>) -> Self {
        self.failing_image_marker = marker.into();
        self
    }

    /// A failing rollout ends `RolledBack` to the previous spec (as Swarm's
    /// `failure_action: rollback` does) instead of `Failed` (default false).
    #[must_use]
    pub fn rollback_on_failure(mut self, rollback: bool) -> Self {
        self.rollback_on_failure = rollback;
        self
    }

    /// Fails each call with probability `rate` (0..=1) with a retryable `Unavailable` error,
    /// drawn from a generator seeded with `seed`.
    #[must_use]
    pub fn fault_rate(mut self, seed: u64, rate: f64) -> Self {
        self.fault_rate = Some((seed, rate));
        self
    }

    /// Makes every port call take at least `latency` (slept outside the lock, so concurrent
    /// calls overlap as they would on a real backend). Default zero.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The fake.
    pub fn build(self) -> FakeOrchestrator {
        let mut faults = Faults::default();
        if let Some((seed, rate)) = self.fault_rate {
            faults.set_rate(seed, rate);
        }
        FakeOrchestrator {
            latency: self.latency,
            engine: Arc::new(Mutex::new(Engine {
                services: BTreeMap::new(),
                unmanaged: BTreeMap::new(),
                failing: HashMap::new(),
                converge_after: self.converge_after,
                poll_interval: self.poll_interval,
                marker: self.failing_image_marker,
                rollback_on_failure: self.rollback_on_failure,
                faults,
            })),
        }
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Converge,
    Fail(String),
}

#[derive(Debug)]
struct Track {
    release: u32,
    started_at: Timestamp,
    polls_left: u32,
    outcome: Outcome,
    settled: Option<RolloutState>,
}

#[derive(Debug)]
struct FakeService {
    spec: ServiceSpec,
    previous: Option<ServiceSpec>,
    rollouts: Vec<Track>,
    logs: Vec<LogLine>,
    followers: Vec<UnboundedSender<Result<LogLine>>>,
}

impl FakeService {
    /// Appends a line of output, handing it to every follower still listening.
    fn write(&mut self, line: String) {
        let line = LogLine {
            at: Some(chrono::Utc::now()),
            line,
        };
        self.followers
            .retain(|f| f.unbounded_send(Ok(line.clone())).is_ok());
        self.logs.push(line);
    }

    fn view(&self) -> Service {
        let running = match self.rollouts.last().and_then(|t| t.settled.as_ref()) {
            Some(RolloutState::Converged | RolloutState::RolledBack { .. }) => self.spec.replicas,
            _ => 0,
        };
        Service {
            name: self.spec.name.clone(),
            org: Some(self.spec.org),
            app: Some(self.spec.app),
            release: Some(self.spec.release),
            image: self.spec.image.clone(),
            replicas_desired: self.spec.replicas,
            replicas_running: running,
        }
    }
}

#[derive(Debug)]
struct Engine {
    services: BTreeMap<String, FakeService>,
    unmanaged: BTreeMap<String, Service>,
    failing: HashMap<(String, u32), String>,
    converge_after: u32,
    poll_interval: Duration,
    marker: String,
    rollback_on_failure: bool,
    faults: Faults<OrchestratorCall>,
}

fn absent(name: &str) -> Error {
    Error::not_found(format!(
        "service '{name}' does not exist: it was removed or never applied"
    ))
    .with_backend(BACKEND)
}

impl Engine {
    fn refuse_unmanaged(&self, name: &str, doing: &str) -> Result<()> {
        if self.unmanaged.contains_key(name) {
            return Err(Error::conflict(format!(
                "cannot {doing} service '{name}': the platform does not manage it"
            ))
            .with_backend(BACKEND));
        }
        Ok(())
    }

    fn outcome_for(&self, spec: &ServiceSpec) -> Outcome {
        if let Some(reason) = self.failing.get(&(spec.name.clone(), spec.release)) {
            return Outcome::Fail(reason.clone());
        }
        if !self.marker.is_empty() && spec.image.contains(&self.marker) {
            return Outcome::Fail(format!(
                "task exited: container of image '{}' failed its health check",
                spec.image
            ));
        }
        Outcome::Converge
    }

    fn new_track(&self, spec: &ServiceSpec) -> Track {
        Track {
            release: spec.release,
            started_at: chrono::Utc::now(),
            polls_left: self.converge_after,
            outcome: self.outcome_for(spec),
            settled: None,
        }
    }

    fn poll(&mut self, rollout: &Rollout) -> Result<RolloutState> {
        let rollback_on_failure = self.rollback_on_failure;
        let svc = self
            .services
            .get_mut(&rollout.service)
            .ok_or_else(|| absent(&rollout.service))?;
        let latest = svc.rollouts.len().saturating_sub(1);
        let index = svc
            .rollouts
            .iter()
            .rposition(|t| t.release == rollout.release && t.started_at == rollout.started_at)
            .or_else(|| {
                svc.rollouts
                    .iter()
                    .rposition(|t| t.release == rollout.release)
            })
            .ok_or_else(|| {
                Error::not_found(format!(
                    "service '{}' has no rollout of release {}",
                    rollout.service, rollout.release
                ))
                .with_backend(BACKEND)
            })?;
        let desired = svc.spec.replicas;
        let track = &mut svc.rollouts[index];
        if let Some(state) = &track.settled {
            return Ok(state.clone());
        }
        if index != latest {
            let state = RolloutState::Failed {
                reason: format!(
                    "superseded by a later apply before release {} converged",
                    track.release
                ),
            };
            track.settled = Some(state.clone());
            return Ok(state);
        }
        if track.polls_left > 0 {
            track.polls_left -= 1;
            return Ok(RolloutState::InProgress {
                running: 0,
                desired,
            });
        }
        let state = match track.outcome.clone() {
            Outcome::Converge => RolloutState::Converged,
            Outcome::Fail(reason) => match svc.previous.take() {
                Some(previous) if rollback_on_failure => {
                    let failed = std::mem::replace(&mut svc.spec, previous);
                    svc.previous = Some(failed);
                    RolloutState::RolledBack { reason }
                }
                previous => {
                    svc.previous = previous;
                    RolloutState::Failed { reason }
                }
            },
        };
        if let Some(track) = svc.rollouts.get_mut(index) {
            track.settled = Some(state.clone());
        }
        Ok(state)
    }
}

impl Default for FakeOrchestrator {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeOrchestrator {
    /// A fake with the default behaviour (see [`FakeOrchestratorBuilder`]).
    pub fn new() -> Self {
        FakeOrchestratorBuilder::default().build()
    }

    /// A builder to choose rollout behaviour and faults.
    pub fn builder() -> FakeOrchestratorBuilder {
        FakeOrchestratorBuilder::default()
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        // Every mutation completes before the guard drops, so a poisoned lock is still sound.
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn pause(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    /// Makes the next call of `method` fail with `error` (queued: several calls fail in turn).
    pub fn fail_next(&self, method: OrchestratorCall, error: Error) {
        self.engine().faults.push(method, error);
    }

    /// Fails each call with probability `rate` (0..=1) with a retryable `Unavailable` error,
    /// reproducibly from `seed`. A rate of 0 turns random faults off.
    #[must_use]
    pub fn with_fault_rate(self, seed: u64, rate: f64) -> Self {
        self.engine().faults.set_rate(seed, rate);
        self
    }

    /// How many times `method` was called (failed calls included).
    pub fn calls(&self, method: OrchestratorCall) -> u64 {
        self.engine().faults.calls(method)
    }

    /// Makes every rollout of `release` of `service` fail with `reason`.
    pub fn fail_release(&self, service: &str, release: u32, reason: impl Into<String>) {
        self.engine()
            .failing
            .insert((service.to_owned(), release), reason.into());
    }

    /// Adds a service the platform did not create: `status` sees it, `list` does not.
    pub fn add_unmanaged_service(&self, name: &str, image: &str, replicas: u32) {
        self.engine().unmanaged.insert(
            name.to_owned(),
            Service {
                name: name.to_owned(),
                org: None,
                app: None,
                release: None,
                image: image.to_owned(),
                replicas_desired: replicas,
                replicas_running: replicas,
            },
        );
    }

    /// Appends a line to a service's output (seen by `logs`, and by followers at once).
    /// `NotFound` if the service does not exist.
    pub fn push_log(&self, service: &str, line: impl Into<String>) -> Result<()> {
        let mut engine = self.engine();
        let svc = engine
            .services
            .get_mut(service)
            .ok_or_else(|| absent(service))?;
        svc.write(line.into());
        Ok(())
    }

    /// The spec a managed service runs now (after any rollback), if it exists.
    pub fn spec(&self, name: &str) -> Option<ServiceSpec> {
        self.engine().services.get(name).map(|s| s.spec.clone())
    }

    /// Every managed service now, by name.
    pub fn services(&self) -> Vec<Service> {
        self.engine()
            .services
            .values()
            .map(FakeService::view)
            .collect()
    }
}

#[async_trait]
impl Orchestrator for FakeOrchestrator {
    async fn apply(&self, spec: &ServiceSpec) -> Result<Rollout> {
        self.pause().await;
        let mut engine = self.engine();
        engine.faults.enter(OrchestratorCall::Apply, BACKEND)?;
        spec.name.parse::<Slug>().map_err(|e| {
            Error::invalid_input(format!("cannot apply service: {}", e.message()))
                .with_backend(BACKEND)
        })?;
        engine.refuse_unmanaged(&spec.name, "update")?;
        let track = engine.new_track(spec);
        let svc = match engine.services.get_mut(&spec.name) {
            Some(svc) => svc,
            None => engine
                .services
                .entry(spec.name.clone())
                .or_insert(FakeService {
                    spec: spec.clone(),
                    previous: None,
                    rollouts: Vec::new(),
                    logs: Vec::new(),
                    followers: Vec::new(),
                }),
        };
        let unchanged = svc.spec == *spec && !svc.rollouts.is_empty();
        if let (true, Some(last)) = (unchanged, svc.rollouts.last()) {
            // Same spec again (a retried apply): nothing rolls, the rollout is the last one.
            return Ok(Rollout {
                service: spec.name.clone(),
                release: last.release,
                started_at: last.started_at,
            });
        }
        if !svc.rollouts.is_empty() {
            svc.previous = Some(std::mem::replace(&mut svc.spec, spec.clone()));
        }
        let rollout = Rollout {
            service: spec.name.clone(),
            release: track.release,
            started_at: track.started_at,
        };
        svc.rollouts.push(track);
        // Like a real container, each new task says something when it starts.
        svc.write(format!(
            "starting {} (release {})",
            spec.image, spec.release
        ));
        Ok(rollout)
    }

    async fn rollout_status(&self, rollout: &Rollout) -> Result<RolloutState> {
        self.pause().await;
        let mut engine = self.engine();
        engine
            .faults
            .enter(OrchestratorCall::RolloutStatus, BACKEND)?;
        engine.poll(rollout)
    }

    async fn await_rollout(&self, rollout: &Rollout, deadline: Duration) -> Result<RolloutState> {
        self.pause().await;
        let interval = {
            let mut engine = self.engine();
            engine
                .faults
                .enter(OrchestratorCall::AwaitRollout, BACKEND)?;
            engine.poll_interval
        };
        let started = Instant::now();
        loop {
            let state = self.engine().poll(rollout)?;
            if state.is_final() {
                return Ok(state);
            }
            let elapsed = started.elapsed();
            if elapsed >= deadline {
                return Err(Error::timeout(format!(
                    "release {} of service '{}' did not converge within {deadline:?}; it may \
                     still: poll rollout_status or wait longer",
                    rollout.release, rollout.service
                ))
                .with_backend(BACKEND));
            }
            tokio::time::sleep(interval.min(deadline - elapsed)).await;
        }
    }

    async fn scale(&self, name: &str, replicas: u32) -> Result<()> {
        self.pause().await;
        let mut engine = self.engine();
        engine.faults.enter(OrchestratorCall::Scale, BACKEND)?;
        engine.refuse_unmanaged(name, "scale")?;
        let svc = engine.services.get_mut(name).ok_or_else(|| absent(name))?;
        svc.spec.replicas = replicas;
        Ok(())
    }

    async fn rollback(&self, name: &str) -> Result<Rollout> {
        self.pause().await;
        let mut engine = self.engine();
        engine.faults.enter(OrchestratorCall::Rollback, BACKEND)?;
        engine.refuse_unmanaged(name, "roll back")?;
        let target = {
            let svc = engine.services.get(name).ok_or_else(|| absent(name))?;
            svc.previous.clone().ok_or_else(|| {
                Error::conflict(format!(
                    "service '{name}' has no previous spec to roll back to: apply a release \
                     instead"
                ))
                .with_backend(BACKEND)
            })?
        };
        let track = engine.new_track(&target);
        let svc = engine.services.get_mut(name).ok_or_else(|| absent(name))?;
        svc.previous = Some(std::mem::replace(&mut svc.spec, target));
        let rollout = Rollout {
            service: name.to_owned(),
            release: track.release,
            started_at: track.started_at,
        };
        svc.rollouts.push(track);
        Ok(rollout)
    }

    async fn remove(&self, name: &str) -> Result<()> {
        self.pause().await;
        let mut engine = self.engine();
        engine.faults.enter(OrchestratorCall::Remove, BACKEND)?;
        engine.refuse_unmanaged(name, "remove")?;
        // Dropping the service drops its followers' senders, which ends their streams.
        engine.services.remove(name);
        engine.failing.retain(|(service, _), _| service != name);
        Ok(())
    }

    async fn status(&self, name: &str) -> Result<Service> {
        self.pause().await;
        let mut engine = self.engine();
        engine.faults.enter(OrchestratorCall::Status, BACKEND)?;
        if let Some(svc) = engine.services.get(name) {
            return Ok(svc.view());
        }
        engine
            .unmanaged
            .get(name)
            .cloned()
            .ok_or_else(|| absent(name))
    }

    async fn list(&self) -> Result<Vec<Service>> {
        self.pause().await;
        let mut engine = self.engine();
        engine.faults.enter(OrchestratorCall::List, BACKEND)?;
        Ok(engine.services.values().map(FakeService::view).collect())
    }

    async fn logs(
        &self,
        name: &str,
        options: LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        self.pause().await;
        let mut engine = self.engine();
        engine.faults.enter(OrchestratorCall::Logs, BACKEND)?;
        let svc = engine.services.get_mut(name).ok_or_else(|| absent(name))?;
        let mut lines: Vec<LogLine> = svc
            .logs
            .iter()
            .filter(|l| match (options.since, l.at) {
                (Some(since), Some(at)) => at >= since,
                _ => true,
            })
            .cloned()
            .collect();
        if let Some(tail) = options.tail {
            let keep = usize::try_from(tail).unwrap_or(usize::MAX);
            lines.drain(..lines.len().saturating_sub(keep));
        }
        let history = futures::stream::iter(lines.into_iter().map(Ok));
        if !options.follow {
            return Ok(history.boxed());
        }
        // Subscribing under the same lock as the snapshot: no line falls between the two.
        let (tx, rx) = unbounded();
        svc.followers.push(tx);
        Ok(history.chain(rx).boxed())
    }
}
