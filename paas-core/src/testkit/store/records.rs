//! Checks of organisations, plans, apps and releases: uniqueness, versions, tenant scoping.

use super::{at, event, operation, org, plan, release, usage, world};
use crate::ErrorKind;
use crate::model::{AppStatus, OrgId};
use crate::ports::{AppQuery, Store};
use crate::testkit::check::{CheckResult, OrFail, expect_err};
use crate::{ensure, ensure_eq};

/// Organisations read back as written; `list_orgs_all` returns them all, by id.
pub async fn orgs_round_trip_and_list_by_id(store: &dyn Store) -> CheckResult {
    const C: &str = "orgs_round_trip_and_list_by_id";
    let mut orgs = vec![org(C, "one")?, org(C, "two")?, org(C, "three")?];
    for o in &orgs {
        store
            .create_org(o)
            .await
            .or_fail(C, format!("create_org {}", o.slug))?;
    }
    for o in &orgs {
        let got = store.get_org(o.id).await.or_fail(C, "get_org")?;
        ensure_eq!(C, got, *o, "get_org({}) after create_org", o.slug);
    }
    orgs.sort_by_key(|o| o.id);
    let listed = store.list_orgs_all().await.or_fail(C, "list_orgs_all")?;
    ensure_eq!(C, listed, orgs, "list_orgs_all (every org, by id)");
    expect_err(
        C,
        "get_org of an unknown id",
        store.get_org(OrgId::new()).await,
        ErrorKind::NotFound,
    )?;
    Ok(())
}

/// A second organisation with a taken slug or id is `Conflict`, and is not recorded.
pub async fn org_slug_and_id_are_unique(store: &dyn Store) -> CheckResult {
    const C: &str = "org_slug_and_id_are_unique";
    let first = org(C, "acme")?;
    store
        .create_org(&first)
        .await
        .or_fail(C, "create_org acme")?;
    let same_slug = org(C, "acme")?;
    expect_err(
        C,
        "create_org with a taken slug",
        store.create_org(&same_slug).await,
        ErrorKind::Conflict,
    )?;
    let mut same_id = org(C, "other")?;
    same_id.id = first.id;
    expect_err(
        C,
        "create_org with a taken id",
        store.create_org(&same_id).await,
        ErrorKind::Conflict,
    )?;
    let listed = store.list_orgs_all().await.or_fail(C, "list_orgs_all")?;
    ensure_eq!(
        C,
        listed,
        vec![first],
        "list_orgs_all after two refused creates"
    );
    Ok(())
}

/// Plans read back as written, are listed by name, and their names are unique.
pub async fn plans_are_unique_by_name_and_listed_by_name(store: &dyn Store) -> CheckResult {
    const C: &str = "plans_are_unique_by_name_and_listed_by_name";
    let plans = [plan("small"), plan("large"), plan("medium")];
    for p in &plans {
        store
            .create_plan(p)
            .await
            .or_fail(C, format!("create_plan {}", p.name))?;
        let got = store.get_plan(p.id).await.or_fail(C, "get_plan")?;
        ensure_eq!(C, got, *p, "get_plan({}) after create_plan", p.name);
    }
    expect_err(
        C,
        "create_plan with a taken name",
        store.create_plan(&plan("small")).await,
        ErrorKind::Conflict,
    )?;
    let names: Vec<String> = store
        .list_plans()
        .await
        .or_fail(C, "list_plans")?
        .into_iter()
        .map(|p| p.name)
        .collect();
    ensure_eq!(
        C,
        names,
        vec!["large", "medium", "small"],
        "list_plans names (by name)"
    );
    expect_err(
        C,
        "get_plan of an unknown id",
        store.get_plan(crate::model::PlanId::new()).await,
        ErrorKind::NotFound,
    )?;
    Ok(())
}

/// An app reads back exactly as written, with its version as given.
pub async fn app_round_trips(store: &dyn Store) -> CheckResult {
    const C: &str = "app_round_trips";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let got = store.get_app(w.org.id, a.id).await.or_fail(C, "get_app")?;
    ensure_eq!(C, got, a, "get_app after create_app");
    expect_err(
        C,
        "get_app of an unknown id",
        store.get_app(w.org.id, crate::model::AppId::new()).await,
        ErrorKind::NotFound,
    )?;
    Ok(())
}

/// A second live app with a taken slug (in any organisation) or a taken id is `Conflict`.
pub async fn app_slug_is_unique_among_live_apps(store: &dyn Store) -> CheckResult {
    const C: &str = "app_slug_is_unique_among_live_apps";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let twin = super::app(C, w.other.id, w.plan.id, "shop")?;
    expect_err(
        C,
        "create_app with a slug taken in another organisation",
        store.create_app(&twin).await,
        ErrorKind::Conflict,
    )?;
    let mut same_id = super::app(C, w.org.id, w.plan.id, "blog")?;
    same_id.id = a.id;
    expect_err(
        C,
        "create_app with a taken id",
        store.create_app(&same_id).await,
        ErrorKind::Conflict,
    )?;
    let all = store
        .list_apps_all(&AppQuery::default())
        .await
        .or_fail(C, "list_apps_all")?;
    ensure_eq!(C, all.items, vec![a], "apps after two refused creates");
    Ok(())
}

/// `update_app` stores the change with `version + 1` and returns what it stored.
pub async fn update_app_bumps_version(store: &dyn Store) -> CheckResult {
    const C: &str = "update_app_bumps_version";
    let w = world(store, C).await?;
    let mut a = w.app(store, C, "shop").await?;
    a.name = "Shop, renamed".into();
    a.status = AppStatus::Deploying;
    a.updated_at = at(10);
    let v2 = store
        .update_app(&a)
        .await
        .or_fail(C, "update_app at version 1")?;
    ensure_eq!(C, v2.version, 2, "version returned by the first update");
    let mut expected = a.clone();
    expected.version = 2;
    ensure_eq!(C, v2, expected, "app returned by update_app");
    let got = store.get_app(w.org.id, a.id).await.or_fail(C, "get_app")?;
    ensure_eq!(C, got, expected, "get_app after update_app");
    let v3 = store
        .update_app(&got)
        .await
        .or_fail(C, "update_app at version 2")?;
    ensure_eq!(C, v3.version, 3, "version returned by the second update");
    Ok(())
}

/// An update carrying a stale version is `Conflict` and changes nothing.
pub async fn stale_update_conflicts_and_changes_nothing(store: &dyn Store) -> CheckResult {
    const C: &str = "stale_update_conflicts_and_changes_nothing";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let mut first = a.clone();
    first.name = "first writer".into();
    let stored = store
        .update_app(&first)
        .await
        .or_fail(C, "first update_app")?;
    let mut second = a.clone();
    second.name = "second writer".into();
    second.replicas = 3;
    expect_err(
        C,
        "update_app with the stale version 1",
        store.update_app(&second).await,
        ErrorKind::Conflict,
    )?;
    let mut ahead = stored.clone();
    ahead.version = 7;
    expect_err(
        C,
        "update_app with a version from the future",
        store.update_app(&ahead).await,
        ErrorKind::Conflict,
    )?;
    let got = store.get_app(w.org.id, a.id).await.or_fail(C, "get_app")?;
    ensure_eq!(
        C,
        got,
        stored,
        "app after refused updates (must be the first writer's)"
    );
    Ok(())
}

/// An update may not take a slug another live app holds; freeing a slug by renaming works.
pub async fn update_app_keeps_slugs_unique(store: &dyn Store) -> CheckResult {
    const C: &str = "update_app_keeps_slugs_unique";
    let w = world(store, C).await?;
    let shop = w.app(store, C, "shop").await?;
    let blog = w.app(store, C, "blog").await?;
    let mut clash = blog.clone();
    clash.slug = shop.slug.clone();
    expect_err(
        C,
        "update_app to another live app's slug",
        store.update_app(&clash).await,
        ErrorKind::Conflict,
    )?;
    let mut renamed = shop.clone();
    renamed.slug = "shop-old".parse().or_fail(C, "slug")?;
    store
        .update_app(&renamed)
        .await
        .or_fail(C, "update_app renaming shop to shop-old")?;
    let mut take = blog.clone();
    take.slug = shop.slug.clone();
    store
        .update_app(&take)
        .await
        .or_fail(C, "update_app taking the freed slug 'shop'")?;
    Ok(())
}

/// `update_app` of an app under another organisation's id is `NotFound` and changes nothing.
pub async fn update_app_is_tenant_scoped(store: &dyn Store) -> CheckResult {
    const C: &str = "update_app_is_tenant_scoped";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let mut foreign = a.clone();
    foreign.org = w.other.id;
    foreign.name = "hijacked".into();
    expect_err(
        C,
        "update_app naming another organisation",
        store.update_app(&foreign).await,
        ErrorKind::NotFound,
    )?;
    let got = store.get_app(w.org.id, a.id).await.or_fail(C, "get_app")?;
    ensure_eq!(C, got, a, "app after an update under another organisation");
    let mut ghost = super::app(C, w.org.id, w.plan.id, "ghost")?;
    ghost.version = 1;
    expect_err(
        C,
        "update_app of an app never created",
        store.update_app(&ghost).await,
        ErrorKind::NotFound,
    )?;
    Ok(())
}

/// Every read that takes an organisation hides another organisation's records (`NotFound`
/// for single records and per-app lists; absent from org-wide lists and counts).
pub async fn reads_are_tenant_scoped(store: &dyn Store) -> CheckResult {
    const C: &str = "reads_are_tenant_scoped";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    store
        .create_release(&release(&a, 1))
        .await
        .or_fail(C, "create_release")?;
    let op = operation(&a, 0);
    store.enqueue(&op).await.or_fail(C, "enqueue")?;
    store
        .append_event(&event(&a, "build"))
        .await
        .or_fail(C, "append_event")?;
    store
        .record_usage(&usage(&a, 0))
        .await
        .or_fail(C, "record_usage")?;
    let o = w.other.id;
    expect_err(
        C,
        "get_app from another organisation",
        store.get_app(o, a.id).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        C,
        "get_release from another organisation",
        store.get_release(o, a.id, 1).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        C,
        "list_releases from another organisation",
        store.list_releases(o, a.id).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        C,
        "get_operation from another organisation",
        store.get_operation(o, op.id).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        C,
        "list_operations from another organisation",
        store.list_operations(o, a.id, 10).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        C,
        "list_events from another organisation",
        store.list_events(o, a.id, 0, 10).await,
        ErrorKind::NotFound,
    )?;
    let page = store
        .list_apps(
            o,
            &AppQuery {
                include_deleted: true,
                ..AppQuery::default()
            },
        )
        .await
        .or_fail(C, "list_apps")?;
    ensure!(
        C,
        page.items.is_empty(),
        "list_apps of another organisation shows {} apps",
        page.items.len()
    );
    let counts = store.count_apps(Some(o)).await.or_fail(C, "count_apps")?;
    ensure!(
        C,
        counts.values().all(|n| *n == 0),
        "count_apps of another organisation: {counts:?}"
    );
    let used = store
        .list_usage(o, at(-3600), at(3600))
        .await
        .or_fail(C, "list_usage")?;
    ensure!(
        C,
        used.is_empty(),
        "list_usage of another organisation shows {} records",
        used.len()
    );
    // The owner still sees everything.
    store
        .get_app(w.org.id, a.id)
        .await
        .or_fail(C, "get_app by the owner")?;
    store
        .get_operation(w.org.id, op.id)
        .await
        .or_fail(C, "get_operation by the owner")?;
    Ok(())
}

/// Writes that name an app under another organisation are `NotFound` and record nothing.
pub async fn writes_for_another_orgs_app_are_not_found(store: &dyn Store) -> CheckResult {
    const C: &str = "writes_for_another_orgs_app_are_not_found";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let mut foreign = a.clone();
    foreign.org = w.other.id;
    expect_err(
        C,
        "enqueue for another organisation's app",
        store.enqueue(&operation(&foreign, 0)).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        C,
        "create_release for another organisation's app",
        store.create_release(&release(&foreign, 1)).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        C,
        "append_event for another organisation's app",
        store.append_event(&event(&foreign, "x")).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        C,
        "record_usage for another organisation's app",
        store.record_usage(&usage(&foreign, 0)).await,
        ErrorKind::NotFound,
    )?;
    ensure_eq!(
        C,
        store
            .count_unfinished_operations()
            .await
            .or_fail(C, "count_unfinished_operations")?,
        0,
        "unfinished operations"
    );
    ensure!(
        C,
        store
            .list_releases(a.org, a.id)
            .await
            .or_fail(C, "list_releases")?
            .is_empty(),
        "a release was recorded"
    );
    ensure!(
        C,
        store
            .list_events(a.org, a.id, 0, 10)
            .await
            .or_fail(C, "list_events")?
            .is_empty(),
        "an event was recorded"
    );
    Ok(())
}

/// Deleted apps are left out of lists unless asked for, and their slug can be reused; a
/// deleted app cannot come back under a slug a live app now holds.
pub async fn deleted_apps_are_hidden_and_free_their_slug(store: &dyn Store) -> CheckResult {
    const C: &str = "deleted_apps_are_hidden_and_free_their_slug";
    let w = world(store, C).await?;
    let mut old = w.app(store, C, "shop").await?;
    old.status = AppStatus::Deleted;
    let old = store
        .update_app(&old)
        .await
        .or_fail(C, "update_app to deleted")?;
    let page = store
        .list_apps(w.org.id, &AppQuery::default())
        .await
        .or_fail(C, "list_apps")?;
    ensure!(
        C,
        page.items.is_empty(),
        "list_apps shows the deleted app by default"
    );
    let all = store
        .list_apps_all(&AppQuery::default())
        .await
        .or_fail(C, "list_apps_all")?;
    ensure!(
        C,
        all.items.is_empty(),
        "list_apps_all shows the deleted app by default"
    );
    let with = AppQuery {
        include_deleted: true,
        ..AppQuery::default()
    };
    let page = store
        .list_apps(w.org.id, &with)
        .await
        .or_fail(C, "list_apps include_deleted")?;
    ensure_eq!(
        C,
        page.items,
        vec![old.clone()],
        "list_apps with include_deleted"
    );
    let new = w.app_of(store, C, w.other.id, "shop").await?;
    let page = store
        .list_apps_all(&AppQuery::default())
        .await
        .or_fail(C, "list_apps_all")?;
    ensure_eq!(C, page.items, vec![new], "live apps after reusing the slug");
    let mut revive = old.clone();
    revive.status = AppStatus::Created;
    expect_err(
        C,
        "update_app reviving a deleted app whose slug is taken",
        store.update_app(&revive).await,
        ErrorKind::Conflict,
    )?;
    let got = store
        .get_app(w.org.id, old.id)
        .await
        .or_fail(C, "get_app of the deleted app")?;
    ensure_eq!(C, got, old, "a deleted app stays readable");
    Ok(())
}

/// Release numbers are unique per app (not across apps); releases read back, are listed by
/// number, and an unknown number is `NotFound`.
pub async fn releases_are_unique_per_app_and_listed_by_number(store: &dyn Store) -> CheckResult {
    const C: &str = "releases_are_unique_per_app_and_listed_by_number";
    let w = world(store, C).await?;
    let a = w.app(store, C, "shop").await?;
    let b = w.app(store, C, "blog").await?;
    let rels = [release(&a, 2), release(&a, 1), release(&a, 3)];
    for r in &rels {
        store
            .create_release(r)
            .await
            .or_fail(C, format!("create_release {}", r.number))?;
    }
    expect_err(
        C,
        "create_release with a taken number",
        store.create_release(&release(&a, 2)).await,
        ErrorKind::Conflict,
    )?;
    store
        .create_release(&release(&b, 2))
        .await
        .or_fail(C, "create_release 2 of another app")?;
    let got = store
        .get_release(a.org, a.id, 1)
        .await
        .or_fail(C, "get_release 1")?;
    ensure_eq!(C, got, rels[1], "get_release 1");
    let numbers: Vec<u32> = store
        .list_releases(a.org, a.id)
        .await
        .or_fail(C, "list_releases")?
        .iter()
        .map(|r| r.number)
        .collect();
    ensure_eq!(
        C,
        numbers,
        vec![1, 2, 3],
        "list_releases numbers (by number, this app only)"
    );
    expect_err(
        C,
        "get_release of an unknown number",
        store.get_release(a.org, a.id, 9).await,
        ErrorKind::NotFound,
    )?;
    Ok(())
}
