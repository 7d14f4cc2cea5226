//! Deploy steps on a Swarm service.

use super::{Run, service_of};
use crate::model::{Application, DomainState, Placement, Plan, Release, Runtime};
use crate::ports::{RolloutState, ServiceSpec};
use crate::{Error, Result};
use std::collections::BTreeMap;

pub(super) async fn deploy(
    run: &mut Run,
    app: &Application,
    release: &Release,
    plan: &Plan,
) -> Result<Placement> {
    let orch = run.platform.orchestrator()?;
    let name = app.slug.as_str().to_owned();
    let Runtime::Container { image } = &release.runtime else {
        return Err(Error::internal(
            "a guest release reached the service deploy",
        ));
    };

    if !run.is_done("apply-service") {
        // The only place env values are decrypted: into the spec, which redacts them in Debug.
        let env = run
            .platform
            .inner
            .sealer
            .open_all(app.org, app.id, &app.env)?;
        let spec = ServiceSpec {
            name: name.clone(),
            org: app.org,
            app: app.id,
            release: release.number,
            image: image.clone(),
            env,
            replicas: release.replicas,
            cpu_millis: plan.cpu.saturating_mul(1000),
            memory_mb: plan.memory_mb,
            health_check: app.health_check.clone().unwrap_or_default(),
            listen_port: app.listen_port,
            domains: app
                .domains
                .iter()
                .filter(|d| d.state == DomainState::Verified)
                .map(|d| d.hostname.clone())
                .collect(),
            labels: BTreeMap::new(),
        };
        let rollout = orch.apply(&spec).await?;
        run.progress.service = Some(name.clone());
        run.progress.rollout = Some(rollout);
        let msg = format!("applied service {name} with {image} x{}", release.replicas);
        run.mark("apply-service", msg).await?;
    }

    if !run.is_done("await-rollout") {
        let rollout = run
            .progress
            .rollout
            .clone()
            .ok_or_else(|| Error::internal("checkpoint lost the rollout"))?;
        let deadline = run.platform.tunables().rollout_deadline;
        match orch.await_rollout(&rollout, deadline).await? {
            RolloutState::Converged => {}
            RolloutState::Failed { reason } => {
                return Err(Error::backend_error(format!(
                    "release {} of service {name} did not converge: {reason}",
                    release.number
                ))
                .retryable(false));
            }
            RolloutState::RolledBack { reason } => {
                return Err(Error::backend_error(format!(
                    "release {} of service {name} was rolled back: {reason}",
                    release.number
                ))
                .retryable(false));
            }
            RolloutState::InProgress { running, desired } => {
                return Err(Error::timeout(format!(
                    "service {name} still rolling out ({running}/{desired} replicas healthy)"
                )));
            }
        }
        let msg = format!(
            "service {name} converged: {} healthy replica(s)",
            release.replicas
        );
        run.mark("await-rollout", msg).await?;
    }

    Ok(Placement::Service { name, id: None })
}

/// Removes the app's service (absent is fine).
pub(super) async fn remove(run: &Run, app: &Application) -> Result<()> {
    let orch = run.platform.orchestrator()?;
    let name = run
        .progress
        .service
        .clone()
        .unwrap_or_else(|| service_of(app));
    orch.remove(&name).await
}
