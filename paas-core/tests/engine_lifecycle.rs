//! Start, stop, restart, scale, suspend, resume, delete, and the per-app queue.

mod engine_support;

use engine_support::Env;
use paas_core::ErrorKind;
use paas_core::memory::ProvisionerCall;
use paas_core::model::{AppStatus, OperationKind, OperationState, Placement};
use paas_core::ports::GuestState;

async fn running_lxc(env: &Env, name: &str) -> paas_core::model::Application {
    let app = env.lxc_app(name).await;
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    env.app(app.id).await
}

fn guest_state(env: &Env, app: &paas_core::model::Application) -> GuestState {
    let Some(Placement::Guest { vmid, .. }) = &app.placement else {
        panic!("no guest")
    };
    env.prov
        .guests()
        .into_iter()
        .find(|g| g.guest.vmid == *vmid)
        .unwrap()
        .state
}

#[tokio::test]
async fn stop_start_restart_act_on_the_guest() {
    let env = Env::new().await;
    let app = running_lxc(&env, "shop").await;

    env.ok(env.platform.stop(env.org, app.id).await.unwrap())
        .await;
    let a = env.app(app.id).await;
    assert_eq!(a.status, AppStatus::Stopped);
    assert_eq!(guest_state(&env, &a), GuestState::Stopped);

    env.ok(env.platform.start(env.org, app.id).await.unwrap())
        .await;
    let a = env.app(app.id).await;
    assert_eq!(a.status, AppStatus::Running);
    assert_eq!(guest_state(&env, &a), GuestState::Running);

    let stops = env.prov.calls(ProvisionerCall::Stop);
    env.ok(env.platform.restart(env.org, app.id).await.unwrap())
        .await;
    let a = env.app(app.id).await;
    assert_eq!(a.status, AppStatus::Running);
    assert_eq!(guest_state(&env, &a), GuestState::Running);
    assert_eq!(env.prov.calls(ProvisionerCall::Stop), stops + 1);
}

#[tokio::test]
async fn container_stop_start_and_scale() {
    let env = Env::new().await;
    let app = env.container_app("api", "api:1").await;
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;

    env.ok(env.platform.scale(env.org, app.id, 3).await.unwrap())
        .await;
    assert_eq!(env.app(app.id).await.replicas, 3);
    let svc = env
        .orch
        .services()
        .into_iter()
        .find(|s| s.name == "api")
        .unwrap();
    assert_eq!(svc.replicas_desired, 3);

    env.ok(env.platform.stop(env.org, app.id).await.unwrap())
        .await;
    let svc = env
        .orch
        .services()
        .into_iter()
        .find(|s| s.name == "api")
        .unwrap();
    assert_eq!(svc.replicas_desired, 0);
    assert_eq!(env.app(app.id).await.status, AppStatus::Stopped);

    env.ok(env.platform.start(env.org, app.id).await.unwrap())
        .await;
    let svc = env
        .orch
        .services()
        .into_iter()
        .find(|s| s.name == "api")
        .unwrap();
    assert_eq!(svc.replicas_desired, 3);
}

#[tokio::test]
async fn scale_respects_plan_and_runtime_limits() {
    let env = Env::new().await;
    let api = env.container_app("api", "api:1").await;
    let err = env.platform.scale(env.org, api.id, 4).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("at most 3"));
    assert!(env.platform.scale(env.org, api.id, 0).await.is_err());
    let shop = env.lxc_app("shop").await;
    let err = env.platform.scale(env.org, shop.id, 2).await.unwrap_err();
    assert!(err.message().contains("exactly 1"));
}

#[tokio::test]
async fn suspend_and_resume_bring_back_what_ran() {
    let env = Env::new().await;
    let running = running_lxc(&env, "running").await;
    let stopped = running_lxc(&env, "stopped").await;
    env.ok(env.platform.stop(env.org, stopped.id).await.unwrap())
        .await;

    for app in [&running, &stopped] {
        env.ok(env.platform.suspend(env.org, app.id).await.unwrap())
            .await;
        let a = env.app(app.id).await;
        assert_eq!(a.status, AppStatus::Suspended);
        assert!(a.status_reason.unwrap().contains("wallet"));
        assert_eq!(
            guest_state(&env, &env.app(app.id).await),
            GuestState::Stopped
        );
    }
    // A suspended app cannot be started by its owner.
    let err = env.platform.start(env.org, running.id).await.unwrap_err();
    assert!(err.message().contains("wallet"));

    env.ok(env.platform.resume(env.org, running.id).await.unwrap())
        .await;
    env.ok(env.platform.resume(env.org, stopped.id).await.unwrap())
        .await;
    let r = env.app(running.id).await;
    let s = env.app(stopped.id).await;
    assert_eq!(
        (r.status, s.status),
        (AppStatus::Running, AppStatus::Stopped)
    );
    assert_eq!(guest_state(&env, &r), GuestState::Running);
    assert_eq!(guest_state(&env, &s), GuestState::Stopped);
}

#[tokio::test]
async fn billing_ops_on_apps_that_never_ran_do_nothing_and_succeed() {
    let env = Env::new().await;
    let app = env.lxc_app("idle").await;
    env.ok(env.platform.suspend(env.org, app.id).await.unwrap())
        .await;
    env.ok(env.platform.resume(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(env.app(app.id).await.status, AppStatus::Created);
}

#[tokio::test]
async fn delete_releases_everything() {
    let env = Env::new().await;
    let shop = running_lxc(&env, "shop").await;
    let api = env.container_app("api", "api:1").await;
    env.ok(env.platform.deploy(env.org, api.id).await.unwrap())
        .await;
    assert_eq!(env.held_by(shop.id).await, 2);

    env.ok(env.platform.delete(env.org, shop.id).await.unwrap())
        .await;
    env.ok(env.platform.delete(env.org, api.id).await.unwrap())
        .await;
    for app in [&shop, &api] {
        let a = env.app(app.id).await;
        assert_eq!(a.status, AppStatus::Deleted);
        assert!(a.placement.is_none() && a.ports.is_empty());
        env.assert_nothing_left(&a).await;
    }
    assert!(env.prov.guests().is_empty());
    // A deleted app takes no more operations.
    let err = env.platform.start(env.org, shop.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // And its slug is free again.
    env.lxc_app("shop").await;
}

#[tokio::test]
async fn delete_of_a_never_deployed_app() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    env.ok(env.platform.delete(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(env.app(app.id).await.status, AppStatus::Deleted);
}

#[tokio::test]
async fn illegal_requests_are_refused_when_nothing_is_pending() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    for result in [
        env.platform.start(env.org, app.id).await,
        env.platform.stop(env.org, app.id).await,
        env.platform.restart(env.org, app.id).await,
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("deploy it first"), "{err}");
    }
}

#[tokio::test]
async fn operations_on_one_app_run_one_at_a_time_in_order() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    // Requested back to back before any worker ran: they queue.
    let deploy = env.platform.deploy(env.org, app.id).await.unwrap();
    let stop = env.platform.stop(env.org, app.id).await.unwrap();
    let start = env.platform.start(env.org, app.id).await.unwrap();
    let restart = env.platform.restart(env.org, app.id).await.unwrap();

    // Only the oldest can be leased; the others wait behind it.
    let w = env.platform.worker();
    let first = w.step().await.unwrap();
    assert!(matches!(first, paas_core::engine::StepOutcome::Succeeded(ref op) if op.id == deploy));
    assert_eq!(env.op(stop).await.state, OperationState::Queued);
    assert_eq!(env.op(start).await.state, OperationState::Queued);

    env.settle().await;
    let ops = env.platform.operations(env.org, app.id).await.unwrap();
    assert!(
        ops.iter().all(|o| o.state == OperationState::Succeeded),
        "{ops:?}"
    );
    let mut finished: Vec<_> = ops
        .iter()
        .map(|o| (o.finished_at.unwrap(), o.created_at, o.id))
        .collect();
    finished.sort();
    assert_eq!(
        finished.iter().map(|f| f.2).collect::<Vec<_>>(),
        vec![deploy, stop, start, restart]
    );
    // Events of different operations never interleave.
    let events = env.events(app.id).await;
    let mut seen = Vec::new();
    for e in &events {
        let op = e.operation.unwrap();
        if seen.last() != Some(&op) {
            assert!(
                !seen.contains(&op),
                "events of operation {op} interleaved with another"
            );
            seen.push(op);
        }
    }
    assert_eq!(env.app(app.id).await.status, AppStatus::Running);
}

#[tokio::test]
async fn a_delete_refuses_what_follows_and_is_not_queued_twice() {
    let env = Env::new().await;
    let app = running_lxc(&env, "shop").await;
    let stop = env.platform.stop(env.org, app.id).await.unwrap();
    let delete = env.platform.delete(env.org, app.id).await.unwrap();
    let err = env.platform.start(env.org, app.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(env.platform.delete(env.org, app.id).await.unwrap(), delete);
    assert!(env.platform.deploy(env.org, app.id).await.is_err());
    env.settle().await;
    assert_eq!(env.op(stop).await.state, OperationState::Succeeded);
    assert_eq!(env.op(delete).await.state, OperationState::Succeeded);
    assert_eq!(env.app(app.id).await.status, AppStatus::Deleted);
}

#[tokio::test]
async fn a_queued_operation_that_became_illegal_fails_without_touching_the_app() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    env.prov.fail_next(
        ProvisionerCall::Create,
        paas_core::Error::backend_error("storage full").retryable(false),
    );
    let deploy = env.platform.deploy(env.org, app.id).await.unwrap();
    let start = env.platform.start(env.org, app.id).await.unwrap();
    env.settle().await;
    assert_eq!(env.op(deploy).await.state, OperationState::Failed);
    let start = env.op(start).await;
    assert_eq!(start.state, OperationState::Failed);
    assert!(start.error.unwrap().contains("deploy it first"));
    let a = env.app(app.id).await;
    assert_eq!(a.status, AppStatus::Failed);
    assert!(a.status_reason.unwrap().contains("storage full"));
    assert!(matches!(
        env.op(deploy).await.kind,
        OperationKind::Deploy { release: 1 }
    ));
}

#[tokio::test]
async fn wait_returns_the_finished_operation() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    let op = env.platform.deploy(env.org, app.id).await.unwrap();
    let worker = env.platform.worker();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        worker
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        env.platform.wait(env.org, op),
    )
    .await
    .expect("wait did not return")
    .unwrap();
    assert_eq!(done.state, OperationState::Succeeded);
    tx.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), handle)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_restart_that_cannot_start_again_records_what_the_guest_is() {
    let env = Env::new().await;
    let app = running_lxc(&env, "shop").await;
    env.prov.fail_next(
        ProvisionerCall::Start,
        paas_core::Error::backend_error("rootfs is corrupt").retryable(false),
    );
    let op = env
        .done(env.platform.restart(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(op.state, OperationState::Failed);
    let a = env.app(app.id).await;
    assert_eq!(
        a.status,
        AppStatus::Stopped,
        "the record says running but the guest is stopped"
    );
    assert_eq!(guest_state(&env, &a), GuestState::Stopped);
    assert!(a.status_reason.unwrap().contains("restart failed: "));
}

#[tokio::test]
async fn a_delete_retries_transient_failures_past_the_attempt_limit() {
    let env = Env::new().await;
    let app = running_lxc(&env, "shop").await;
    for _ in 0..5 {
        env.prov.fail_next(
            ProvisionerCall::Destroy,
            paas_core::Error::unavailable("locked"),
        );
    }
    let op = env
        .done(env.platform.delete(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(op.state, OperationState::Succeeded);
    assert_eq!(op.attempts, 6);
    env.assert_nothing_left(&env.app(app.id).await).await;
}

#[tokio::test]
async fn a_delete_tries_a_failed_destroy_task_again() {
    let env = Env::new().await;
    let app = running_lxc(&env, "shop").await;
    env.prov.fail_next(
        ProvisionerCall::Destroy,
        paas_core::Error::backend_error("vzdestroy failed: cfs lock").retryable(false),
    );
    let op = env
        .done(env.platform.delete(env.org, app.id).await.unwrap())
        .await;
    assert_eq!(op.state, OperationState::Succeeded);
    assert_eq!(env.app(app.id).await.status, AppStatus::Deleted);
}
