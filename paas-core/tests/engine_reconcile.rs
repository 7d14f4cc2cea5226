//! The reconciler: drift, lost workloads, adoption, import; it never destroys.

mod engine_support;

use engine_support::Env;
use paas_core::engine::{ImportGuest, Workload};
use paas_core::model::{AppStatus, Placement, Vmid};
use paas_core::ports::{GuestState, MANAGED_TAG, app_tag};
use std::time::Duration;

async fn running_lxc(env: &Env, name: &str) -> (paas_core::model::Application, Vmid) {
    let app = env.lxc_app(name).await;
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    let app = env.app(app.id).await;
    let Some(Placement::Guest { vmid, .. }) = app.placement else {
        panic!()
    };
    (app, vmid)
}

#[tokio::test]
async fn status_drift_is_corrected_both_ways() {
    let env = Env::new().await;
    let (a, va) = running_lxc(&env, "a").await;
    let (b, vb) = running_lxc(&env, "b").await;
    env.ok(env.platform.stop(env.org, b.id).await.unwrap())
        .await;
    env.prov.set_state(va, GuestState::Stopped);
    env.prov.set_state(vb, GuestState::Running);

    let report = env.platform.reconcile().await.unwrap();
    assert_eq!(report.corrected.len(), 2, "{report:?}");
    assert_eq!(env.app(a.id).await.status, AppStatus::Stopped);
    assert_eq!(env.app(b.id).await.status, AppStatus::Running);
    assert!(
        env.app(a.id)
            .await
            .status_reason
            .unwrap()
            .contains("reconciler")
    );
    // A second pass finds nothing to do.
    assert!(env.platform.reconcile().await.unwrap().corrected.is_empty());
    assert!(env.events(a.id).await.iter().any(|e| e.step == "reconcile"));
}

#[tokio::test]
async fn a_record_whose_guest_is_gone_is_lost_and_can_be_redeployed() {
    let env = Env::new().await;
    let (a, va) = running_lxc(&env, "a").await;
    env.prov.remove_guest(va);
    let report = env.platform.reconcile().await.unwrap();
    assert_eq!(report.corrected[0].to, AppStatus::Lost);
    let lost = env.app(a.id).await;
    assert_eq!(lost.status, AppStatus::Lost);
    assert!(lost.status_reason.unwrap().contains("no longer exists"));
    env.ok(env.platform.deploy(env.org, a.id).await.unwrap())
        .await;
    assert_eq!(env.app(a.id).await.status, AppStatus::Running);
}

#[tokio::test]
async fn lost_services_and_service_drift() {
    let env = Env::new().await;
    let api = env.container_app("api", "api:1").await;
    env.ok(env.platform.deploy(env.org, api.id).await.unwrap())
        .await;
    let web = env.container_app("web", "web:1").await;
    env.ok(env.platform.deploy(env.org, web.id).await.unwrap())
        .await;
    use paas_core::ports::Orchestrator;
    env.orch.remove("api").await.unwrap();
    env.orch.scale("web", 0).await.unwrap();
    env.platform.reconcile().await.unwrap();
    assert_eq!(env.app(api.id).await.status, AppStatus::Lost);
    assert_eq!(env.app(web.id).await.status, AppStatus::Stopped);
}

#[tokio::test]
async fn unmanaged_guests_are_importable_and_never_destroyed() {
    let env = Env::new().await;
    let node = "pve2".parse().unwrap();
    let vmid = Vmid::new(4242).unwrap();
    env.prov
        .add_unmanaged_guest(node, vmid, "legacy-db", vec!["prod".into()])
        .unwrap();
    let report = env.platform.reconcile().await.unwrap();
    assert_eq!(report.importable.len(), 1);
    assert_eq!(report.importable[0].guest.vmid, vmid);

    let app = env
        .platform
        .import_guest(
            env.org,
            ImportGuest {
                vmid,
                name: None,
                plan: env.plan.id,
            },
        )
        .await
        .unwrap();
    assert_eq!(app.slug.as_str(), "legacy-db");
    assert_eq!(app.status, AppStatus::Stopped);
    // Now recorded: not importable again, not lost, and still not tagged.
    let report = env.platform.reconcile().await.unwrap();
    assert!(
        report.importable.is_empty() && report.corrected.is_empty(),
        "{report:?}"
    );
    assert!(
        env.platform
            .import_guest(
                env.org,
                ImportGuest {
                    vmid,
                    name: None,
                    plan: env.plan.id
                }
            )
            .await
            .is_err()
    );
    let g = env
        .prov
        .guests()
        .into_iter()
        .find(|g| g.guest.vmid == vmid)
        .unwrap();
    assert!(!g.is_managed());

    // Deleting the imported app forgets it and leaves the guest alone.
    env.ok(env.platform.delete(env.org, app.id).await.unwrap())
        .await;
    assert!(env.prov.guests().iter().any(|g| g.guest.vmid == vmid));
}

#[tokio::test]
async fn managed_guests_without_a_record_are_adoptable() {
    let env = Env::new().await;
    let app = env.lxc_app("orphan").await;
    // A guest of this app exists (e.g. the record was restored from an old backup).
    env.prov
        .add_guest(paas_core::ports::Guest {
            guest: paas_core::ports::GuestRef {
                node: "pve1".parse().unwrap(),
                vmid: Vmid::new(777).unwrap(),
                kind: paas_core::ports::GuestKind::Lxc,
            },
            name: "orphan".into(),
            state: GuestState::Running,
            tags: vec![MANAGED_TAG.into(), app_tag(app.id)],
            template: false,
            lock: None,
            memory_mb: 512,
            cores: 1,
            data_volume: None,
        })
        .unwrap();
    let before = env.prov.guests().len();
    let report = env.platform.reconcile().await.unwrap();
    assert_eq!(report.adoptable.len(), 1);
    assert_eq!(report.adoptable[0].app, Some(app.id));
    assert!(matches!(report.adoptable[0].workload, Workload::Guest(_)));
    assert_eq!(
        env.prov.guests().len(),
        before,
        "the reconciler destroyed something"
    );

    let adopted = env.platform.adopt(env.org, app.id).await.unwrap();
    assert_eq!(adopted.status, AppStatus::Running);
    assert!(env.platform.reconcile().await.unwrap().adoptable.is_empty());
}

#[tokio::test]
async fn apps_with_an_operation_in_flight_are_left_alone() {
    let env = Env::new().await;
    let (a, va) = running_lxc(&env, "a").await;
    env.prov.set_state(va, GuestState::Stopped);
    let op = env.platform.restart(env.org, a.id).await.unwrap();
    let report = env.platform.reconcile().await.unwrap();
    assert!(report.corrected.is_empty());
    assert_eq!(report.busy, vec![a.id]);
    assert!(report.requeue_after.is_some());
    env.ok(op).await;
    assert_eq!(env.app(a.id).await.status, AppStatus::Running);
}

#[tokio::test]
async fn reconcile_every_runs_until_shutdown() {
    let env = Env::new().await;
    let (a, va) = running_lxc(&env, "a").await;
    env.prov.set_state(va, GuestState::Stopped);
    let p = env.platform.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = tokio::spawn(async move {
        p.reconcile_every(Duration::from_millis(20), async {
            let _ = rx.await;
        })
        .await
    });
    for _ in 0..100 {
        if env.app(a.id).await.status == AppStatus::Stopped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(env.app(a.id).await.status, AppStatus::Stopped);
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), h)
        .await
        .unwrap()
        .unwrap();
}
