//! Deploy-to-converged time through the SDK against a bare `docker service create
//! --detach=false` of the same image, health check, resources and stop settings, in one run.
//!
//! Needs the engine in swarm mode and the test images:
//! `scripts/ensure-swarm.sh && scripts/build-test-images.sh &&
//!  cargo bench --features swarm --bench swarm_deploy`.
//! Without them it prints a note and measures nothing.
//!
//! Three measurements:
//! - `sdk_apply_await`: `apply` + `await_rollout` until `Converged` (includes creating the app's
//!   overlay network; the network and service removal after each run is not timed);
//! - `cli_create_detach_false`: the bare CLI as users run it; it waits for the tasks to run and
//!   then for the update monitor period (5 s by default) "to verify that tasks are stable";
//! - `cli_create_detach_false_monitor_100ms`: the same with `--update-monitor 100ms`, i.e. the
//!   CLI's own time to healthy tasks without that stability wait.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{Criterion, criterion_group, criterion_main};
use paas_core::model::{AppId, HealthCheck, OrgId};
use paas_core::ports::{Orchestrator, RolloutState, ServiceSpec};
use paas_swarm::{SwarmConfig, SwarmOrchestrator};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const IMAGE: &str = "paas-test/web:1";
const HEALTH_CMD: &str = "wget -q -O /dev/null http://127.0.0.1:8080/healthz";

fn health() -> HealthCheck {
    HealthCheck {
        command: HEALTH_CMD.into(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        retries: 2,
        start_period: Duration::from_secs(1),
    }
}

fn name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "bench-{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn spec(name: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        org: OrgId::new(),
        app: AppId::new(),
        release: 1,
        image: IMAGE.into(),
        env: BTreeMap::new(),
        replicas: 1,
        cpu_millis: 50,
        memory_mb: 32,
        health_check: health(),
        listen_port: None,
        domains: Vec::new(),
        labels: BTreeMap::new(),
    }
}

fn cli_create(name: &str, monitor: Option<&str>) -> Duration {
    let mut cmd = Command::new("docker");
    cmd.args([
        "service",
        "create",
        "--detach=false",
        "--quiet",
        "--name",
        name,
    ]);
    if let Some(m) = monitor {
        cmd.args(["--update-monitor", m]);
    }
    cmd.args([
        "--health-cmd",
        HEALTH_CMD,
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "2",
        "--health-start-period",
        "1s",
        "--init",
        "--stop-grace-period",
        "1s",
        "--limit-cpu",
        "0.05",
        "--reserve-cpu",
        "0.05",
        "--limit-memory",
        "32M",
        "--reserve-memory",
        "32M",
        IMAGE,
    ]);
    let started = Instant::now();
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
    let took = started.elapsed();
    assert!(
        status.is_ok_and(|s| s.success()),
        "docker service create {name} failed"
    );
    took
}

fn cli_remove(name: &str) {
    let _ = Command::new("docker")
        .args(["service", "rm", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    // Let the container stop before the next sample, as the SDK's remove does.
    for _ in 0..50 {
        let out = Command::new("docker")
            .args([
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.swarm.service.name={name}"),
            ])
            .output();
        if out.is_ok_and(|o| o.stdout.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let config = SwarmConfig::default()
        .with_stop_grace_period(Duration::from_secs(1))
        .with_poll_interval(Duration::from_millis(100));
    let swarm = match rt.block_on(SwarmOrchestrator::connect(config)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("note: swarm_deploy measures nothing: {e} (run scripts/ensure-swarm.sh)");
            return;
        }
    };
    if rt.block_on(swarm.docker().inspect_image(IMAGE)).is_err() {
        eprintln!(
            "note: swarm_deploy measures nothing: {IMAGE} is missing (run scripts/build-test-images.sh)"
        );
        return;
    }

    let mut group = c.benchmark_group("swarm_deploy");
    group
        .sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));

    group.bench_function("sdk_apply_await", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let swarm = swarm.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let name = name("sdk");
                    let started = Instant::now();
                    let rollout = swarm.apply(&spec(&name)).await.expect("apply");
                    let state = swarm
                        .await_rollout(&rollout, Duration::from_secs(60))
                        .await
                        .expect("await");
                    total += started.elapsed();
                    assert_eq!(state, RolloutState::Converged);
                    swarm.remove(&name).await.expect("remove");
                }
                total
            }
        });
    });
    for (id, monitor) in [
        ("cli_create_detach_false", None),
        ("cli_create_detach_false_monitor_100ms", Some("100ms")),
    ] {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let name = name("cli");
                    total += cli_create(&name, monitor);
                    cli_remove(&name);
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
