//! Shared helpers of the tests on the real engine.
//!
//! Run them with the engine in swarm mode and the test images built:
//! `scripts/ensure-swarm.sh && scripts/build-test-images.sh && cargo test -p paas-swarm`.
//! Without Docker or swarm mode a test prints a note and passes, unless `CI=true`: then it fails.
#![allow(dead_code)]

use bollard::query_parameters::ListTasksOptionsBuilder;
use paas_core::model::{AppId, HealthCheck, OrgId, Secret};
use paas_core::ports::{Orchestrator, RolloutState, ServiceSpec};
use paas_swarm::{SwarmConfig, SwarmOrchestrator};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Test images (see scripts/build-test-images.sh).
pub const WEB_1: &str = "paas-test/web:1";
pub const WEB_2: &str = "paas-test/web:2";

/// The settings tests use: quick stops and restarts, frequent polls.
pub fn test_config() -> SwarmConfig {
    SwarmConfig::default()
        .with_stop_grace_period(Duration::from_secs(1))
        .with_restart_delay(Duration::from_secs(1))
        .with_poll_interval(Duration::from_millis(100))
}

/// A connected orchestrator, or `None` (after a printed note) when the engine is unusable
/// here; under `CI=true` an unusable engine fails the test instead.
pub async fn swarm_with(config: SwarmConfig) -> Option<SwarmOrchestrator> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let skip = |why: String| {
        assert!(!ci, "CI=true and the swarm tests cannot run: {why}");
        eprintln!("note: skipping a swarm test: {why}");
        None
    };
    let swarm = match SwarmOrchestrator::connect(config).await {
        Ok(s) => s,
        Err(e) => return skip(format!("{e} (run scripts/ensure-swarm.sh)")),
    };
    for image in [WEB_1, WEB_2] {
        if swarm.docker().inspect_image(image).await.is_err() {
            return skip(format!(
                "image {image} is missing (run scripts/build-test-images.sh)"
            ));
        }
    }
    Some(swarm)
}

/// [`swarm_with`] the [`test_config`].
pub async fn swarm() -> Option<SwarmOrchestrator> {
    swarm_with(test_config()).await
}

/// A service name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "t-{prefix}-{:x}{:x}{n}",
        std::process::id() % 4096,
        nanos % 65536
    )
}

/// A health check that passes once httpd answers.
pub fn healthy() -> HealthCheck {
    HealthCheck {
        command: "wget -q -O /dev/null http://127.0.0.1:8080/healthz".into(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        retries: 2,
        start_period: Duration::from_secs(1),
    }
}

/// A health check that never passes.
pub fn unhealthy() -> HealthCheck {
    HealthCheck {
        command: "wget -q -O /dev/null http://127.0.0.1:8080/does-not-exist".into(),
        ..healthy()
    }
}

/// The web app, `replicas` of `image`, as release `release`.
pub fn web(name: &str, release: u32, image: &str, replicas: u32) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        org: OrgId::new(),
        app: AppId::new(),
        release,
        image: image.to_owned(),
        env: BTreeMap::from([(
            "GREETING".parse().unwrap(),
            Secret::new(format!("hello from {name}")),
        )]),
        replicas,
        cpu_millis: 50,
        memory_mb: 32,
        health_check: healthy(),
        listen_port: Some(8080u16.try_into().unwrap()),
        domains: Vec::new(),
        labels: BTreeMap::new(),
    }
}

/// Deadline for a rollout in tests.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// Applies and waits; panics unless it converged.
pub async fn deploy(swarm: &SwarmOrchestrator, spec: &ServiceSpec) {
    let rollout = swarm.apply(spec).await.unwrap();
    let state = swarm.await_rollout(&rollout, DEADLINE).await.unwrap();
    assert_eq!(
        state,
        RolloutState::Converged,
        "release {} of {}",
        spec.release,
        spec.name
    );
}

/// Removes the service, its network and containers with the docker CLI when dropped, so a
/// failing test leaves nothing behind (the test's own `remove` is the one under test).
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let name = &self.0;
        let run = |args: &[&str]| {
            let _ = std::process::Command::new("docker")
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        };
        run(&["service", "rm", name]);
        for _ in 0..40 {
            let out = std::process::Command::new("docker")
                .args(["network", "rm", &format!("paas-{name}")])
                .output();
            match out {
                Ok(o)
                    if o.status.success()
                        || String::from_utf8_lossy(&o.stderr).contains("No such network")
                        || String::from_utf8_lossy(&o.stderr).contains("not found") =>
                {
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
        if let Ok(o) = std::process::Command::new("docker")
            .args([
                "secret",
                "ls",
                "-q",
                "--filter",
                &format!("label=paas.service={name}"),
            ])
            .output()
        {
            for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                run(&["secret", "rm", id]);
            }
        }
    }
}

/// A service's tasks that the engine still wants running: (release label, container id).
pub async fn running_tasks(
    swarm: &SwarmOrchestrator,
    name: &str,
) -> Vec<(Option<u32>, Option<String>)> {
    let filters = HashMap::from([("service", vec![name]), ("desired-state", vec!["running"])]);
    let tasks = swarm
        .docker()
        .list_tasks(Some(
            ListTasksOptionsBuilder::default().filters(&filters).build(),
        ))
        .await
        .unwrap();
    tasks
        .into_iter()
        .filter(|t| {
            t.status.as_ref().and_then(|s| s.state) == Some(bollard::models::TaskState::RUNNING)
        })
        .map(|t| {
            let release = t
                .spec
                .as_ref()
                .and_then(|s| s.container_spec.as_ref())
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get("paas.release"))
                .and_then(|r| r.parse().ok());
            let container = t
                .status
                .and_then(|s| s.container_status)
                .and_then(|c| c.container_id);
            (release, container)
        })
        .collect()
}

/// What the web app in `container` serves at `/` (its version line).
pub fn fetch_index(container: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "exec",
            container,
            "wget",
            "-q",
            "-O",
            "-",
            "http://127.0.0.1:8080/",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `check` every 200 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
