//! Organisations, plans, apps, releases, events and usage of the in-memory store, with the
//! indexes that enforce uniqueness and tenant scoping.

use crate::model::{
    AppId, AppStatus, Application, Event, NewEvent, OrgId, Organization, Plan, PlanId, Release,
    ReleaseId, Slug, Timestamp, UsageRecord,
};
use crate::ports::{AppQuery, Page};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

#[derive(Debug, Default)]
pub(super) struct Records {
    orgs: BTreeMap<OrgId, Organization>,
    org_slugs: HashMap<Slug, OrgId>,
    plans: BTreeMap<PlanId, Plan>,
    plan_names: HashMap<String, PlanId>,
    apps: BTreeMap<AppId, Application>,
    apps_by_org: HashMap<OrgId, BTreeSet<AppId>>,
    /// Slugs of apps not deleted.
    live_slugs: HashMap<Slug, AppId>,
    releases: BTreeMap<(AppId, u32), Release>,
    release_ids: HashSet<ReleaseId>,
    events: HashMap<AppId, Vec<Event>>,
    usage: BTreeMap<(Timestamp, AppId), UsageRecord>,
}

/// The cursor of a page is the last item's id, with a marker so a cursor from elsewhere is
/// told apart from a corrupted one.
const CURSOR_PREFIX: &str = "app:";

fn parse_cursor(cursor: &str) -> Result<AppId> {
    cursor
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "'{}' is not a page cursor: pass the `next` of the previous page unchanged",
                cursor.escape_debug()
            ))
        })
}

fn matches(app: &Application, query: &AppQuery, needle: Option<&str>) -> bool {
    (query.include_deleted || app.status != AppStatus::Deleted)
        && query.status.is_none_or(|s| app.status == s)
        && needle
            .is_none_or(|n| app.name.to_lowercase().contains(n) || app.slug.as_str().contains(n))
}

impl Records {
    pub(super) fn create_org(&mut self, org: &Organization) -> Result<()> {
        if self.orgs.contains_key(&org.id) {
            return Err(Error::conflict(format!(
                "organisation {} already exists",
                org.id
            )));
        }
        if self.org_slugs.contains_key(&org.slug) {
            return Err(Error::conflict(format!(
                "an organisation with slug '{}' already exists: choose another slug",
                org.slug
            )));
        }
        self.org_slugs.insert(org.slug.clone(), org.id);
        self.orgs.insert(org.id, org.clone());
        Ok(())
    }

    pub(super) fn get_org(&self, id: OrgId) -> Result<Organization> {
        self.orgs
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("organisation {id} does not exist")))
    }

    pub(super) fn list_orgs(&self) -> Vec<Organization> {
        self.orgs.values().cloned().collect()
    }

    pub(super) fn create_plan(&mut self, plan: &Plan) -> Result<()> {
        if self.plans.contains_key(&plan.id) {
            return Err(Error::conflict(format!("plan {} already exists", plan.id)));
        }
        if self.plan_names.contains_key(&plan.name) {
            return Err(Error::conflict(format!(
                "a plan named '{}' already exists: plan names are unique",
                plan.name
            )));
        }
        self.plan_names.insert(plan.name.clone(), plan.id);
        self.plans.insert(plan.id, plan.clone());
        Ok(())
    }

    pub(super) fn get_plan(&self, id: PlanId) -> Result<Plan> {
        self.plans
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("plan {id} does not exist")))
    }

    pub(super) fn list_plans(&self) -> Vec<Plan> {
        let mut plans: Vec<Plan> = self.plans.values().cloned().collect();
        plans.sort_by(|a, b| a.name.cmp(&b.name));
        plans
    }

    fn slug_taken_by_other(&self, slug: &Slug, me: AppId) -> bool {
        self.live_slugs
            .get(slug)
            .is_some_and(|holder| *holder != me)
    }

    pub(super) fn create_app(&mut self, app: &Application) -> Result<()> {
        if self.apps.contains_key(&app.id) {
            return Err(Error::conflict(format!("app {} already exists", app.id)));
        }
        let live = app.status != AppStatus::Deleted;
        if live && self.slug_taken_by_other(&app.slug, app.id) {
            return Err(Error::conflict(format!(
                "an app with slug '{}' already exists: choose another slug",
                app.slug
            )));
        }
        if live {
            self.live_slugs.insert(app.slug.clone(), app.id);
        }
        self.apps_by_org.entry(app.org).or_default().insert(app.id);
        self.apps.insert(app.id, app.clone());
        Ok(())
    }

    /// An app of `org`; another organisation's app is not found.
    pub(super) fn app(&self, org: OrgId, id: AppId) -> Result<&Application> {
        self.apps.get(&id).filter(|a| a.org == org).ok_or_else(|| {
            Error::not_found(format!("app {id} does not exist in organisation {org}"))
        })
    }

    pub(super) fn update_app(&mut self, app: &Application) -> Result<Application> {
        let stored = self.app(app.org, app.id)?;
        if stored.version != app.version {
            return Err(Error::conflict(format!(
                "app '{}' was changed concurrently (stored version {}, given {}): read it again \
                 and reapply the change",
                stored.slug, stored.version, app.version
            )));
        }
        let live = app.status != AppStatus::Deleted;
        if live && self.slug_taken_by_other(&app.slug, app.id) {
            return Err(Error::conflict(format!(
                "an app with slug '{}' already exists: choose another slug",
                app.slug
            )));
        }
        let old_slug = stored.slug.clone();
        if self.live_slugs.get(&old_slug) == Some(&app.id) {
            self.live_slugs.remove(&old_slug);
        }
        if live {
            self.live_slugs.insert(app.slug.clone(), app.id);
        }
        let mut updated = app.clone();
        updated.version = app.version.saturating_add(1);
        self.apps.insert(app.id, updated.clone());
        Ok(updated)
    }

    pub(super) fn list_apps(
        &self,
        org: Option<OrgId>,
        query: &AppQuery,
    ) -> Result<Page<Application>> {
        let after = query.after.as_deref().map(parse_cursor).transpose()?;
        let limit = query.effective_limit();
        let needle = query.search.as_ref().map(|s| s.to_lowercase());
        let mut items = Vec::with_capacity(limit.min(64));
        let mut more = false;
        let mut take = |app: &Application| {
            if !matches(app, query, needle.as_deref()) {
                return true;
            }
            if items.len() == limit {
                more = true;
                return false;
            }
            items.push(app.clone());
            true
        };
        let lower = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        match org {
            Some(org) => {
                if let Some(ids) = self.apps_by_org.get(&org) {
                    for id in ids.range((lower, std::ops::Bound::Unbounded)) {
                        if let Some(app) = self.apps.get(id)
                            && !take(app)
                        {
                            break;
                        }
                    }
                }
            }
            None => {
                for app in self
                    .apps
                    .range((lower, std::ops::Bound::Unbounded))
                    .map(|(_, a)| a)
                {
                    if !take(app) {
                        break;
                    }
                }
            }
        }
        let next = if more {
            items.last().map(|a| format!("{CURSOR_PREFIX}{}", a.id))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    pub(super) fn count_apps(&self, org: Option<OrgId>) -> BTreeMap<AppStatus, u64> {
        let mut counts = BTreeMap::new();
        for app in self
            .apps
            .values()
            .filter(|a| org.is_none_or(|o| a.org == o))
        {
            *counts.entry(app.status).or_insert(0) += 1;
        }
        counts
    }

    pub(super) fn create_release(&mut self, release: &Release) -> Result<()> {
        self.app(release.org, release.app)?;
        let key = (release.app, release.number);
        if self.releases.contains_key(&key) {
            return Err(Error::conflict(format!(
                "release {} of app {} already exists: release numbers are unique per app",
                release.number, release.app
            )));
        }
        if self.release_ids.contains(&release.id) {
            return Err(Error::conflict(format!(
                "release {} already exists",
                release.id
            )));
        }
        self.release_ids.insert(release.id);
        self.releases.insert(key, release.clone());
        Ok(())
    }

    pub(super) fn get_release(&self, org: OrgId, app: AppId, number: u32) -> Result<Release> {
        self.app(org, app)?;
        self.releases
            .get(&(app, number))
            .cloned()
            .ok_or_else(|| Error::not_found(format!("app {app} has no release {number}")))
    }

    pub(super) fn list_releases(&self, org: OrgId, app: AppId) -> Result<Vec<Release>> {
        self.app(org, app)?;
        Ok(self
            .releases
            .range((app, 0)..=(app, u32::MAX))
            .map(|(_, r)| r.clone())
            .collect())
    }

    pub(super) fn append_event(&mut self, event: &NewEvent) -> Result<Event> {
        self.app(event.org, event.app)?;
        let history = self.events.entry(event.app).or_default();
        let stored = Event {
            seq: history.len() as u64 + 1,
            org: event.org,
            app: event.app,
            operation: event.operation,
            at: event.at,
            level: event.level,
            step: event.step.clone(),
            message: event.message.clone(),
        };
        history.push(stored.clone());
        Ok(stored)
    }

    pub(super) fn list_events(
        &self,
        org: OrgId,
        app: AppId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>> {
        self.app(org, app)?;
        let history = self.events.get(&app).map(Vec::as_slice).unwrap_or_default();
        // seq n sits at index n - 1.
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(history.len());
        Ok(history[start..].iter().take(limit).cloned().collect())
    }

    pub(super) fn record_usage(&mut self, usage: &UsageRecord) -> Result<bool> {
        self.app(usage.org, usage.app)?;
        let key = (usage.hour, usage.app);
        if self.usage.contains_key(&key) {
            return Ok(false);
        }
        self.usage.insert(key, usage.clone());
        Ok(true)
    }

    pub(super) fn list_usage(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<UsageRecord> {
        if from >= to {
            return Vec::new();
        }
        self.usage
            .range(
                (from, AppId::from_uuid(uuid::Uuid::nil()))
                    ..(to, AppId::from_uuid(uuid::Uuid::nil())),
            )
            .map(|(_, u)| u)
            .filter(|u| u.org == org)
            .cloned()
            .collect()
    }
}
