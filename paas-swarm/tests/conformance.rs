//! The Orchestrator conformance suite of paas-core, against the real engine in swarm mode.

mod common;

use common::*;
use paas_core::ports::Orchestrator;
use paas_core::testkit::orchestrator::{OrchestratorFixture, Unhealthy, run_all};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_orchestrator_passes_the_conformance_suite() {
    let Some(swarm) = swarm().await else { return };
    // A service the platform did not create, which `list` must not show.
    let foreign = unique("cf-foreign");
    let _cleanup = Cleanup(foreign.clone());
    let created = std::process::Command::new("docker")
        .args([
            "service", "create", "--detach", "--quiet", "--name", &foreign, WEB_1,
        ])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(created.success());

    let mut fixture = OrchestratorFixture::new(WEB_1, Unhealthy::HealthCheck(unhealthy()), "cf");
    fixture.health_check = healthy();
    fixture.expected_log = Some("paas-test web 1 starting".into());
    fixture.unmanaged_service = Some(foreign.clone());
    fixture.deadline = Duration::from_secs(90);

    let swarm: Arc<dyn Orchestrator> = Arc::new(swarm);
    let report = run_all(
        || {
            let s = swarm.clone();
            async move { s }
        },
        &fixture,
    )
    .await;
    report.assert_all_passed();
}
