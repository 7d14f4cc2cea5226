//! The non-operation API: orgs, plans, apps, env, domains, events stream, overview.

mod engine_support;

use engine_support::Env;
use futures::StreamExt;
use paas_core::ErrorKind;
use paas_core::engine::NewPlan;
use paas_core::model::{AppStatus, DomainState, Money};
use paas_core::ports::AppQuery;
use std::time::Duration;

#[tokio::test]
async fn overview_on_an_empty_platform() {
    let env = Env::new().await;
    let o = env.platform.overview().await.unwrap();
    assert_eq!(o.apps_total, 0);
    assert_eq!(o.apps_by_status.len(), AppStatus::ALL.len());
    assert!(o.apps_by_status.values().all(|n| *n == 0));
    assert_eq!(o.nodes.len(), 3);
    assert!(
        o.nodes
            .iter()
            .all(|n| n.guests == 0 && n.memory_used_percent == 0.0)
    );
    assert_eq!(o.usage_today, Money::ZERO);
    assert_eq!(o.unfinished_operations, 0);
}

#[tokio::test]
async fn overview_counts_apps_and_load() {
    let env = Env::new().await;
    let a = env.lxc_app("a").await;
    env.lxc_app("b").await;
    env.ok(env.platform.deploy(env.org, a.id).await.unwrap())
        .await;
    let o = env.platform.overview().await.unwrap();
    assert_eq!(o.apps_total, 2);
    assert_eq!(o.apps_by_status[&AppStatus::Running], 1);
    assert_eq!(o.apps_by_status[&AppStatus::Created], 1);
    assert_eq!(o.nodes.iter().map(|n| n.guests).sum::<u64>(), 1);
    assert!(o.nodes.iter().any(|n| n.memory_used_percent > 0.0));
}

#[tokio::test]
async fn events_stream_history_then_live() {
    let env = Env::new().await;
    let app = env.lxc_app("shop").await;
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;
    let history = env.events(app.id).await.len() as u64;
    let mut stream = Box::pin(env.platform.events(env.org, app.id).await.unwrap());
    for seq in 1..=history {
        assert_eq!(stream.next().await.unwrap().unwrap().seq, seq);
    }
    // Live: an operation run now shows up on the open stream.
    env.ok(env.platform.stop(env.org, app.id).await.unwrap())
        .await;
    let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.seq, history + 1);
    let mut steps = vec![next.step];
    while steps.last().map(String::as_str) != Some("done") {
        let e = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        steps.push(e.step);
    }
    assert!(steps.contains(&"stop".to_owned()));
    // Resuming after a seq.
    let mut tail = Box::pin(
        env.platform
            .events_after(env.org, app.id, history)
            .await
            .unwrap(),
    );
    assert_eq!(tail.next().await.unwrap().unwrap().seq, history + 1);
}

#[tokio::test]
async fn apps_list_filter_and_search() {
    let env = Env::new().await;
    for name in ["alpha shop", "beta shop", "gamma"] {
        env.lxc_app(name).await;
    }
    let shops = env
        .platform
        .apps(
            env.org,
            &AppQuery {
                search: Some("shop".into()),
                ..AppQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(shops.items.len(), 2);
    let page = env
        .platform
        .apps(
            env.org,
            &AppQuery {
                limit: 2,
                ..AppQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.next.is_some());
}

#[tokio::test]
async fn slugs_domains_and_env_rules() {
    let env = Env::new().await;
    let app = env.lxc_app("Shop API").await;
    assert_eq!(app.slug.as_str(), "shop-api");
    let dup = env
        .platform
        .create_app(
            env.org,
            paas_core::NewApp::new("shop api", app.runtime.clone(), env.plan.id),
        )
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::Conflict);

    let d = env
        .platform
        .add_domain(env.org, app.id, "shop.example.com".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(d.state, DomainState::Pending);
    assert!(d.verification_token.starts_with("paas-verify-"));
    let again = env
        .platform
        .add_domain(env.org, app.id, "SHOP.example.com".parse().unwrap())
        .await;
    assert_eq!(again.unwrap_err().kind(), ErrorKind::Conflict);
    env.platform
        .remove_domain(env.org, app.id, &"shop.example.com".parse().unwrap())
        .await
        .unwrap();
    let gone = env
        .platform
        .remove_domain(env.org, app.id, &"shop.example.com".parse().unwrap())
        .await;
    assert_eq!(gone.unwrap_err().kind(), ErrorKind::NotFound);

    env.platform
        .unset_env(env.org, app.id, &"NOPE".parse().unwrap())
        .await
        .unwrap();
    let bad_plan = env
        .platform
        .create_plan(NewPlan::new("zero", 0, 0, 0, Money::ZERO))
        .await;
    assert_eq!(bad_plan.unwrap_err().kind(), ErrorKind::InvalidInput);
    assert!(env.platform.create_org("!!!").await.is_err());
}
