//! Conformance suite for the [`Orchestrator`] port.
//!
//! The real engine is shared, so every check names its services uniquely (from
//! [`OrchestratorFixture::service_prefix`]) and removes them when it ends, pass or fail.
//! Rollouts on a real cluster take seconds: the fixture's `deadline` bounds every wait.
//!
//! ```
//! use paas_core::memory::FakeOrchestrator;
//! use paas_core::ports::Orchestrator;
//! use paas_core::testkit::orchestrator::{self, OrchestratorFixture, Unhealthy};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let fixture = OrchestratorFixture::new(
//!     "suite/app:1",
//!     Unhealthy::Image("suite/unhealthy:1".into()),
//!     "suite",
//! );
//! let report = orchestrator::run_all(
//!     || async { Arc::new(FakeOrchestrator::new()) as Arc<dyn Orchestrator> },
//!     &fixture,
//! )
//! .await;
//! report.assert_all_passed();
//! # });
//! ```

use super::check::{CheckResult, Failure, OrFail, SuiteReport, SuiteRunner, expect_err};
use crate::model::{AppId, EnvKey, HealthCheck, OrgId, Secret};
use crate::ports::{LogOptions, Orchestrator, Rollout, RolloutState, ServiceSpec};
use crate::{ErrorKind, ensure, ensure_eq};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How the fixture makes a release fail.
#[derive(Clone, Debug)]
pub enum Unhealthy {
    /// An image whose tasks exit or never become healthy.
    Image(String),
    /// The fixture's good image with a health check that always fails.
    HealthCheck(HealthCheck),
}

/// What the suite needs to know about the cluster under test.
#[derive(Clone, Debug)]
pub struct OrchestratorFixture {
    /// An image that starts and stays healthy.
    pub image: String,
    /// How to make a release that fails.
    pub unhealthy: Unhealthy,
    /// Prefix of every service name the suite creates (a DNS label; keep it short).
    pub service_prefix: String,
    /// Health check of the healthy releases (default: [`HealthCheck::default`]).
    pub health_check: HealthCheck,
    /// Text the image writes to its output when it starts, if any (the logs check looks for
    /// it; without it, the check only reads the logs).
    pub expected_log: Option<String>,
    /// A service the platform did not create, known to exist (`list` must not show it).
    pub unmanaged_service: Option<String>,
    /// The longest any rollout or wait may take (default 120 s).
    pub deadline: Duration,
}

impl OrchestratorFixture {
    /// A fixture with the defaults above.
    pub fn new(
        image: impl Into<String>,
        unhealthy: Unhealthy,
        service_prefix: impl Into<String>,
    ) -> Self {
        OrchestratorFixture {
            image: image.into(),
            unhealthy,
            service_prefix: service_prefix.into(),
            health_check: HealthCheck::default(),
            expected_log: None,
            unmanaged_service: None,
            deadline: Duration::from_secs(120),
        }
    }

    fn spec(&self, c: &'static str, name: &str, release: u32) -> Result<ServiceSpec, Failure> {
        let key: EnvKey = "PAAS_SUITE_RELEASE"
            .parse()
            .or_fail(c, "making an env key")?;
        Ok(ServiceSpec {
            name: name.to_owned(),
            org: OrgId::new(),
            app: AppId::new(),
            release,
            image: self.image.clone(),
            env: BTreeMap::from([(key, Secret::new(release.to_string()))]),
            replicas: 1,
            cpu_millis: 100,
            memory_mb: 64,
            health_check: self.health_check.clone(),
            listen_port: None,
            domains: Vec::new(),
            labels: BTreeMap::new(),
        })
    }

    /// `spec` turned into a failing release.
    fn failing(&self, mut spec: ServiceSpec) -> ServiceSpec {
        match &self.unhealthy {
            Unhealthy::Image(image) => spec.image = image.clone(),
            Unhealthy::HealthCheck(check) => spec.health_check = check.clone(),
        }
        spec
    }
}

/// The services a check created, removed when it ends.
struct Made<'a> {
    o: &'a dyn Orchestrator,
    prefix: String,
    names: Vec<String>,
}

impl Made<'_> {
    /// A service name no other run uses.
    fn name(&mut self, what: &str) -> String {
        let name = format!(
            "{}-{what}-{:06x}",
            self.prefix,
            rand::random::<u32>() & 0x00ff_ffff
        );
        self.names.push(name.clone());
        name
    }

    async fn cleanup(self, c: &'static str, result: CheckResult) -> CheckResult {
        let mut left = Vec::new();
        for name in &self.names {
            // NotFound is the remove check's business; here only a service left behind counts.
            match self.o.remove(name).await {
                Err(e) if !e.is_not_found() => left.push(format!("{name} ({e})")),
                _ => {}
            }
        }
        match result {
            Ok(()) if !left.is_empty() => Err(Failure::new(
                c,
                format!("cleanup could not remove services: {}", left.join(", ")),
            )),
            other => other,
        }
    }
}

async fn apply_and_wait(
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    c: &'static str,
    spec: &ServiceSpec,
) -> Result<(Rollout, RolloutState), Failure> {
    let rollout = o.apply(spec).await.or_fail(
        c,
        format!("applying release {} of {}", spec.release, spec.name),
    )?;
    ensure_eq!(
        c,
        (rollout.service.as_str(), rollout.release),
        (spec.name.as_str(), spec.release),
        "rollout returned by apply"
    );
    let state = o.await_rollout(&rollout, fx.deadline).await.or_fail(
        c,
        format!("awaiting release {} of {}", spec.release, spec.name),
    )?;
    Ok((rollout, state))
}

/// Waits until `ok` holds of the service's status, or fails after the deadline.
async fn status_until(
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    c: &'static str,
    name: &str,
    what: &str,
    ok: impl Fn(&crate::ports::Service) -> bool,
) -> CheckResult {
    let started = Instant::now();
    loop {
        let s = o
            .status(name)
            .await
            .or_fail(c, format!("status of {name}"))?;
        if ok(&s) {
            return Ok(());
        }
        ensure!(
            c,
            started.elapsed() < fx.deadline,
            "{what} did not happen within {:?}: {s:?}",
            fx.deadline
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

macro_rules! checks {
    ($($(#[$doc:meta])* $name:ident => $body:ident;)*) => {
        /// Runs every check, each on an orchestrator from `fresh()` (which may return the same
        /// shared engine every time: checks use unique names and clean up).
        pub async fn run_all<F, Fut>(mut fresh: F, fixture: &OrchestratorFixture) -> SuiteReport
        where
            F: FnMut() -> Fut,
            Fut: Future<Output = Arc<dyn Orchestrator>>,
        {
            let mut runner = SuiteRunner::new().with_limit(fixture.deadline.saturating_mul(4));
            $(
                let o = fresh().await;
                runner.run(stringify!($name), $name(&*o, fixture)).await;
            )*
            runner.finish()
        }

        $(
            $(#[$doc])*
            pub async fn $name(o: &dyn Orchestrator, fixture: &OrchestratorFixture) -> CheckResult {
                const C: &str = stringify!($name);
                let mut made = Made { o, prefix: fixture.service_prefix.clone(), names: Vec::new() };
                let result = $body(C, o, fixture, &mut made).await;
                made.cleanup(C, result).await
            }
        )*
    };
}

checks! {
    /// `apply` of a new service converges, and `status` then shows the release running.
    apply_converges => apply_converges_;
    /// Applying a new release to a running service converges on it.
    new_release_converges => new_release_converges_;
    /// A first release that cannot become healthy ends `Failed` (or `RolledBack`) with a
    /// reason, never `Converged`.
    failing_first_release_fails => failing_first_release_fails_;
    /// A failing update ends `Failed` or `RolledBack` with a reason; after a rollback the
    /// previous release is what runs.
    failing_update_fails_or_rolls_back => failing_update_fails_or_rolls_back_;
    /// `rollback` returns to the previous release, and converges.
    rollback_returns_to_previous_release => rollback_returns_to_previous_release_;
    /// `scale` changes the replicas wanted, and they run.
    scale_changes_replicas => scale_changes_replicas_;
    /// `remove` deletes a service; `remove` of an absent service is `Ok`.
    remove_is_idempotent => remove_is_idempotent_;
    /// `status`, `scale`, `rollback` and `logs` of an absent service are `NotFound`.
    absent_service_is_not_found => absent_service_is_not_found_;
    /// `list` shows the managed services with their labels, and no unmanaged one.
    list_shows_only_managed => list_shows_only_managed_;
    /// `logs` returns the service's output; without `follow` the stream ends.
    logs_return_output => logs_return_output_;
}

async fn apply_converges_(
    c: &'static str,
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let name = made.name("apply");
    let spec = fx.spec(c, &name, 1)?;
    let (_, state) = apply_and_wait(o, fx, c, &spec).await?;
    ensure_eq!(
        c,
        state,
        RolloutState::Converged,
        "final state of a healthy release"
    );
    let s = o
        .status(&name)
        .await
        .or_fail(c, "status after converging")?;
    ensure_eq!(
        c,
        (s.name.as_str(), s.org, s.app, s.release),
        (name.as_str(), Some(spec.org), Some(spec.app), Some(1)),
        "service identity"
    );
    ensure_eq!(c, s.image, spec.image, "image");
    ensure_eq!(c, s.replicas_desired, 1, "replicas wanted");
    status_until(o, fx, c, &name, "one replica running", |s| {
        s.replicas_running == 1
    })
    .await
}

async fn new_release_converges_(
    c: &'static str,
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let name = made.name("update");
    let first = fx.spec(c, &name, 1)?;
    apply_and_wait(o, fx, c, &first).await?;
    let second = ServiceSpec {
        release: 2,
        env: fx.spec(c, &name, 2)?.env,
        ..first.clone()
    };
    let (_, state) = apply_and_wait(o, fx, c, &second).await?;
    ensure_eq!(
        c,
        state,
        RolloutState::Converged,
        "final state of release 2"
    );
    ensure_eq!(
        c,
        o.status(&name).await.or_fail(c, "status")?.release,
        Some(2),
        "release running"
    );
    Ok(())
}

fn is_failure_with_reason(state: &RolloutState) -> bool {
    match state {
        RolloutState::Failed { reason } | RolloutState::RolledBack { reason } => {
            !reason.trim().is_empty()
        }
        _ => false,
    }
}

async fn failing_first_release_fails_(
    c: &'static str,
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let name = made.name("fail1");
    let spec = fx.failing(fx.spec(c, &name, 1)?);
    let (_, state) = apply_and_wait(o, fx, c, &spec).await?;
    ensure!(
        c,
        is_failure_with_reason(&state),
        "a failing first release ended {state:?}"
    );
    Ok(())
}

async fn failing_update_fails_or_rolls_back_(
    c: &'static str,
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let name = made.name("fail2");
    let first = fx.spec(c, &name, 1)?;
    apply_and_wait(o, fx, c, &first).await?;
    let second = fx.failing(ServiceSpec {
        release: 2,
        ..first.clone()
    });
    let (_, state) = apply_and_wait(o, fx, c, &second).await?;
    ensure!(
        c,
        is_failure_with_reason(&state),
        "a failing update ended {state:?}"
    );
    if matches!(state, RolloutState::RolledBack { .. }) {
        let s = o
            .status(&name)
            .await
            .or_fail(c, "status after the rollback")?;
        ensure_eq!(
            c,
            (s.release, s.image),
            (Some(1), first.image.clone()),
            "release running after the rollback"
        );
    }
    Ok(())
}

async fn rollback_returns_to_previous_release_(
    c: &'static str,
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let name = made.name("rollback");
    let first = fx.spec(c, &name, 1)?;
    apply_and_wait(o, fx, c, &first).await?;
    apply_and_wait(
        o,
        fx,
        c,
        &ServiceSpec {
            release: 2,
            ..first.clone()
        },
    )
    .await?;
    let rollout = o.rollback(&name).await.or_fail(c, "rolling back")?;
    ensure_eq!(
        c,
        (rollout.service.as_str(), rollout.release),
        (name.as_str(), 1),
        "rollout of the rollback"
    );
    let state = o
        .await_rollout(&rollout, fx.deadline)
        .await
        .or_fail(c, "awaiting the rollback")?;
    ensure_eq!(
        c,
        state,
        RolloutState::Converged,
        "final state of the rollback"
    );
    ensure_eq!(
        c,
        o.status(&name).await.or_fail(c, "status")?.release,
        Some(1),
        "release after the rollback"
    );
    Ok(())
}

async fn scale_changes_replicas_(
    c: &'static str,
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let name = made.name("scale");
    apply_and_wait(o, fx, c, &fx.spec(c, &name, 1)?).await?;
    o.scale(&name, 2).await.or_fail(c, "scaling to 2")?;
    ensure_eq!(
        c,
        o.status(&name).await.or_fail(c, "status")?.replicas_desired,
        2,
        "replicas wanted after scaling"
    );
    status_until(o, fx, c, &name, "two replicas running", |s| {
        s.replicas_running == 2
    })
    .await?;
    o.scale(&name, 1).await.or_fail(c, "scaling back to 1")?;
    status_until(o, fx, c, &name, "one replica running", |s| {
        s.replicas_desired == 1 && s.replicas_running == 1
    })
    .await
}

async fn remove_is_idempotent_(
    c: &'static str,
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let name = made.name("remove");
    apply_and_wait(o, fx, c, &fx.spec(c, &name, 1)?).await?;
    o.remove(&name).await.or_fail(c, "removing")?;
    expect_err(
        c,
        "status of a removed service",
        o.status(&name).await,
        ErrorKind::NotFound,
    )?;
    o.remove(&name)
        .await
        .or_fail(c, "removing a removed service")?;
    let never = made.name("never");
    o.remove(&never)
        .await
        .or_fail(c, "removing a service that never existed")?;
    let listed = o.list().await.or_fail(c, "listing")?;
    ensure!(
        c,
        !listed.iter().any(|s| s.name == name),
        "a removed service is still listed"
    );
    Ok(())
}

async fn absent_service_is_not_found_(
    c: &'static str,
    o: &dyn Orchestrator,
    _: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let name = made.name("absent");
    expect_err(
        c,
        "status of an absent service",
        o.status(&name).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        c,
        "scale of an absent service",
        o.scale(&name, 2).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        c,
        "rollback of an absent service",
        o.rollback(&name).await,
        ErrorKind::NotFound,
    )?;
    let logs = o.logs(&name, LogOptions::default()).await.map(|_| ());
    expect_err(c, "logs of an absent service", logs, ErrorKind::NotFound)?;
    Ok(())
}

async fn list_shows_only_managed_(
    c: &'static str,
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let (a, b) = (made.name("list-a"), made.name("list-b"));
    let specs = [fx.spec(c, &a, 1)?, fx.spec(c, &b, 3)?];
    for spec in &specs {
        o.apply(spec)
            .await
            .or_fail(c, format!("applying {}", spec.name))?;
    }
    let listed = o.list().await.or_fail(c, "listing")?;
    for spec in &specs {
        let Some(s) = listed.iter().find(|s| s.name == spec.name) else {
            return Err(Failure::new(
                c,
                format!("managed service {} is not listed", spec.name),
            ));
        };
        ensure_eq!(
            c,
            (s.org, s.app, s.release),
            (Some(spec.org), Some(spec.app), Some(spec.release)),
            "labels of {}",
            spec.name
        );
    }
    ensure!(
        c,
        listed.iter().all(|s| s.org.is_some() && s.app.is_some()),
        "list shows a service without platform labels"
    );
    if let Some(other) = &fx.unmanaged_service {
        ensure!(
            c,
            !listed.iter().any(|s| &s.name == other),
            "list shows unmanaged service {other}"
        );
    }
    Ok(())
}

async fn logs_return_output_(
    c: &'static str,
    o: &dyn Orchestrator,
    fx: &OrchestratorFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let name = made.name("logs");
    apply_and_wait(o, fx, c, &fx.spec(c, &name, 1)?).await?;
    let started = Instant::now();
    loop {
        let stream = o
            .logs(&name, LogOptions::default())
            .await
            .or_fail(c, "reading logs")?;
        let Ok(lines) = tokio::time::timeout(fx.deadline, stream.collect::<Vec<_>>()).await else {
            return Err(Failure::new(c, "a logs stream without follow did not end"));
        };
        let mut text = Vec::new();
        for line in lines {
            text.push(line.or_fail(c, "reading a log line")?.line);
        }
        let Some(expected) = &fx.expected_log else {
            break;
        };
        if text.iter().any(|l| l.contains(expected.as_str())) {
            break;
        }
        ensure!(
            c,
            started.elapsed() < fx.deadline,
            "no log line contains {expected:?} within {:?}: {text:?}",
            fx.deadline
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Some(expected) = &fx.expected_log {
        let options = LogOptions {
            follow: true,
            ..LogOptions::default()
        };
        let mut stream = o.logs(&name, options).await.or_fail(c, "following logs")?;
        let found = tokio::time::timeout(fx.deadline, async {
            while let Some(line) = stream.next().await {
                if line.is_ok_and(|l| l.line.contains(expected.as_str())) {
                    return true;
                }
            }
            false
        })
        .await;
        ensure_eq!(c, found, Ok(true), "following the logs finds {expected:?}");
    }
    Ok(())
}
