//! Organisations, plans and app records: the non-durable-operation part of the API.

use super::platform::Platform;
use super::secrets::env_digest;
use crate::model::{
    AppId, AppStatus, Application, Domain, DomainName, DomainState, EnvKey, HealthCheck, Money,
    Operation, OperationId, OrgId, Organization, Plan, PlanId, Port, Release, Runtime, Secret,
    Slug, TlsState,
};
use crate::ports::{AppQuery, Page};
use crate::{Error, Result};
use rand::RngCore;
use std::collections::BTreeMap;

/// A plan to create: the size and price of an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPlan {
    /// Unique display name, e.g. `small`.
    pub name: String,
    /// CPU cores per replica.
    pub cpu: u32,
    /// Memory per replica, MiB.
    pub memory_mb: u32,
    /// Disk per replica, GiB.
    pub disk_gb: u32,
    /// Price of one replica-hour.
    pub price_per_hour: Money,
    /// Most replicas an app on the plan may scale to.
    pub max_replicas: u32,
}

impl NewPlan {
    /// A plan with `max_replicas` 1.
    ///
    /// ```
    /// use paas_core::engine::NewPlan;
    /// use paas_core::model::Money;
    /// let plan = NewPlan::new("small", 1, 512, 8, Money::from_micros(10_000)).max_replicas(3);
    /// assert_eq!(plan.max_replicas, 3);
    /// ```
    pub fn new(name: &str, cpu: u32, memory_mb: u32, disk_gb: u32, price_per_hour: Money) -> Self {
        NewPlan {
            name: name.to_owned(),
            cpu,
            memory_mb,
            disk_gb,
            price_per_hour,
            max_replicas: 1,
        }
    }

    /// Sets the most replicas.
    pub fn max_replicas(mut self, n: u32) -> Self {
        self.max_replicas = n;
        self
    }
}

/// An app to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewApp {
    /// Display name.
    pub name: String,
    /// Platform-unique handle; derived from the name when `None`.
    pub slug: Option<Slug>,
    /// How it runs.
    pub runtime: Runtime,
    /// Its plan.
    pub plan: PlanId,
    /// Replicas (Container runtime; guests run exactly 1).
    pub replicas: u32,
    /// Environment, in clear; sealed before it is stored.
    pub env: BTreeMap<EnvKey, Secret>,
    /// Health check.
    pub health_check: Option<HealthCheck>,
    /// Port the app listens on.
    pub listen_port: Option<Port>,
}

impl NewApp {
    /// An app with one replica, no env, no health check.
    ///
    /// ```
    /// use paas_core::engine::NewApp;
    /// use paas_core::model::{PlanId, Runtime, Secret};
    /// let app = NewApp::new("shop", Runtime::Container { image: "nginx:1.27".into() }, PlanId::new())
    ///     .env("DATABASE_URL".parse().unwrap(), Secret::new("postgres://..."));
    /// assert_eq!(app.env.len(), 1);
    /// ```
    pub fn new(name: &str, runtime: Runtime, plan: PlanId) -> Self {
        NewApp {
            name: name.to_owned(),
            slug: None,
            runtime,
            plan,
            replicas: 1,
            env: BTreeMap::new(),
            health_check: None,
            listen_port: None,
        }
    }

    /// Adds an env value.
    pub fn env(mut self, key: EnvKey, value: Secret) -> Self {
        self.env.insert(key, value);
        self
    }

    /// Sets the replicas.
    pub fn replicas(mut self, n: u32) -> Self {
        self.replicas = n;
        self
    }

    /// Sets the slug.
    pub fn slug(mut self, slug: Slug) -> Self {
        self.slug = Some(slug);
        self
    }
}

pub(crate) fn check_replicas(runtime: &Runtime, plan: &Plan, replicas: u32) -> Result<()> {
    if replicas == 0 {
        return Err(Error::invalid_input(
            "replicas must be at least 1: to run nothing, stop the app instead",
        ));
    }
    if runtime.is_proxmox() && replicas != 1 {
        return Err(Error::invalid_input(format!(
            "an app on a Proxmox guest runs exactly 1 replica, not {replicas}: use the Container \
             runtime to scale out"
        )));
    }
    if replicas > plan.max_replicas {
        return Err(Error::invalid_input(format!(
            "{replicas} replicas exceed plan '{}', which allows at most {}: choose a larger plan",
            plan.name, plan.max_replicas
        )));
    }
    Ok(())
}

impl Platform {
    /// Creates an organisation; its slug is derived from `name` and must be unique.
    pub async fn create_org(&self, name: &str) -> Result<Organization> {
        let slug = Slug::from_name(name).ok_or_else(|| {
            Error::invalid_input(format!(
                "organisation name '{}' has no letters or digits to make a handle from",
                name.escape_debug()
            ))
        })?;
        let org = Organization {
            id: OrgId::new(),
            name: name.trim().to_owned(),
            slug,
            created_at: self.now(),
        };
        self.store().create_org(&org).await?;
        Ok(org)
    }

    /// An organisation.
    pub async fn org(&self, id: OrgId) -> Result<Organization> {
        self.store().get_org(id).await
    }

    /// Creates a plan.
    pub async fn create_plan(&self, new: NewPlan) -> Result<Plan> {
        if new.name.trim().is_empty() {
            return Err(Error::invalid_input("a plan needs a name"));
        }
        if new.cpu == 0 || new.memory_mb == 0 || new.max_replicas == 0 {
            return Err(Error::invalid_input(format!(
                "plan '{}' needs at least 1 CPU, 1 MiB of memory and 1 replica",
                new.name
            )));
        }
        if new.price_per_hour < Money::ZERO {
            return Err(Error::invalid_input(format!(
                "plan '{}' has a negative price ({})",
                new.name, new.price_per_hour
            )));
        }
        let plan = Plan {
            id: PlanId::new(),
            name: new.name.trim().to_owned(),
            cpu: new.cpu,
            memory_mb: new.memory_mb,
            disk_gb: new.disk_gb,
            price_per_hour: new.price_per_hour,
            max_replicas: new.max_replicas,
        };
        self.store().create_plan(&plan).await?;
        Ok(plan)
    }

    /// Every plan.
    pub async fn plans(&self) -> Result<Vec<Plan>> {
        self.store().list_plans().await
    }

    /// Records a new app (status `Created`; nothing runs until [`Platform::deploy`]).
    pub async fn create_app(&self, org: OrgId, new: NewApp) -> Result<Application> {
        self.store().get_org(org).await?;
        let plan = self.store().get_plan(new.plan).await?;
        check_replicas(&new.runtime, &plan, new.replicas)?;
        if new.runtime.is_proxmox() {
            self.provisioner()?;
        } else {
            self.orchestrator()?;
        }
        if let Runtime::Container { image } = &new.runtime
            && image.trim().is_empty()
        {
            return Err(Error::invalid_input("a Container app needs an image"));
        }
        let slug = match new.slug {
            Some(s) => s,
            None => Slug::from_name(&new.name).ok_or_else(|| {
                Error::invalid_input(format!(
                    "app name '{}' has no letters or digits to make a slug from: pass a slug",
                    new.name.escape_debug()
                ))
            })?,
        };
        let id = AppId::new();
        let now = self.now();
        let mut env = BTreeMap::new();
        for (k, v) in &new.env {
            env.insert(k.clone(), self.inner.sealer.seal(org, id, k, v)?);
        }
        let app = Application {
            id,
            org,
            name: new.name.trim().to_owned(),
            slug,
            runtime: new.runtime,
            plan: plan.id,
            replicas: new.replicas,
            env,
            domains: Vec::new(),
            health_check: new.health_check,
            listen_port: new.listen_port,
            status: AppStatus::Created,
            status_reason: None,
            placement: None,
            ports: Vec::new(),
            current_release: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.store().create_app(&app).await?;
        Ok(app)
    }

    /// An app of `org`.
    pub async fn app(&self, org: OrgId, id: AppId) -> Result<Application> {
        self.store().get_app(org, id).await
    }

    /// A page of `org`'s apps.
    pub async fn apps(&self, org: OrgId, query: &AppQuery) -> Result<Page<Application>> {
        self.store().list_apps(org, query).await
    }

    async fn modify_live_app<F>(&self, org: OrgId, id: AppId, mut change: F) -> Result<Application>
    where
        F: FnMut(&mut Application) -> Result<()> + Send,
    {
        self.modify_app(org, id, |app| {
            if matches!(app.status, AppStatus::Deleted | AppStatus::Deleting) {
                return Err(Error::invalid_input(format!(
                    "app '{}' is {}: it can no longer be changed",
                    app.slug, app.status
                )));
            }
            change(app)
        })
        .await
    }

    /// Sets an env value (encrypted before it is stored); it takes effect at the next deploy.
    pub async fn set_env(
        &self,
        org: OrgId,
        app: AppId,
        key: EnvKey,
        value: Secret,
    ) -> Result<Application> {
        let sealed = self.inner.sealer.seal(org, app, &key, &value)?;
        self.modify_live_app(org, app, |a| {
            a.env.insert(key.clone(), sealed.clone());
            Ok(())
        })
        .await
    }

    /// Removes an env value (absent is fine); it takes effect at the next deploy.
    pub async fn unset_env(&self, org: OrgId, app: AppId, key: &EnvKey) -> Result<Application> {
        self.modify_live_app(org, app, |a| {
            a.env.remove(key);
            Ok(())
        })
        .await
    }

    /// The names of an app's env values (never the values).
    pub async fn env_keys(&self, org: OrgId, app: AppId) -> Result<Vec<EnvKey>> {
        Ok(self
            .store()
            .get_app(org, app)
            .await?
            .env
            .into_keys()
            .collect())
    }

    /// Routes a domain to an app; it starts `Pending` with a verification token to publish.
    pub async fn add_domain(&self, org: OrgId, app: AppId, hostname: DomainName) -> Result<Domain> {
        let mut token = [0u8; 16];
        rand::rng().fill_bytes(&mut token);
        let domain = Domain {
            hostname: hostname.clone(),
            verification_token: format!("paas-verify-{}", hex::encode(token)),
            state: DomainState::Pending,
            tls: TlsState::None,
        };
        self.modify_live_app(org, app, |a| {
            if a.domains.iter().any(|d| d.hostname == hostname) {
                return Err(Error::conflict(format!(
                    "domain {hostname} is already routed to app '{}'",
                    a.slug
                )));
            }
            a.domains.push(domain.clone());
            Ok(())
        })
        .await?;
        Ok(domain)
    }

    /// Stops routing a domain to an app; `NotFound` if it was not routed there.
    pub async fn remove_domain(&self, org: OrgId, app: AppId, hostname: &DomainName) -> Result<()> {
        self.modify_live_app(org, app, |a| {
            let before = a.domains.len();
            a.domains.retain(|d| &d.hostname != hostname);
            if a.domains.len() == before {
                return Err(Error::not_found(format!(
                    "domain {hostname} is not routed to app '{}'",
                    a.slug
                )));
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// An app's releases, oldest first.
    pub async fn releases(&self, org: OrgId, app: AppId) -> Result<Vec<Release>> {
        self.store().get_app(org, app).await?;
        self.store().list_releases(org, app).await
    }

    /// An app's operations, newest first (at most 100).
    pub async fn operations(&self, org: OrgId, app: AppId) -> Result<Vec<Operation>> {
        self.store().get_app(org, app).await?;
        self.store().list_operations(org, app, 100).await
    }

    /// One operation of `org`.
    pub async fn operation(&self, org: OrgId, op: OperationId) -> Result<Operation> {
        self.store().get_operation(org, op).await
    }

    pub(crate) fn digest_of(app: &Application) -> String {
        env_digest(&app.env)
    }
}
