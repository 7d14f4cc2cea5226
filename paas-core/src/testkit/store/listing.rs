//! Checks of app listing: pagination, limits, filter, search and counts.

use super::world;
use crate::model::{AppId, AppStatus, Application};
use crate::ports::{AppQuery, Store};
use crate::testkit::check::{CheckResult, Failure, OrFail};
use crate::{ensure, ensure_eq};
use std::collections::BTreeMap;

/// Follows `next` cursors until the last page; fails on a loop or a runaway.
async fn all_pages(
    store: &dyn Store,
    check: &'static str,
    org: Option<crate::model::OrgId>,
    query: &AppQuery,
) -> Result<Vec<Vec<Application>>, Failure> {
    let mut pages = Vec::new();
    let mut q = query.clone();
    for _ in 0..100 {
        let page = match org {
            Some(org) => store.list_apps(org, &q).await.or_fail(check, "list_apps")?,
            None => store
                .list_apps_all(&q)
                .await
                .or_fail(check, "list_apps_all")?,
        };
        pages.push(page.items);
        match page.next {
            None => return Ok(pages),
            Some(next) => q.after = Some(next),
        }
    }
    Err(Failure::new(
        check,
        "pagination did not end after 100 pages",
    ))
}

fn ids(pages: &[Vec<Application>]) -> Vec<AppId> {
    pages.iter().flatten().map(|a| a.id).collect()
}

async fn apps(
    store: &dyn Store,
    check: &'static str,
    w: &super::World,
    org: crate::model::OrgId,
    slugs: &[&str],
) -> Result<Vec<Application>, Failure> {
    let mut out = Vec::new();
    for s in slugs {
        out.push(w.app_of(store, check, org, s).await?);
    }
    Ok(out)
}

/// Following `next` visits every matching app exactly once, by id, in pages of `limit`, and
/// the last page has no `next`; org-scoped and platform-wide.
pub async fn list_apps_pages_cover_everything_once(store: &dyn Store) -> CheckResult {
    const C: &str = "list_apps_pages_cover_everything_once";
    let w = world(store, C).await?;
    let mine = apps(
        store,
        C,
        &w,
        w.org.id,
        &["a1", "a2", "a3", "a4", "a5", "a6", "a7"],
    )
    .await?;
    let theirs = apps(store, C, &w, w.other.id, &["b1", "b2"]).await?;
    let q = AppQuery {
        limit: 3,
        ..AppQuery::default()
    };
    let pages = all_pages(store, C, Some(w.org.id), &q).await?;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    ensure_eq!(C, sizes, vec![3, 3, 1], "page sizes of 7 apps with limit 3");
    let mut expected: Vec<AppId> = mine.iter().map(|a| a.id).collect();
    expected.sort();
    ensure_eq!(
        C,
        ids(&pages),
        expected,
        "ids over all pages (each once, by id)"
    );
    let pages = all_pages(
        store,
        C,
        None,
        &AppQuery {
            limit: 4,
            ..AppQuery::default()
        },
    )
    .await?;
    let mut expected: Vec<AppId> = mine.iter().chain(&theirs).map(|a| a.id).collect();
    expected.sort();
    ensure_eq!(C, ids(&pages), expected, "list_apps_all ids over all pages");
    let first = store
        .list_apps(w.org.id, &q)
        .await
        .or_fail(C, "list_apps first page")?;
    let again = store
        .list_apps(w.org.id, &q)
        .await
        .or_fail(C, "list_apps first page again")?;
    ensure_eq!(
        C,
        again,
        first,
        "the same query twice (pages must be stable)"
    );
    Ok(())
}

/// A limit of 0 is taken as 1; a limit over 1000 is clamped, not refused.
pub async fn list_apps_limit_is_clamped(store: &dyn Store) -> CheckResult {
    const C: &str = "list_apps_limit_is_clamped";
    let w = world(store, C).await?;
    apps(store, C, &w, w.org.id, &["a1", "a2", "a3"]).await?;
    let zero = store
        .list_apps(
            w.org.id,
            &AppQuery {
                limit: 0,
                ..AppQuery::default()
            },
        )
        .await
        .or_fail(C, "list_apps limit 0")?;
    ensure_eq!(C, zero.items.len(), 1, "items with limit 0");
    ensure!(
        C,
        zero.next.is_some(),
        "limit 0 page has no next although 2 apps follow"
    );
    let big = store
        .list_apps(
            w.org.id,
            &AppQuery {
                limit: 50_000,
                ..AppQuery::default()
            },
        )
        .await
        .or_fail(C, "list_apps limit 50000")?;
    ensure_eq!(C, big.items.len(), 3, "items with limit 50000");
    ensure!(
        C,
        big.next.is_none(),
        "a page holding every app has a next cursor"
    );
    Ok(())
}

/// `status` keeps only apps in that status, across pages.
pub async fn list_apps_filters_by_status(store: &dyn Store) -> CheckResult {
    const C: &str = "list_apps_filters_by_status";
    let w = world(store, C).await?;
    let all = apps(store, C, &w, w.org.id, &["a1", "a2", "a3", "a4", "a5"]).await?;
    let mut running = Vec::new();
    for a in all.iter().step_by(2) {
        let mut a = a.clone();
        a.status = AppStatus::Running;
        running.push(
            store
                .update_app(&a)
                .await
                .or_fail(C, "update_app to running")?
                .id,
        );
    }
    running.sort();
    let q = AppQuery {
        status: Some(AppStatus::Running),
        limit: 2,
        ..AppQuery::default()
    };
    let pages = all_pages(store, C, Some(w.org.id), &q).await?;
    ensure_eq!(C, ids(&pages), running, "running apps over pages of 2");
    let q = AppQuery {
        status: Some(AppStatus::Stopped),
        ..AppQuery::default()
    };
    let page = store
        .list_apps(w.org.id, &q)
        .await
        .or_fail(C, "list_apps stopped")?;
    ensure!(
        C,
        page.items.is_empty(),
        "status stopped matched {} apps",
        page.items.len()
    );
    Ok(())
}

/// `search` matches name or slug, case-insensitively, and combines with the organisation.
pub async fn list_apps_searches_name_and_slug_case_insensitively(store: &dyn Store) -> CheckResult {
    const C: &str = "list_apps_searches_name_and_slug_case_insensitively";
    let w = world(store, C).await?;
    let named = [
        ("web-shop", "Web Shop"),
        ("blog", "My Blog"),
        ("api-gateway", "API"),
        ("sf1", "Storefront"),
    ];
    let mut by_slug = BTreeMap::new();
    for (slug, name) in named {
        let mut a = super::app(C, w.org.id, w.plan.id, slug)?;
        a.name = name.to_owned();
        store
            .create_app(&a)
            .await
            .or_fail(C, format!("create_app {slug}"))?;
        by_slug.insert(slug, a.id);
    }
    w.app_of(store, C, w.other.id, "shop-of-globex").await?;
    let cases: [(&str, &[&str]); 5] = [
        ("SHOP", &["web-shop"]),
        ("blog", &["blog"]),
        ("Gate", &["api-gateway"]),
        ("FRONT", &["sf1"]),
        ("nothing-like-this", &[]),
    ];
    for (needle, want) in cases {
        let q = AppQuery {
            search: Some(needle.to_owned()),
            ..AppQuery::default()
        };
        let page = store
            .list_apps(w.org.id, &q)
            .await
            .or_fail(C, format!("list_apps search {needle}"))?;
        let mut got: Vec<AppId> = page.items.iter().map(|a| a.id).collect();
        got.sort();
        let mut expected: Vec<AppId> = want
            .iter()
            .filter_map(|s| by_slug.get(s).copied())
            .collect();
        expected.sort();
        ensure_eq!(C, got, expected, "apps matching search {needle:?}");
    }
    let q = AppQuery {
        search: Some("shop".into()),
        ..AppQuery::default()
    };
    let everywhere = store
        .list_apps_all(&q)
        .await
        .or_fail(C, "list_apps_all search shop")?;
    ensure_eq!(
        C,
        everywhere.items.len(),
        2,
        "apps matching 'shop' platform-wide"
    );
    Ok(())
}

/// `count_apps` counts per status, for one organisation or the whole platform.
pub async fn count_apps_per_org_and_platform(store: &dyn Store) -> CheckResult {
    const C: &str = "count_apps_per_org_and_platform";
    let w = world(store, C).await?;
    let mine = apps(store, C, &w, w.org.id, &["a1", "a2", "a3"]).await?;
    apps(store, C, &w, w.other.id, &["b1", "b2"]).await?;
    let mut a1 = mine[0].clone();
    a1.status = AppStatus::Running;
    store
        .update_app(&a1)
        .await
        .or_fail(C, "update_app to running")?;
    let mut a2 = mine[1].clone();
    a2.status = AppStatus::Deleted;
    store
        .update_app(&a2)
        .await
        .or_fail(C, "update_app to deleted")?;
    let count = |m: &BTreeMap<AppStatus, u64>, s| m.get(&s).copied().unwrap_or(0);
    let org = store
        .count_apps(Some(w.org.id))
        .await
        .or_fail(C, "count_apps(org)")?;
    for (status, n) in [
        (AppStatus::Created, 1),
        (AppStatus::Running, 1),
        (AppStatus::Deleted, 1),
        (AppStatus::Stopped, 0),
    ] {
        ensure_eq!(
            C,
            count(&org, status),
            n,
            "{status} apps of the organisation"
        );
    }
    let all = store
        .count_apps(None)
        .await
        .or_fail(C, "count_apps(None)")?;
    for (status, n) in [
        (AppStatus::Created, 3),
        (AppStatus::Running, 1),
        (AppStatus::Deleted, 1),
    ] {
        ensure_eq!(C, count(&all, status), n, "{status} apps on the platform");
    }
    ensure_eq!(C, all.values().sum::<u64>(), 5, "apps on the platform");
    Ok(())
}
