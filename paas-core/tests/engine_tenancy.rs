//! Tenant isolation: every read and action of org B on org A's app is NotFound.

mod engine_support;

use engine_support::Env;
use futures::FutureExt;
use paas_core::ErrorKind;
use paas_core::Result;
use paas_core::model::{AppStatus, OperationState, Secret};
use paas_core::ports::AppQuery;

fn not_found<T: std::fmt::Debug>(what: &str, r: Result<T>) {
    match r {
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{what}: {e}"),
        Ok(v) => panic!("{what}: org B got {v:?}"),
    }
}

#[tokio::test]
async fn org_b_cannot_see_or_touch_org_a_app() {
    let env = Env::new().await;
    let p = &env.platform;
    let a = env.org;
    let b = p.create_org("Other Org").await.unwrap().id;
    let app = env.lxc_app("shop").await;
    let op = p.deploy(a, app.id).await.unwrap();
    env.ok(op).await;
    let before = env.app(app.id).await;
    let key = "TOKEN".parse().unwrap();
    let domain = "shop.example.com".parse().unwrap();
    let id = app.id;

    not_found("app", p.app(b, id).await);
    not_found("releases", p.releases(b, id).await);
    not_found("operations", p.operations(b, id).await);
    not_found("operation", p.operation(b, op).await);
    not_found("wait", p.wait(b, op).await);
    not_found("events", p.events(b, id).await.map(|_| ()));
    not_found("env_keys", p.env_keys(b, id).await);
    not_found("set_env", p.set_env(b, id, key, Secret::new("x")).await);
    not_found(
        "unset_env",
        p.unset_env(b, id, &"TOKEN".parse().unwrap()).await,
    );
    not_found("add_domain", p.add_domain(b, id, domain).await);
    not_found(
        "remove_domain",
        p.remove_domain(b, id, &"shop.example.com".parse().unwrap())
            .await,
    );
    not_found("deploy", p.deploy(b, id).await);
    not_found("start", p.start(b, id).await);
    not_found("stop", p.stop(b, id).await);
    not_found("restart", p.restart(b, id).await);
    not_found("delete", p.delete(b, id).await);
    not_found("scale", p.scale(b, id, 1).await);
    not_found("rollback", p.rollback(b, id, 1).await);
    not_found("suspend", p.suspend(b, id).await);
    not_found("resume", p.resume(b, id).await);
    not_found("adopt", p.adopt(b, id).await);
    let listed = p.apps(b, &AppQuery::default()).await.unwrap();
    assert!(listed.items.is_empty());
    // An app in org B is invisible to org A as well.
    assert_eq!(
        p.apps(a, &AppQuery::default()).await.unwrap().items.len(),
        1
    );

    // Nothing changed: no operation queued, no release made, the app as it was.
    assert!(p.wait(b, op).now_or_never().is_some());
    let ops = p.operations(a, id).await.unwrap();
    assert_eq!(ops.len(), 1);
    assert!(ops.iter().all(|o| o.state == OperationState::Succeeded));
    assert_eq!(p.releases(a, id).await.unwrap().len(), 1);
    let after = env.app(app.id).await;
    assert_eq!(after, before);
    assert_eq!(after.status, AppStatus::Running);
}

#[tokio::test]
async fn unknown_org_cannot_create_apps() {
    let env = Env::new().await;
    let err = env
        .platform
        .create_app(
            paas_core::model::OrgId::new(),
            paas_core::NewApp::new(
                "x",
                paas_core::model::Runtime::Container {
                    image: "x:1".into(),
                },
                env.plan.id,
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}
