//! Deploys on the in-memory backends: success paths, retries, permanent failures and their
//! compensation, releases and rollbacks.

mod engine_support;

use engine_support::Env;
use paas_core::engine::NewApp;
use paas_core::memory::FakeProvisioner;
use paas_core::memory::{OrchestratorCall, ProvisionerCall};
use paas_core::model::{
    AppStatus, Capacity, EventLevel, OperationState, Placement, Runtime, Secret, Vmid,
};
use paas_core::ports::{GuestState, ServiceSpec};
use paas_core::{Error, ErrorKind};

#[tokio::test]
async fn lxc_deploy_runs_guest_with_ip_port_and_release() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    let op = env.platform.deploy(env.org, app.id).await.unwrap();
    // Returned at once: queued, nothing ran yet.
    assert_eq!(env.op(op).await.state, OperationState::Queued);
    assert_eq!(env.app(app.id).await.status, AppStatus::Created);

    env.ok(op).await;
    let app = env.app(app.id).await;
    assert_eq!(app.status, AppStatus::Running);
    assert_eq!(app.current_release, Some(1));
    assert_eq!(app.ports.len(), 1);
    let Some(Placement::Guest {
        vmid, addresses, ..
    }) = &app.placement
    else {
        panic!("no guest placement: {:?}", app.placement)
    };
    assert!(!addresses.is_empty(), "the IP was not learned");
    let guests = env.prov.guests();
    let g = guests.iter().find(|g| g.guest.vmid == *vmid).unwrap();
    assert_eq!(g.state, GuestState::Running);
    assert!(g.is_managed());
    assert_eq!(env.held_by(app.id).await, 2);

    let releases = env.platform.releases(env.org, app.id).await.unwrap();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].number, 1);

    // One event per step, in order, ending with done.
    let events = env.events(app.id).await;
    let steps: Vec<&str> = events.iter().map(|e| e.step.as_str()).collect();
    for step in [
        "queued",
        "begin",
        "allocate-vmid",
        "place",
        "create-guest",
        "start-guest",
        "learn-ip",
        "allocate-port",
        "done",
    ] {
        assert!(
            steps.contains(&step),
            "missing event for step {step}: {steps:?}"
        );
    }
    assert_eq!(steps.last(), Some(&"done"));
    assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

#[tokio::test]
async fn vm_deploy_clones_the_template() {
    let env = Env::new().await;
    let template = Vmid::new(9000).unwrap();
    env.prov
        .add_vm_template("pve1".parse().unwrap(), template, "debian-tmpl")
        .unwrap();
    let app = env
        .platform
        .create_app(
            env.org,
            NewApp::new(
                "vm-app",
                Runtime::Vm {
                    template_vmid: template,
                },
                env.plan.id,
            ),
        )
        .await
        .unwrap();
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    let app = env.app(app.id).await;
    assert_eq!(app.status, AppStatus::Running);
    let Some(Placement::Guest { vmid, .. }) = app.placement else {
        panic!()
    };
    assert_ne!(vmid, template);
    assert_eq!(env.guests_of(app.id).await, 1);
}

#[tokio::test]
async fn places_on_the_node_with_most_free_memory_that_fits() {
    let prov = FakeProvisioner::builder()
        .node_with_capacity(
            "small".parse().unwrap(),
            Capacity {
                cpu: 4,
                memory_mb: 256,
                disk_gb: 100,
            },
        )
        .node_with_capacity(
            "mid".parse().unwrap(),
            Capacity {
                cpu: 4,
                memory_mb: 2048,
                disk_gb: 100,
            },
        )
        .node_with_capacity(
            "big".parse().unwrap(),
            Capacity {
                cpu: 4,
                memory_mb: 4096,
                disk_gb: 100,
            },
        )
        .build();
    let env = Env::with_provisioner(prov).await;
    let app = env.lxc_app("a").await;
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    let Some(Placement::Guest { node, .. }) = env.app(app.id).await.placement else {
        panic!()
    };
    assert_eq!(node.as_str(), "big");
}

#[tokio::test]
async fn no_node_fits_fails_with_reason_and_leaves_nothing() {
    let prov = FakeProvisioner::builder()
        .node_with_capacity(
            "tiny".parse().unwrap(),
            Capacity {
                cpu: 4,
                memory_mb: 128,
                disk_gb: 100,
            },
        )
        .build();
    let env = Env::with_provisioner(prov).await;
    let app = env.lxc_app("a").await;
    let op = env
        .done(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(op.state, OperationState::Failed);
    let app = env.app(app.id).await;
    assert_eq!(app.status, AppStatus::Failed);
    assert!(app.status_reason.as_deref().unwrap().contains("512 MiB"));
    env.assert_nothing_left(&app).await;
}

#[tokio::test]
async fn transient_failure_is_retried_with_backoff() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    env.prov.fail_next(
        ProvisionerCall::Create,
        Error::unavailable("pve1 answered 596"),
    );
    let op = env.platform.deploy(env.org, app.id).await.unwrap();
    env.platform.worker().run_until_idle().await.unwrap();
    // The first attempt failed and is waiting for its backoff (1 s).
    let waiting = env.op(op).await;
    assert_eq!(waiting.state, OperationState::Queued);
    assert!(waiting.error.unwrap().contains("596"));
    assert_eq!(
        env.platform.worker().run_until_idle().await.unwrap(),
        0,
        "ran before its backoff"
    );
    env.clock.advance(std::time::Duration::from_secs(1));
    env.platform.worker().run_until_idle().await.unwrap();
    let op = env.op(op).await;
    assert_eq!(op.state, OperationState::Succeeded);
    assert_eq!(op.attempts, 2);
    assert_eq!(env.app(app.id).await.status, AppStatus::Running);
    assert_eq!(
        env.guests_of(app.id).await,
        1,
        "the retried create made a second guest"
    );
    let events = env.events(app.id).await;
    assert!(
        events
            .iter()
            .any(|e| e.step == "retry" && e.level == EventLevel::Warn)
    );
}

#[tokio::test]
async fn permanent_failure_compensates_in_reverse() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    // The guest gets created, then starting it fails for good.
    env.prov.fail_next(
        ProvisionerCall::Start,
        Error::backend_error("start failed: unable to mount rootfs").retryable(false),
    );
    let op = env
        .done(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(op.state, OperationState::Failed);
    assert!(op.error.unwrap().contains("rootfs"));
    let app = env.app(app.id).await;
    assert_eq!(app.status, AppStatus::Failed);
    assert!(app.status_reason.as_deref().unwrap().contains("rootfs"));
    assert!(app.placement.is_none() && app.ports.is_empty());
    env.assert_nothing_left(&app).await;
    assert!(env.prov.guests().is_empty());
}

#[tokio::test]
async fn exhausted_retries_count_as_permanent() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    for _ in 0..3 {
        env.prov.fail_next(
            ProvisionerCall::Addresses,
            Error::unavailable("agent not answering"),
        );
    }
    let op = env
        .done(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(op.state, OperationState::Failed);
    assert_eq!(op.attempts, 3);
    let app = env.app(app.id).await;
    assert_eq!(app.status, AppStatus::Failed);
    env.assert_nothing_left(&app).await;
}

#[tokio::test]
async fn failing_undo_is_retried_until_nothing_is_left() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    env.prov.fail_next(
        ProvisionerCall::Start,
        Error::backend_error("broken").retryable(false),
    );
    // The first two compensation attempts cannot destroy the half-made guest.
    env.prov
        .fail_next(ProvisionerCall::Destroy, Error::unavailable("guest locked"));
    env.prov
        .fail_next(ProvisionerCall::Destroy, Error::unavailable("guest locked"));
    let op = env
        .done(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(op.state, OperationState::Failed);
    assert_eq!(env.prov.calls(ProvisionerCall::Destroy), 3);
    let undo_retries = env
        .events(app.id)
        .await
        .iter()
        .filter(|e| e.step == "undo")
        .count();
    assert_eq!(undo_retries, 2);
    let app = env.app(app.id).await;
    assert_eq!(app.status, AppStatus::Failed);
    env.assert_nothing_left(&app).await;
}

#[tokio::test]
async fn vmid_taken_by_another_client_is_reallocated() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    env.prov.fail_next(
        ProvisionerCall::Create,
        Error::conflict("VMID 100 already exists"),
    );
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    let app = env.app(app.id).await;
    let Some(Placement::Guest { vmid, .. }) = app.placement else {
        panic!()
    };
    assert_ne!(vmid.get(), 100, "kept the VMID the cluster refused");
    // Only the VMID in use is held.
    assert_eq!(env.held_by(app.id).await, 2);
}

#[tokio::test]
async fn container_deploy_converges_with_decrypted_env() {
    let env = Env::new().await;
    let app = env
        .platform
        .create_app(
            env.org,
            NewApp::new(
                "api",
                Runtime::Container {
                    image: "api:1".into(),
                },
                env.plan.id,
            )
            .env("TOKEN".parse().unwrap(), Secret::new("s3cret-value"))
            .replicas(2),
        )
        .await
        .unwrap();
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    let app = env.app(app.id).await;
    assert_eq!(app.status, AppStatus::Running);
    assert!(matches!(app.placement, Some(Placement::Service { .. })));
    let spec: ServiceSpec = env.orch.spec("api").unwrap();
    assert_eq!(
        spec.env.get(&"TOKEN".parse().unwrap()).unwrap().expose(),
        "s3cret-value"
    );
    assert_eq!(spec.replicas, 2);
    assert!(!format!("{spec:?}").contains("s3cret-value"));
}

#[tokio::test]
async fn failed_rollout_fails_the_deploy_with_the_task_error() {
    let env = Env::new().await;
    let app = env.container_app("api", "api:1").await;
    env.orch.fail_release("api", 1, "task exited with code 137");
    let op = env
        .done(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(op.state, OperationState::Failed);
    let app = env.app(app.id).await;
    assert_eq!(app.status, AppStatus::Failed);
    assert!(app.status_reason.as_deref().unwrap().contains("code 137"));
    env.assert_nothing_left(&app).await;
    assert_eq!(env.orch.calls(OrchestratorCall::Remove), 1);
}

#[tokio::test]
async fn redeploy_and_rollback_make_and_use_releases() {
    let env = Env::new().await;
    let app = env.container_app("api", "api:1").await;
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(env.app(app.id).await.current_release, Some(2));
    assert_eq!(env.orch.spec("api").unwrap().release, 2);
    env.ok(env.platform.rollback(env.org, app.id, 1).await.unwrap())
        .await;
    let app2 = env.app(app.id).await;
    assert_eq!(app2.current_release, Some(1));
    assert_eq!(app2.status, AppStatus::Running);
    assert_eq!(
        env.platform.releases(env.org, app.id).await.unwrap().len(),
        2
    );
    let err = env.platform.rollback(env.org, app.id, 7).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn lxc_redeploy_replaces_the_guest_and_keeps_one() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    let app = env.app(app.id).await;
    assert_eq!(app.status, AppStatus::Running);
    assert_eq!(app.current_release, Some(2));
    assert_eq!(env.guests_of(app.id).await, 1);
    assert_eq!(env.held_by(app.id).await, 2);
}
