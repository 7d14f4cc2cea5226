//! Reading and writing services on the engine: the steps the port's methods are made of.

use crate::error::{BACKEND, map_docker_error};
use crate::orchestrator::SwarmOrchestrator;
use crate::{labels, network, secrets};
use bollard::models::{Service as EngineService, ServiceSpec as EngineSpec, Task};
use bollard::query_parameters::{
    InspectServiceOptions, ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};
use paas_core::ports::Service;
use paas_core::{Error, Result};
use std::collections::HashMap;

/// How many times a write is retried when a concurrent writer bumped the service version.
pub(crate) const WRITE_ATTEMPTS: u32 = 8;

/// Label holding the image reference as the app asked for it (the spec may pin a digest).
pub(crate) const IMAGE_LABEL: &str = "paas.image";

impl SwarmOrchestrator {
    pub(crate) async fn inspect(&self, name: &str) -> Result<Option<EngineService>> {
        match self
            .docker
            .inspect_service(name, None::<InspectServiceOptions>)
            .await
        {
            // The engine also resolves ids and id prefixes: only an exact name is ours.
            Ok(s) if s.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(name) => Ok(Some(s)),
            Ok(_) => Ok(None),
            Err(e) => {
                let err = map_docker_error(e, format!("inspecting service '{name}'"));
                if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    pub(crate) async fn inspect_managed(&self, name: &str, doing: &str) -> Result<EngineService> {
        let service = self.inspect(name).await?.ok_or_else(|| {
            Error::not_found(format!("{doing}: service '{name}' does not exist"))
                .with_backend(BACKEND)
        })?;
        ensure_managed(&service, name, doing)?;
        Ok(service)
    }

    pub(crate) async fn tasks(&self, service_id: &str) -> Result<Vec<Task>> {
        let filters = HashMap::from([("service", vec![service_id])]);
        self.docker
            .list_tasks(Some(
                ListTasksOptionsBuilder::default().filters(&filters).build(),
            ))
            .await
            .map_err(|e| map_docker_error(e, format!("listing the tasks of service {service_id}")))
    }

    /// The image to run: pinned to the digest the engine recorded for it, when it has one
    /// (images built locally have none and run by tag).
    pub(crate) async fn resolve_image(&self, image: &str) -> Result<String> {
        if image.contains('@') {
            return Ok(image.to_owned());
        }
        match self.docker.inspect_image(image).await {
            Ok(found) => Ok(pin_digest(
                image,
                found.repo_digests.as_deref().unwrap_or_default(),
            )),
            Err(e) => {
                let err = map_docker_error(e, format!("inspecting image '{image}'"));
                // Not on this node: the nodes pull it by tag.
                if err.is_not_found() {
                    Ok(image.to_owned())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Reads the service, changes its spec with `change`, writes it back with the version read;
    /// retried when another writer got there first.
    pub(crate) async fn update_with_retry<F>(
        &self,
        name: &str,
        doing: &str,
        rollback: bool,
        change: F,
    ) -> Result<EngineService>
    where
        F: Fn(&EngineService) -> Result<EngineSpec> + Send + Sync,
    {
        let mut last = None;
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.inspect_managed(name, doing).await?;
            let version = current
                .version
                .as_ref()
                .and_then(|v| v.index)
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| {
                    Error::backend_error(format!(
                        "{doing}: the engine reported no usable version for service '{name}'"
                    ))
                    .with_backend(BACKEND)
                })?;
            let new_spec = change(&current)?;
            let mut options = UpdateServiceOptionsBuilder::default().version(version);
            if rollback {
                options = options.rollback("previous");
            }
            match self
                .docker
                .update_service(name, new_spec, options.build(), None)
                .await
            {
                Ok(response) => {
                    for w in response.warnings.unwrap_or_default() {
                        tracing::debug!(service = name, warning = %w, "engine warning");
                    }
                    return Ok(current);
                }
                Err(e) => {
                    let err = map_docker_error(e, doing);
                    if err.is_conflict() && err.is_retryable() {
                        last = Some(err);
                        continue;
                    }
                    return Err(err);
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::conflict(format!("{doing}: update out of sequence"))))
    }

    pub(crate) async fn remove_leftovers(&self, name: &str) -> Result<()> {
        let net = network::network_name(name);
        if let Some(n) = network::inspect(&self.docker, &net).await? {
            let ours = n
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::SERVICE))
                .is_some_and(|s| s == name);
            if ours {
                network::remove(&self.docker, &net).await?;
                // The node keeps its copy of an overlay until its last container left it.
                if network::inspect(&self.docker, &net).await?.is_some() {
                    return Err(Error::unavailable(format!(
                        "network '{net}' is still attached on this node"
                    ))
                    .with_backend(BACKEND));
                }
            }
        }
        secrets::remove_all(&self.docker, name).await
    }

    /// The service's containers still running on this node.
    pub(crate) async fn local_containers(&self, name: &str) -> Result<usize> {
        let label = format!("com.docker.swarm.service.name={name}");
        let filters = HashMap::from([("label", vec![label.as_str()])]);
        let containers = self
            .docker
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| {
                map_docker_error(e, format!("listing the containers of service '{name}'"))
            })?;
        Ok(containers.len())
    }
}

pub(crate) fn ensure_managed(service: &EngineService, name: &str, doing: &str) -> Result<()> {
    let managed = service
        .spec
        .as_ref()
        .and_then(|s| s.labels.as_ref())
        .and_then(|l| l.get(labels::MANAGED))
        .is_some_and(|v| v == "true");
    if managed {
        Ok(())
    } else {
        Err(Error::conflict(format!(
            "{doing}: service '{name}' exists but was not created by the platform (no \
             {}=true label); it is left alone: pick another name or remove it yourself",
            labels::MANAGED
        ))
        .with_backend(BACKEND))
    }
}

/// `image@digest` when one of the engine's repo digests is of the image's repository.
pub(crate) fn pin_digest(image: &str, repo_digests: &[String]) -> String {
    let repo = match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    };
    let short = |r: &str| {
        r.strip_prefix("docker.io/library/")
            .or_else(|| r.strip_prefix("docker.io/"))
            .unwrap_or(r)
            .to_owned()
    };
    repo_digests
        .iter()
        .filter_map(|d| d.split_once('@'))
        .find(|(r, _)| short(r) == short(repo))
        .map_or_else(
            || image.to_owned(),
            |(_, digest)| format!("{image}@{digest}"),
        )
}

pub(crate) fn to_service(s: &EngineService) -> Option<Service> {
    let spec = s.spec.as_ref()?;
    let labels = spec.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k));
    Some(Service {
        name: spec.name.clone()?,
        org: label(labels::ORG).and_then(|v| v.parse().ok()),
        app: label(labels::APP).and_then(|v| v.parse().ok()),
        release: labels::parse_u32(labels, labels::RELEASE),
        image: label(IMAGE_LABEL).cloned().unwrap_or_else(|| {
            spec.task_template
                .as_ref()
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.image.clone())
                .unwrap_or_default()
        }),
        replicas_desired: spec
            .mode
            .as_ref()
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0),
        replicas_running: s
            .service_status
            .as_ref()
            .and_then(|st| st.running_tasks)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0),
    })
}

pub(crate) fn now_millis() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_only_a_digest_of_the_same_repository() {
        let d = vec![
            "nginx@sha256:abc".to_owned(),
            "mirror.io/nginx@sha256:def".to_owned(),
        ];
        assert_eq!(pin_digest("nginx:1.27", &d), "nginx:1.27@sha256:abc");
        assert_eq!(
            pin_digest("mirror.io/nginx:1", &d),
            "mirror.io/nginx:1@sha256:def"
        );
        assert_eq!(
            pin_digest(
                "localhost:5000/app",
                &["localhost:5000/app@sha256:1".to_owned()]
            ),
            "localhost:5000/app@sha256:1"
        );
        assert_eq!(pin_digest("paas-test/web:1", &[]), "paas-test/web:1");
        assert_eq!(pin_digest("other:1", &d), "other:1");
    }
}
