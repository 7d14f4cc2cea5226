//! The reconciler: compares the records with what the backends report, kube-controller style.
//!
//! It corrects status drift, marks records whose guest or service is gone as `Lost`, reports
//! managed guests and services without a record (adoptable with [`Platform::adopt`]) and
//! guests the platform does not manage (importable with [`Platform::import_guest`]). It never
//! destroys anything, and leaves alone apps with an operation in flight.

use super::platform::Platform;
use crate::model::{
    AppId, AppStatus, Application, EventLevel, OrgId, Placement, PlanId, Runtime, Slug, Vmid,
};
use crate::ports::{AppQuery, Guest, GuestKind, GuestState, Service, app_from_tags};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

/// A record the reconciler changed to match the backend.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Correction {
    /// Owning organisation.
    pub org: OrgId,
    /// The app.
    pub app: AppId,
    /// Status before.
    pub from: AppStatus,
    /// Status after.
    pub to: AppStatus,
    /// What the backend said.
    pub reason: String,
}

/// A guest or a service as a backend reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Workload {
    /// A Proxmox guest.
    Guest(Guest),
    /// A Swarm service.
    Service(Service),
}

/// A managed guest or service with no live record: the platform created it, but no app that
/// is deployed points at it (a deploy whose record was lost, a restored database, ...).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Adoptable {
    /// The app its tags or labels name, if any.
    pub app: Option<AppId>,
    /// What the backend reports.
    pub workload: Workload,
}

/// What one reconcile pass found and did, and when to look again.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReconcileReport {
    /// App records compared.
    pub apps_checked: usize,
    /// Guests the provisioner listed.
    pub guests_seen: usize,
    /// Services the orchestrator listed.
    pub services_seen: usize,
    /// Records corrected (status drift, lost workloads, moved guests).
    pub corrected: Vec<Correction>,
    /// Managed workloads without a live record.
    pub adoptable: Vec<Adoptable>,
    /// Guests the platform does not manage and no record points at.
    pub importable: Vec<Guest>,
    /// Apps skipped because an operation is in flight.
    pub busy: Vec<AppId>,
    /// Corrections that could not be written (retried next pass).
    pub errors: Vec<String>,
    /// Look again this soon (something was busy or failed); `None`: at the usual interval.
    pub requeue_after: Option<Duration>,
}

/// What the backend says about an app's workload.
enum Seen<'a> {
    Guest(&'a Guest),
    Service(&'a Service),
    Gone,
}

/// Options of [`Platform::import_guest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportGuest {
    /// The guest's VMID on the cluster.
    pub vmid: Vmid,
    /// Display name of the new app (default: the guest's name).
    pub name: Option<String>,
    /// Plan to record it on.
    pub plan: PlanId,
}

fn guest_drift(app: &Application, g: &Guest) -> Option<(AppStatus, String)> {
    let observed = match g.state {
        GuestState::Running => AppStatus::Running,
        GuestState::Stopped => AppStatus::Stopped,
        GuestState::Unknown => return None,
    };
    let differs = match app.status {
        AppStatus::Running | AppStatus::Stopped | AppStatus::Lost => app.status != observed,
        _ => false,
    };
    differs.then(|| {
        (
            observed,
            format!("guest {} is {:?}", g.guest.vmid, g.state).to_lowercase(),
        )
    })
}

fn service_drift(app: &Application, s: &Service) -> Option<(AppStatus, String)> {
    let observed = if s.replicas_desired == 0 {
        AppStatus::Stopped
    } else {
        AppStatus::Running
    };
    let differs = match app.status {
        AppStatus::Running | AppStatus::Stopped | AppStatus::Lost => app.status != observed,
        _ => false,
    };
    differs.then(|| {
        (
            observed,
            format!("service {} wants {} replica(s)", s.name, s.replicas_desired),
        )
    })
}

impl Platform {
    async fn all_apps(&self) -> Result<Vec<Application>> {
        let mut out = Vec::new();
        let mut query = AppQuery {
            limit: 1000,
            ..AppQuery::default()
        };
        loop {
            let page = self.store().list_apps_all(&query).await?;
            out.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// One reconcile pass. Backend calls: one `list` per backend, whatever the number of apps.
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let apps = self.all_apps().await?;
        let guests = match &self.inner.provisioner {
            Some(p) => p.list().await?,
            None => Vec::new(),
        };
        let services = match &self.inner.orchestrator {
            Some(o) => o.list().await?,
            None => Vec::new(),
        };
        let mut report = ReconcileReport {
            apps_checked: apps.len(),
            guests_seen: guests.len(),
            services_seen: services.len(),
            ..ReconcileReport::default()
        };

        let mut guest_by_app: HashMap<AppId, &Guest> = HashMap::with_capacity(guests.len());
        let mut guest_by_vmid: HashMap<u32, &Guest> = HashMap::with_capacity(guests.len());
        for g in &guests {
            if g.is_managed()
                && let Some(app) = app_from_tags(&g.tags)
            {
                guest_by_app.insert(app, g);
            }
            guest_by_vmid.insert(g.guest.vmid.get(), g);
        }
        let mut svc_by_app: HashMap<AppId, &Service> = HashMap::with_capacity(services.len());
        let mut svc_by_name: HashMap<&str, &Service> = HashMap::with_capacity(services.len());
        for s in &services {
            if let Some(app) = s.app {
                svc_by_app.insert(app, s);
            }
            svc_by_name.insert(s.name.as_str(), s);
        }

        // Apps whose records account for a workload (in flight ones too: never report those).
        let mut accounted: HashSet<AppId> = HashSet::with_capacity(apps.len());
        let mut recorded_vmids: HashSet<u32> = HashSet::with_capacity(apps.len());
        let mut candidates: Vec<(&Application, AppStatus, String, Option<Placement>)> = Vec::new();

        for app in &apps {
            if let Some(Placement::Guest { vmid, .. }) = &app.placement {
                recorded_vmids.insert(vmid.get());
            }
            let seen = if app.runtime.is_proxmox() {
                let by_vmid = || match &app.placement {
                    Some(Placement::Guest { vmid, .. }) => guest_by_vmid
                        .get(&vmid.get())
                        .filter(|g| app_from_tags(&g.tags).is_none_or(|a| a == app.id))
                        .copied(),
                    _ => None,
                };
                guest_by_app
                    .get(&app.id)
                    .copied()
                    .or_else(by_vmid)
                    .map_or(Seen::Gone, Seen::Guest)
            } else {
                svc_by_app
                    .get(&app.id)
                    .copied()
                    .or_else(|| svc_by_name.get(app.slug.as_str()).copied())
                    .map_or(Seen::Gone, Seen::Service)
            };
            match app.status {
                AppStatus::Deploying | AppStatus::Deleting => {
                    accounted.insert(app.id);
                    report.busy.push(app.id);
                    continue;
                }
                AppStatus::Running
                | AppStatus::Stopped
                | AppStatus::Suspended
                | AppStatus::Lost => {
                    if !matches!(seen, Seen::Gone) {
                        accounted.insert(app.id);
                    }
                }
                // Created, Failed, Deleted: nothing should run; a workload found is adoptable.
                _ => continue,
            }
            let change = match seen {
                Seen::Gone if app.status != AppStatus::Lost => Some((
                    AppStatus::Lost,
                    if app.runtime.is_proxmox() {
                        "its guest no longer exists on the cluster".to_owned()
                    } else {
                        "its service no longer exists on the cluster".to_owned()
                    },
                    None,
                )),
                Seen::Gone => None,
                Seen::Guest(g) => {
                    let moved = match &app.placement {
                        Some(Placement::Guest {
                            node,
                            vmid,
                            addresses,
                        }) if *node != g.guest.node => Some(Placement::Guest {
                            node: g.guest.node.clone(),
                            vmid: *vmid,
                            addresses: addresses.clone(),
                        }),
                        _ => None,
                    };
                    match (guest_drift(app, g), moved) {
                        (Some((to, why)), moved) => Some((to, why, moved)),
                        (None, Some(moved)) => Some((
                            app.status,
                            format!("guest moved to {}", g.guest.node),
                            Some(moved),
                        )),
                        (None, None) => None,
                    }
                }
                Seen::Service(s) => service_drift(app, s).map(|(to, why)| (to, why, None)),
            };
            if let Some((to, why, placement)) = change
                && app.status.can_become(to)
            {
                candidates.push((app, to, why, placement));
            }
        }

        for (app, to, why, placement) in candidates {
            match self.apply_correction(app, to, &why, placement).await {
                Ok(true) => report.corrected.push(Correction {
                    org: app.org,
                    app: app.id,
                    from: app.status,
                    to,
                    reason: why,
                }),
                Ok(false) => report.busy.push(app.id),
                Err(e) => report.errors.push(format!("app {}: {e}", app.id)),
            }
        }

        for g in &guests {
            if g.template {
                continue;
            }
            if g.is_managed() {
                let app = app_from_tags(&g.tags);
                if app.is_none_or(|a| !accounted.contains(&a)) {
                    report.adoptable.push(Adoptable {
                        app,
                        workload: Workload::Guest(g.clone()),
                    });
                }
            } else if !recorded_vmids.contains(&g.guest.vmid.get()) {
                report.importable.push(g.clone());
            }
        }
        for s in &services {
            if s.app.is_none_or(|a| !accounted.contains(&a)) {
                report.adoptable.push(Adoptable {
                    app: s.app,
                    workload: Workload::Service(s.clone()),
                });
            }
        }
        if !report.errors.is_empty() || !report.busy.is_empty() {
            report.requeue_after = Some(Duration::from_secs(10));
        }
        Ok(report)
    }

    /// Writes one correction unless an operation is in flight or the record changed since it
    /// was read; `Ok(false)` when skipped.
    async fn apply_correction(
        &self,
        app: &Application,
        to: AppStatus,
        why: &str,
        placement: Option<Placement>,
    ) -> Result<bool> {
        // Operations run in order per app, so the newest one is unfinished if any is.
        let newest = self.store().list_operations(app.org, app.id, 1).await?;
        if newest.first().is_some_and(|o| !o.state.is_finished()) {
            return Ok(false);
        }
        let expected = app.status;
        let reason = why.to_owned();
        let result = self
            .modify_app(app.org, app.id, |a| {
                if a.status != expected {
                    return Err(Error::conflict("changed since the reconciler read it"));
                }
                a.status = to;
                if let Some(p) = &placement {
                    a.placement = Some(p.clone());
                }
                a.status_reason = Some(format!("reconciler: {reason}"));
                Ok(())
            })
            .await;
        match result {
            Ok(_) => {}
            Err(e) if e.is_conflict() => return Ok(false),
            Err(e) => return Err(e),
        }
        self.emit(
            app.org,
            app.id,
            None,
            if to == AppStatus::Lost {
                EventLevel::Warn
            } else {
                EventLevel::Info
            },
            "reconcile",
            format!("{} -> {to}: {why}", app.status),
        )
        .await?;
        Ok(true)
    }

    /// Reconciles now and then every `interval` until `shutdown` completes; a pass that asks
    /// to be requeued sooner is. Errors are logged, and the next pass tries again.
    pub async fn reconcile_every(
        &self,
        interval: Duration,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        loop {
            let wait = match self.reconcile().await {
                Ok(report) => {
                    if !report.corrected.is_empty() {
                        tracing::info!(
                            corrected = report.corrected.len(),
                            "reconciler corrected records"
                        );
                    }
                    report.requeue_after.map_or(interval, |r| r.min(interval))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reconcile pass failed");
                    interval
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Attaches a managed guest or service to the app its tags name, when that app's record
    /// has no workload (Created, Failed or Lost): the app becomes Running or Stopped as the
    /// backend reports. `NotFound` if no managed workload names the app.
    pub async fn adopt(&self, org: OrgId, app_id: AppId) -> Result<Application> {
        let app = self.store().get_app(org, app_id).await?;
        if !matches!(
            app.status,
            AppStatus::Created | AppStatus::Failed | AppStatus::Lost
        ) {
            return Err(Error::invalid_input(format!(
                "app '{}' is {}: only an app without a workload (created, failed or lost) can \
                 adopt one",
                app.slug, app.status
            )));
        }
        let (placement, status) = if app.runtime.is_proxmox() {
            let guests = self.provisioner()?.list().await?;
            let g = guests
                .into_iter()
                .find(|g| g.is_managed() && app_from_tags(&g.tags) == Some(app_id))
                .ok_or_else(|| {
                    Error::not_found(format!("no managed guest is tagged for app '{}'", app.slug))
                })?;
            let status = if g.state == GuestState::Running {
                AppStatus::Running
            } else {
                AppStatus::Stopped
            };
            (
                Placement::Guest {
                    node: g.guest.node,
                    vmid: g.guest.vmid,
                    addresses: Vec::new(),
                },
                status,
            )
        } else {
            let services = self.orchestrator()?.list().await?;
            let s = services
                .into_iter()
                .find(|s| s.app == Some(app_id))
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "no managed service is labelled for app '{}'",
                        app.slug
                    ))
                })?;
            let status = if s.replicas_desired == 0 {
                AppStatus::Stopped
            } else {
                AppStatus::Running
            };
            (
                Placement::Service {
                    name: s.name,
                    id: None,
                },
                status,
            )
        };
        let app = self
            .modify_app(org, app_id, |a| {
                // Created -> Running is not a user transition; adoption records a fact.
                a.status = status;
                a.placement = Some(placement.clone());
                a.status_reason = Some("adopted an existing workload".into());
                Ok(())
            })
            .await?;
        self.emit(
            org,
            app_id,
            None,
            EventLevel::Info,
            "adopt",
            format!("adopted; app is {status}"),
        )
        .await?;
        Ok(app)
    }

    /// Records an app for a guest the platform does not manage (the "sync existing resources"
    /// feature). The guest keeps running as it is and is not tagged; the platform never
    /// destroys it (deleting the app forgets it, a deploy replaces it with a managed guest and
    /// leaves the imported one in place).
    pub async fn import_guest(&self, org: OrgId, import: ImportGuest) -> Result<Application> {
        self.store().get_org(org).await?;
        let plan = self.store().get_plan(import.plan).await?;
        let guests = self.provisioner()?.list().await?;
        let g = guests
            .into_iter()
            .find(|g| g.guest.vmid == import.vmid)
            .ok_or_else(|| Error::not_found(format!("no guest {} on the cluster", import.vmid)))?;
        if g.is_managed() {
            return Err(Error::conflict(format!(
                "guest {} is managed by the platform already: use adopt() for its app",
                import.vmid
            )));
        }
        if g.template {
            return Err(Error::invalid_input(format!(
                "guest {} is a template",
                import.vmid
            )));
        }
        for existing in self.all_apps().await? {
            if matches!(&existing.placement, Some(Placement::Guest { vmid, .. }) if *vmid == import.vmid)
            {
                return Err(Error::conflict(format!(
                    "guest {} is already recorded as app {}",
                    import.vmid, existing.id
                )));
            }
        }
        let name = import.name.unwrap_or_else(|| g.name.clone());
        let slug = Slug::from_name(&name)
            .ok_or_else(|| Error::invalid_input(format!("cannot make a slug from '{name}'")))?;
        let runtime = match g.guest.kind {
            GuestKind::Lxc => Runtime::Lxc {
                template: format!("imported:{}", import.vmid),
            },
            GuestKind::Vm => Runtime::Vm {
                template_vmid: import.vmid,
            },
        };
        let now = self.now();
        let app = Application {
            id: AppId::new(),
            org,
            name,
            slug,
            runtime,
            plan: plan.id,
            replicas: 1,
            env: Default::default(),
            domains: Vec::new(),
            health_check: None,
            listen_port: None,
            status: if g.state == GuestState::Running {
                AppStatus::Running
            } else {
                AppStatus::Stopped
            },
            status_reason: Some(format!("imported from guest {}", import.vmid)),
            placement: Some(Placement::Guest {
                node: g.guest.node,
                vmid: g.guest.vmid,
                addresses: Vec::new(),
            }),
            ports: Vec::new(),
            current_release: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.store().create_app(&app).await?;
        self.emit(
            org,
            app.id,
            None,
            EventLevel::Info,
            "import",
            format!("imported guest {}", import.vmid),
        )
        .await?;
        Ok(app)
    }
}
