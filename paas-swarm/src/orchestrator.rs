//! [`SwarmOrchestrator`]: the [`Orchestrator`] port on a Docker engine in swarm mode.

use crate::config::{EnvDelivery, SwarmConfig};
use crate::error::{BACKEND, check_api_version, map_docker_error};
use crate::network::{self, Ipv4Cidr};
use crate::rollout::{Observed, evaluate};
use crate::{labels, logs, secrets, spec};
use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{LocalNodeState, ServiceSpec as EngineSpec};
use bollard::query_parameters::{ListServicesOptionsBuilder, LogsOptionsBuilder};
use futures::StreamExt;
use futures::stream::BoxStream;
use paas_core::ports::{
    LogLine, LogOptions, Orchestrator, Rollout, RolloutState, Service, ServiceSpec,
};
use paas_core::{Error, ErrorKind, Result};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::service_io::{IMAGE_LABEL, WRITE_ATTEMPTS, ensure_managed, now_millis, to_service};

/// Long-running services on a Docker engine in swarm mode.
///
/// Every app gets a replicated service with a health check, resource limits and reservations,
/// a start-first rolling update that the engine rolls back on failure, its own overlay network
/// and, per [`EnvDelivery`], its env as variables or Swarm secrets. `apply` returns at once;
/// [`Orchestrator::await_rollout`] reports `Converged` only when every replica of the release
/// runs healthy.
///
/// ```no_run
/// use paas_core::ports::Orchestrator;
/// use paas_swarm::{SwarmConfig, SwarmOrchestrator};
/// # async fn run(spec: paas_core::ports::ServiceSpec) -> paas_core::Result<()> {
/// let swarm = SwarmOrchestrator::connect(SwarmConfig::default()).await?;
/// let rollout = swarm.apply(&spec).await?;
/// let state = swarm
///     .await_rollout(&rollout, std::time::Duration::from_secs(120))
///     .await?;
/// println!("{state:?}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SwarmOrchestrator {
    pub(crate) docker: Docker,
    pub(crate) config: Arc<SwarmConfig>,
    pub(crate) pool: Ipv4Cidr,
}

impl fmt::Debug for SwarmOrchestrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.docker.client_version();
        f.debug_struct("SwarmOrchestrator")
            .field(
                "api_version",
                &format_args!("{}.{}", v.major_version, v.minor_version),
            )
            .field("config", &self.config)
            .finish()
    }
}

impl SwarmOrchestrator {
    /// Connects to the local engine (`DOCKER_HOST`, or the default socket), agrees on the API
    /// version, refuses engines older than [`MIN_API_VERSION`](crate::MIN_API_VERSION), and
    /// checks the engine is a swarm manager.
    pub async fn connect(config: SwarmConfig) -> Result<Self> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| map_docker_error(e, "connecting to the local Docker engine"))?;
        Self::with_docker(docker, config).await
    }

    /// Like [`SwarmOrchestrator::connect`], over a client the caller built (another host, TLS).
    pub async fn with_docker(docker: Docker, config: SwarmConfig) -> Result<Self> {
        config.validate()?;
        let pool = config.pool()?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| map_docker_error(e, "asking the Docker engine for its API version"))?;
        let version = docker
            .version()
            .await
            .map_err(|e| map_docker_error(e, "asking the Docker engine for its API version"))?;
        check_api_version(version.api_version.as_deref().unwrap_or_default())?;
        let info = docker
            .info()
            .await
            .map_err(|e| map_docker_error(e, "reading the Docker engine's swarm state"))?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.local_node_state != Some(LocalNodeState::ACTIVE) {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the Docker engine is not in swarm mode (node state: {}): run `docker swarm \
                     init` on it, or connect to a swarm manager",
                    swarm
                        .local_node_state
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                ),
            )
            .retryable(false)
            .with_backend(BACKEND));
        }
        if swarm.control_available != Some(true) {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the Docker engine is a swarm worker: services can only be managed on a manager \
                 node; connect to one",
            )
            .retryable(false)
            .with_backend(BACKEND));
        }
        Ok(SwarmOrchestrator {
            docker,
            config: Arc::new(config),
            pool,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &SwarmConfig {
        &self.config
    }

    /// The underlying bollard client (for what the port does not cover).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }
}

#[async_trait]
impl Orchestrator for SwarmOrchestrator {
    async fn apply(&self, spec: &ServiceSpec) -> Result<Rollout> {
        spec::validate(spec)?;
        let name = spec.name.as_str();
        let doing = format!("applying release {} of service '{name}'", spec.release);
        if let Some(existing) = self.inspect(name).await? {
            ensure_managed(&existing, name, &doing)?;
        }
        let net = network::ensure_network(
            &self.docker,
            name,
            network::network_labels(spec),
            self.pool,
            self.config.subnet_prefix,
        )
        .await
        .map_err(|e| e.context(&doing))?;
        if let Some(routing) = &self.config.routing.network
            && !spec.domains.is_empty()
            && network::inspect(&self.docker, routing).await?.is_none()
        {
            return Err(Error::not_found(format!(
                "{doing}: the routing network '{routing}' Traefik is attached to does not \
                 exist: create it (`docker network create -d overlay --attachable {routing}`) \
                 or change the routing config"
            ))
            .with_backend(BACKEND));
        }
        let secret_refs = match self.config.env_delivery {
            EnvDelivery::SecretFiles => secrets::ensure(&self.docker, name, &spec.env)
                .await
                .map_err(|e| e.context(&doing))?,
            EnvDelivery::Variables => Vec::new(),
        };
        let image = self.resolve_image(&spec.image).await?;
        let build = |force_update: u64| {
            let mut engine_spec = spec::build(
                spec,
                spec::Resolved {
                    image: image.clone(),
                    network: &net,
                    secrets: secret_refs.clone(),
                    force_update,
                },
                &self.config,
            );
            if let Some(l) = engine_spec.labels.as_mut() {
                l.insert(IMAGE_LABEL.to_owned(), spec.image.clone());
            }
            engine_spec
        };
        let started_at = chrono::Utc::now();

        let mut replaced: Option<EngineSpec> = None;
        let mut created = false;
        for _ in 0..WRITE_ATTEMPTS {
            if self.inspect(name).await?.is_some() {
                break;
            }
            match self
                .docker
                .create_service(build(spec::next_force_update(0, now_millis())), None)
                .await
            {
                Ok(_) => {
                    created = true;
                    break;
                }
                Err(e) => {
                    let err = map_docker_error(e, &doing);
                    // Created meanwhile by someone else: update it instead.
                    if !err.is_conflict() {
                        return Err(err);
                    }
                }
            }
        }
        if !created {
            let old = self
                .update_with_retry(name, &doing, false, |current| {
                    let fu = current
                        .spec
                        .as_ref()
                        .and_then(|s| s.task_template.as_ref())
                        .and_then(|t| t.force_update)
                        .unwrap_or(0);
                    Ok(build(spec::next_force_update(fu, now_millis())))
                })
                .await?;
            replaced = old.spec;
        }

        // Keep what the new spec and the one it replaced (the engine's rollback target) use.
        let mut keep = secrets::referenced(replaced.as_ref());
        keep.extend(secret_refs.iter().filter_map(|r| r.secret_name.clone()));
        secrets::prune(&self.docker, name, &keep).await?;

        Ok(Rollout {
            service: name.to_owned(),
            release: spec.release,
            started_at,
        })
    }

    async fn rollout_status(&self, rollout: &Rollout) -> Result<RolloutState> {
        let doing = format!(
            "checking the rollout of release {} of service '{}'",
            rollout.release, rollout.service
        );
        let service = self.inspect_managed(&rollout.service, &doing).await?;
        let id = service
            .id
            .clone()
            .unwrap_or_else(|| rollout.service.clone());
        let tasks = self.tasks(&id).await?;
        Ok(evaluate(
            rollout.release,
            &Observed::from_engine(&service, &tasks),
        ))
    }

    async fn await_rollout(&self, rollout: &Rollout, deadline: Duration) -> Result<RolloutState> {
        let until = tokio::time::Instant::now() + deadline;
        let mut last = None;
        loop {
            match self.rollout_status(rollout).await {
                Ok(state) if state.is_final() => return Ok(state),
                Ok(state) => last = Some(state),
                Err(e) if e.is_retryable() && !e.is_not_found() => {
                    tracing::debug!(service = %rollout.service, error = %e, "rollout poll failed; retrying");
                }
                Err(e) => return Err(e),
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                let progress = match last {
                    Some(RolloutState::InProgress { running, desired }) => {
                        format!("{running} of {desired} replicas run healthy")
                    }
                    _ => "the engine could not be asked".to_owned(),
                };
                return Err(Error::timeout(format!(
                    "release {} of service '{}' did not converge within {:?}: {progress}; the \
                     rollout goes on: await it again or roll back",
                    rollout.release, rollout.service, deadline
                ))
                .with_backend(BACKEND));
            }
            tokio::time::sleep(self.config.poll_interval.min(until - now)).await;
        }
    }

    async fn scale(&self, name: &str, replicas: u32) -> Result<()> {
        let doing = format!("scaling service '{name}' to {replicas} replicas");
        self.update_with_retry(name, &doing, false, |current| {
            let mut spec = current.spec.clone().unwrap_or_default();
            let replicated = spec
                .mode
                .as_mut()
                .and_then(|m| m.replicated.as_mut())
                .ok_or_else(|| {
                    Error::invalid_input(format!("{doing}: it is not a replicated service"))
                        .with_backend(BACKEND)
                })?;
            replicated.replicas = Some(i64::from(replicas));
            Ok(spec)
        })
        .await?;
        Ok(())
    }

    async fn rollback(&self, name: &str) -> Result<Rollout> {
        let doing = format!("rolling back service '{name}'");
        let started_at = chrono::Utc::now();
        self.update_with_retry(name, &doing, true, |current| {
            Ok(current.spec.clone().unwrap_or_default())
        })
        .await
        .map_err(|e| {
            if e.message().contains("previous spec") {
                Error::conflict(format!(
                    "{doing}: the service has no previous spec to roll back to (it was never \
                     updated); deploy an earlier release instead"
                ))
                .with_backend(BACKEND)
            } else {
                e
            }
        })?;
        let now = self.inspect_managed(name, &doing).await?;
        let release = labels::parse_u32(
            now.spec.as_ref().and_then(|s| s.labels.as_ref()),
            labels::RELEASE,
        )
        .ok_or_else(|| {
            Error::backend_error(format!(
                "{doing}: the rolled-back spec has no release label"
            ))
            .with_backend(BACKEND)
        })?;
        Ok(Rollout {
            service: name.to_owned(),
            release,
            started_at,
        })
    }

    async fn remove(&self, name: &str) -> Result<()> {
        let doing = format!("removing service '{name}'");
        if let Some(service) = self.inspect(name).await? {
            ensure_managed(&service, name, &doing)?;
            if let Err(e) = self.docker.delete_service(name).await {
                let err = map_docker_error(e, &doing);
                if !err.is_not_found() {
                    return Err(err);
                }
            }
        }
        // The engine lets go of the network and secrets once the containers are gone: wait
        // for them (on this node; other nodes stop theirs alike), then clean up.
        let until = tokio::time::Instant::now() + self.config.remove_timeout;
        loop {
            let step = match self.local_containers(name).await {
                Ok(0) => self.remove_leftovers(name).await,
                Ok(n) => Err(
                    Error::unavailable(format!("{n} containers are still stopping"))
                        .with_backend(BACKEND),
                ),
                Err(e) => Err(e),
            };
            match step {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() < until => {
                    tracing::debug!(service = name, error = %e, "waiting for the engine to release the network and secrets");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => {
                    return Err(e
                        .context(format!(
                            "{doing}: the service is gone but its containers, network or \
                             secrets were still there after {:?}; retry the remove",
                            self.config.remove_timeout
                        ))
                        .retryable(true));
                }
            }
        }
    }

    async fn status(&self, name: &str) -> Result<Service> {
        let filters = HashMap::from([("name", vec![name])]);
        let services = self
            .docker
            .list_services(Some(
                ListServicesOptionsBuilder::default()
                    .filters(&filters)
                    .status(true)
                    .build(),
            ))
            .await
            .map_err(|e| map_docker_error(e, format!("reading the status of service '{name}'")))?;
        services
            .iter()
            .filter_map(to_service)
            .find(|s| s.name == name)
            .ok_or_else(|| {
                Error::not_found(format!("service '{name}' does not exist")).with_backend(BACKEND)
            })
    }

    async fn list(&self) -> Result<Vec<Service>> {
        let label = format!("{}=true", labels::MANAGED);
        let filters = HashMap::from([("label", vec![label.as_str()])]);
        let services = self
            .docker
            .list_services(Some(
                ListServicesOptionsBuilder::default()
                    .filters(&filters)
                    .status(true)
                    .build(),
            ))
            .await
            .map_err(|e| map_docker_error(e, "listing the managed services"))?;
        let mut out: Vec<Service> = services.iter().filter_map(to_service).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn logs(
        &self,
        name: &str,
        options: LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        let doing = format!("reading the logs of service '{name}'");
        let service = self.inspect_managed(name, &doing).await?;
        let id = service.id.unwrap_or_else(|| name.to_owned());
        let mut builder = LogsOptionsBuilder::default()
            .follow(options.follow)
            .stdout(true)
            .stderr(true)
            .timestamps(true);
        if let Some(since) = options.since {
            // The engine takes whole seconds: ask from the second before, filter exactly below.
            builder = builder.since(i32::try_from(since.timestamp()).unwrap_or(i32::MAX));
        }
        if let Some(tail) = options.tail {
            builder = builder.tail(&tail.to_string());
        }
        let chunks = self.docker.service_logs(&id, Some(builder.build()));
        let lines = logs::lines(name.to_owned(), chunks);
        Ok(match options.since {
            Some(since) => lines
                .filter(move |l| {
                    let keep = match l {
                        Ok(LogLine { at: Some(at), .. }) => *at >= since,
                        _ => true,
                    };
                    futures::future::ready(keep)
                })
                .boxed(),
            None => lines,
        })
    }
}
