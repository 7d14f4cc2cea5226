//! The Swarm orchestrator on the real engine: deploy, update, failed release, scale, remove,
//! logs, routing labels. See `common` for how to run them.

mod common;

use bollard::query_parameters::{InspectServiceOptions, ListSecretsOptionsBuilder};
use common::*;
use futures::StreamExt;
use paas_core::ErrorKind;
use paas_core::model::Secret;
use paas_core::ports::{LogOptions, Orchestrator, RolloutState};
use paas_swarm::{EnvDelivery, SwarmOrchestrator};
use std::collections::HashMap;
use std::time::Duration;

async fn secret_names(swarm: &SwarmOrchestrator, name: &str) -> Vec<String> {
    let label = format!("paas.service={name}");
    let filters = HashMap::from([("label", vec![label.as_str()])]);
    let mut names: Vec<String> = swarm
        .docker()
        .list_secrets(Some(
            ListSecretsOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|s| s.spec?.name)
        .collect();
    names.sort();
    names
}

async fn network_exists(swarm: &SwarmOrchestrator, name: &str) -> bool {
    swarm
        .docker()
        .inspect_network(
            &format!("paas-{name}"),
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .is_ok()
}

#[tokio::test]
async fn deploy_converges_with_healthy_replicas_on_its_own_network() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("deploy");
    let _cleanup = Cleanup(name.clone());
    let spec = web(&name, 1, WEB_1, 2);
    deploy(&swarm, &spec).await;

    let running = running_tasks(&swarm, &name).await;
    assert_eq!(running.len(), 2, "{running:?}");
    assert!(running.iter().all(|(r, _)| *r == Some(1)));
    let container = running[0].1.clone().unwrap();
    assert_eq!(fetch_index(&container), "paas-test web 1");

    let status = swarm.status(&name).await.unwrap();
    assert_eq!(status.release, Some(1));
    assert_eq!(status.image, WEB_1);
    assert_eq!(status.org, Some(spec.org));
    assert_eq!(status.app, Some(spec.app));
    assert_eq!(status.replicas_desired, 2);
    assert_eq!(status.replicas_running, 2);
    assert!(swarm.list().await.unwrap().iter().any(|s| s.name == name));

    let net = swarm
        .docker()
        .inspect_network(
            &format!("paas-{name}"),
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    assert_eq!(net.driver.as_deref(), Some("overlay"));
    assert_eq!(net.attachable, Some(true));
    let subnet: paas_swarm::Ipv4Cidr = net.ipam.unwrap().config.unwrap()[0]
        .subnet
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        "10.128.0.0/9"
            .parse::<paas_swarm::Ipv4Cidr>()
            .unwrap()
            .overlaps(subnet)
    );
    assert_eq!(subnet.prefix(), 24);

    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn update_to_a_new_release_converges_and_old_tasks_are_gone() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("update");
    let _cleanup = Cleanup(name.clone());
    let mut spec = web(&name, 1, WEB_1, 1);
    deploy(&swarm, &spec).await;

    spec.release = 2;
    spec.image = WEB_2.into();
    deploy(&swarm, &spec).await;
    let running = running_tasks(&swarm, &name).await;
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0].0, Some(2));
    assert_eq!(
        fetch_index(running[0].1.as_deref().unwrap()),
        "paas-test web 2"
    );
    assert_eq!(swarm.status(&name).await.unwrap().release, Some(2));

    // The same release again still rolls: a new task replaces the old one.
    let before = running[0].1.clone();
    deploy(&swarm, &spec).await;
    let after = running_tasks(&swarm, &name).await;
    assert_eq!(after.len(), 1);
    assert_ne!(
        after[0].1, before,
        "a redeploy of the same release must replace the task"
    );

    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn a_release_whose_health_check_fails_is_reported_and_the_previous_keeps_serving() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("unhealthy");
    let _cleanup = Cleanup(name.clone());
    let mut spec = web(&name, 1, WEB_1, 1);
    deploy(&swarm, &spec).await;

    spec.release = 2;
    spec.image = WEB_2.into();
    spec.health_check = unhealthy();
    let rollout = swarm.apply(&spec).await.unwrap();
    let state = swarm.await_rollout(&rollout, DEADLINE).await.unwrap();
    let reason = match &state {
        RolloutState::Failed { reason } | RolloutState::RolledBack { reason } => reason.clone(),
        other => panic!("expected a failed release, got {other:?}"),
    };
    eprintln!("failed update reported as: {state:?}");
    assert!(reason.contains("release 2"), "{reason}");
    assert!(
        reason.to_lowercase().contains("unhealthy"),
        "the task's error should be in: {reason}"
    );

    // The engine puts release 1 back; it served all along (start-first).
    assert!(
        eventually(Duration::from_secs(60), || async {
            swarm.status(&name).await.unwrap().release == Some(1)
        })
        .await,
        "the engine did not roll back to release 1"
    );
    let running = running_tasks(&swarm, &name).await;
    assert!(running.iter().any(|(r, _)| *r == Some(1)), "{running:?}");
    let serving = running
        .iter()
        .find(|(r, _)| *r == Some(1))
        .unwrap()
        .1
        .clone()
        .unwrap();
    assert_eq!(fetch_index(&serving), "paas-test web 1");

    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn a_first_release_that_never_turns_healthy_fails() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("never");
    let _cleanup = Cleanup(name.clone());
    let mut spec = web(&name, 1, WEB_1, 1);
    spec.health_check = unhealthy();
    let rollout = swarm.apply(&spec).await.unwrap();
    match swarm.await_rollout(&rollout, DEADLINE).await.unwrap() {
        RolloutState::Failed { reason } => {
            eprintln!("failed first release reported as: {reason}");
            assert!(reason.contains("unhealthy"), "{reason}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn no_suitable_node_is_reported_as_such() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("huge");
    let _cleanup = Cleanup(name.clone());
    let mut spec = web(&name, 1, WEB_1, 1);
    spec.memory_mb = 64 * 1024 * 1024; // 64 TiB
    let rollout = swarm.apply(&spec).await.unwrap();
    match swarm
        .await_rollout(&rollout, Duration::from_secs(30))
        .await
        .unwrap()
    {
        RolloutState::Failed { reason } => {
            eprintln!("unplaceable release reported as: {reason}");
            assert!(reason.starts_with("no suitable node"), "{reason}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn scale_up_and_down() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("scale");
    let _cleanup = Cleanup(name.clone());
    deploy(&swarm, &web(&name, 1, WEB_1, 1)).await;

    for replicas in [3u32, 1] {
        swarm.scale(&name, replicas).await.unwrap();
        assert_eq!(
            swarm.status(&name).await.unwrap().replicas_desired,
            replicas
        );
        assert!(
            eventually(Duration::from_secs(60), || async {
                running_tasks(&swarm, &name).await.len() == replicas as usize
                    && swarm.status(&name).await.unwrap().replicas_running == replicas
            })
            .await,
            "never reached {replicas} running replicas"
        );
    }
    // Scaling keeps the release.
    assert_eq!(swarm.status(&name).await.unwrap().release, Some(1));
    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn engine_rollback_returns_to_the_previous_release() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("rollback");
    let _cleanup = Cleanup(name.clone());
    let mut spec = web(&name, 1, WEB_1, 1);
    deploy(&swarm, &spec).await;
    let err = swarm.rollback(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    spec.release = 2;
    spec.image = WEB_2.into();
    deploy(&swarm, &spec).await;
    let rollout = swarm.rollback(&name).await.unwrap();
    assert_eq!(rollout.release, 1);
    assert_eq!(
        swarm.await_rollout(&rollout, DEADLINE).await.unwrap(),
        RolloutState::Converged
    );
    let running = running_tasks(&swarm, &name).await;
    assert_eq!(running.len(), 1);
    assert_eq!(
        fetch_index(running[0].1.as_deref().unwrap()),
        "paas-test web 1"
    );

    // Deploying a later release after the rollback rolls forward again.
    spec.release = 3;
    deploy(&swarm, &spec).await;
    assert_eq!(swarm.status(&name).await.unwrap().release, Some(3));
    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn remove_takes_the_network_and_the_secrets_with_it() {
    let Some(swarm) = swarm_with(test_config().with_env_delivery(EnvDelivery::SecretFiles)).await
    else {
        return;
    };
    let name = unique("remove");
    let _cleanup = Cleanup(name.clone());
    let mut spec = web(&name, 1, WEB_1, 1);
    deploy(&swarm, &spec).await;
    let first = secret_names(&swarm, &name).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with(&format!("{name}.GREETING.")));

    // The value never reaches the spec; the container gets a file and a *_FILE variable.
    let inspected = swarm
        .docker()
        .inspect_service(&name, None::<InspectServiceOptions>)
        .await
        .unwrap();
    let json = serde_json::to_string(&inspected.spec).unwrap();
    assert!(
        !json.contains("hello from"),
        "secret value leaked into the spec"
    );
    assert!(json.contains("GREETING_FILE=/run/secrets/GREETING"));
    let container = running_tasks(&swarm, &name).await[0].1.clone().unwrap();
    let out = std::process::Command::new("docker")
        .args(["exec", &container, "cat", "/run/secrets/GREETING"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("hello from {name}")
    );

    // A new value rotates to a new secret by name; the old one stays as the rollback target.
    spec.release = 2;
    spec.env
        .insert("GREETING".parse().unwrap(), Secret::new("changed"));
    deploy(&swarm, &spec).await;
    let second = secret_names(&swarm, &name).await;
    assert_eq!(second.len(), 2, "{second:?}");
    // One more rotation drops the secret nothing references any more.
    spec.release = 3;
    spec.env
        .insert("GREETING".parse().unwrap(), Secret::new("changed again"));
    deploy(&swarm, &spec).await;
    let third = secret_names(&swarm, &name).await;
    assert_eq!(third.len(), 2, "{third:?}");
    assert!(!third.contains(&first[0]));

    assert!(network_exists(&swarm, &name).await);
    swarm.remove(&name).await.unwrap();
    assert_eq!(
        swarm.status(&name).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(!network_exists(&swarm, &name).await, "network left behind");
    assert!(
        secret_names(&swarm, &name).await.is_empty(),
        "secrets left behind"
    );
    // Removing what is gone is fine.
    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn logs_contain_what_the_app_printed() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("logs");
    let _cleanup = Cleanup(name.clone());
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    deploy(&swarm, &web(&name, 1, WEB_1, 1)).await;
    let wanted = format!("greeting: hello from {name}");

    let mut found = None;
    for _ in 0..25 {
        let lines: Vec<_> = swarm
            .logs(&name, LogOptions::default())
            .await
            .unwrap()
            .collect::<Vec<_>>()
            .await;
        let lines: Vec<_> = lines.into_iter().map(|l| l.unwrap()).collect();
        if let Some(l) = lines.iter().find(|l| l.line == wanted) {
            assert!(
                lines.iter().any(|l| l.line == "paas-test web 1 starting"),
                "{lines:?}"
            );
            found = Some(l.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let line = found.expect("the app's greeting never showed in the logs");
    let at = line.at.expect("lines carry the engine's timestamp");
    assert!(at >= started, "{at} < {started}");

    // `since` after the greeting leaves it out; `follow` streams and can be dropped.
    let later = swarm
        .logs(
            &name,
            LogOptions {
                since: Some(at + chrono::Duration::milliseconds(1)),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    assert!(
        later.iter().all(|l| l.as_ref().unwrap().line != wanted),
        "{later:?}"
    );
    let mut follow = swarm
        .logs(
            &name,
            LogOptions {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), follow.next())
        .await
        .unwrap();
    assert!(first.unwrap().is_ok());
    drop(follow);

    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn traefik_labels_route_each_domain() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("traefik");
    let _cleanup = Cleanup(name.clone());
    let mut spec = web(&name, 1, WEB_1, 1);
    spec.domains = vec![format!("{name}.example.com").parse().unwrap()];
    swarm.apply(&spec).await.unwrap();

    let service = swarm
        .docker()
        .inspect_service(&name, None::<InspectServiceOptions>)
        .await
        .unwrap();
    let labels = service.spec.unwrap().labels.unwrap();
    let router = format!("{name}-{name}-example-com");
    assert_eq!(labels["traefik.enable"], "true");
    assert_eq!(
        labels[&format!("traefik.http.routers.{router}.rule")],
        format!("Host(`{name}.example.com`)")
    );
    assert_eq!(
        labels[&format!("traefik.http.routers.{router}.entrypoints")],
        "websecure"
    );
    assert_eq!(
        labels[&format!("traefik.http.routers.{router}.tls.certresolver")],
        "letsencrypt"
    );
    assert_eq!(
        labels[&format!("traefik.http.services.{router}.loadbalancer.server.port")],
        "8080"
    );
    assert_eq!(labels["traefik.swarm.network"], format!("paas-{name}"));
    assert_eq!(labels["paas.managed"], "true");
    assert_eq!(labels["paas.release"], "1");
    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn absent_services_are_not_found_and_remove_is_idempotent() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("absent");
    assert_eq!(
        swarm.status(&name).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        swarm.scale(&name, 2).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        swarm.rollback(&name).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        swarm
            .logs(&name, LogOptions::default())
            .await
            .err()
            .unwrap()
            .kind(),
        ErrorKind::NotFound
    );
    swarm.remove(&name).await.unwrap();
}

#[tokio::test]
async fn services_the_platform_did_not_create_are_left_alone() {
    let Some(swarm) = swarm().await else { return };
    let name = unique("foreign");
    let _cleanup = Cleanup(name.clone());
    let status = std::process::Command::new("docker")
        .args([
            "service", "create", "--detach", "--quiet", "--name", &name, WEB_1,
        ])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(!swarm.list().await.unwrap().iter().any(|s| s.name == name));
    let err = swarm.apply(&web(&name, 1, WEB_1, 1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(
        swarm.remove(&name).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        swarm.scale(&name, 0).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
}
