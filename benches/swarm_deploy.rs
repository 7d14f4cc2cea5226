//! Deploy-to-converged time through the SDK against a bare `docker service create
//! --detach=false` of the same image, health check, resources and stop settings, in one run.
//!
//! Needs the engine in swarm mode and the test images:
//! `scripts/ensure-swarm.sh && scripts/build-test-images.sh &&
//!  cargo bench --features swarm --bench swarm_deploy`.
//! Without them it prints a note and measures nothing.
//!
//! Three measurements:
//! - `sdk_apply_await`: `apply` + `await_rollout` until `Converged`, which includes creating
//!   the app's own overlay network (the removal after each run is not timed);
//! - `cli_create_detach_false`: the bare CLI as users run it; after the tasks run it waits the
//!   update monitor period (5 s by default) "to verify that tasks are stable";
//! - `cli_network_and_create_monitor_100ms`: the same work as the SDK does by hand: `docker
//!   network create -d overlay --attachable`, then `docker service create --detach=false
//!   --network ... --update-monitor 100ms` (so the CLI's stability wait is 100 ms).

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

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Times `docker service create --detach=false`, after `docker network create` when `network`.
fn cli_create(name: &str, network: bool) -> Duration {
    let started = Instant::now();
    let mut cmd = Command::new("docker");
    cmd.args([
        "service",
        "create",
        "--detach=false",
        "--quiet",
        "--name",
        name,
    ]);
    if network {
        let created = quiet(Command::new("docker").args([
            "network",
            "create",
            "-d",
            "overlay",
            "--attachable",
            name,
        ]));
        assert!(created, "docker network create {name} failed");
        cmd.args(["--network", name, "--update-monitor", "100ms"]);
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
    let ok = quiet(&mut cmd);
    let took = started.elapsed();
    assert!(ok, "docker service create {name} failed");
    took
}

/// Removes the CLI's services (and their networks) once their containers stopped.
fn cli_remove(names: &[String], network: bool) {
    let mut rm = Command::new("docker");
    rm.args(["service", "rm"]).args(names);
    quiet(&mut rm);
    for name in names {
        for _ in 0..100 {
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
        if network {
            for _ in 0..50 {
                if quiet(Command::new("docker").args(["network", "rm", name])) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
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

    // Cleaning up takes as long as deploying: it is done once at the end, untimed, for all.
    let made = std::sync::Mutex::new(Vec::<String>::new());
    group.bench_function("sdk_apply_await", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let swarm = swarm.clone();
            let made = &made;
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
                    made.lock().expect("names").push(name);
                }
                total
            }
        });
    });
    let names = std::mem::take(&mut *made.lock().expect("names"));
    rt.block_on(async {
        let removals = names.iter().map(|n| swarm.remove(n));
        for removed in futures::future::join_all(removals).await {
            removed.expect("remove");
        }
    });
    for (id, network) in [
        ("cli_create_detach_false", false),
        ("cli_network_and_create_monitor_100ms", true),
    ] {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let name = name("cli");
                    total += cli_create(&name, network);
                    made.lock().expect("names").push(name);
                }
                total
            });
        });
        cli_remove(&std::mem::take(&mut *made.lock().expect("names")), network);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
