//! Deploy and rollback: begin, the runtime's steps, finish; compensation on failure.

use super::{Done, Run, guest, service};
use crate::Result;
use crate::engine::platform::{port_owner, vmid_owner};
use crate::model::{AppStatus, Application, EventLevel, Placement};

pub(super) async fn run(run: &mut Run, app: Application, number: u32) -> Result<Done> {
    let release = run
        .platform
        .release(run.org(), run.app_id(), number)
        .await?;
    if !run.is_done("begin") {
        run.modify_app(|a| {
            a.status = a.status.transition(AppStatus::Deploying)?;
            a.status_reason = None;
            Ok(())
        })
        .await?;
        let what = match run.op.kind.name() {
            "rollback" => format!("rolling back to release {number}"),
            _ => format!("deploying release {number}"),
        };
        run.mark("begin", what).await?;
    }
    let plan = run.platform.plan(release.plan).await?;
    let placement = if release.runtime.is_proxmox() {
        guest::deploy(run, &app, &release, &plan).await?
    } else {
        service::deploy(run, &app, &release, &plan).await?
    };
    let ports = run.progress.ports.clone();
    let runtime = release.runtime.clone();
    let replicas = release.replicas;
    let stored = run
        .modify_app(|a| {
            a.status = a.status.transition(AppStatus::Running)?;
            a.status_reason = None;
            a.placement = Some(placement.clone());
            a.ports = ports
                .iter()
                .filter_map(|p| crate::model::Port::new(*p).ok())
                .collect();
            a.current_release = Some(number);
            a.runtime = runtime.clone();
            a.replicas = replicas;
            Ok(())
        })
        .await?;
    let where_ = match &stored.placement {
        Some(Placement::Guest {
            node,
            vmid,
            addresses,
        }) => {
            let ip = addresses.first().map(String::as_str).unwrap_or("no IP yet");
            format!("guest {vmid} on {node} ({ip})")
        }
        Some(Placement::Service { name, .. }) => format!("service {name}"),
        None => "nowhere".into(),
    };
    Ok(Done::Finished(format!(
        "release {number} is running as {where_}"
    )))
}

pub(super) async fn compensate(run: &mut Run, reason: &str) -> Result<()> {
    if !run.is_done("begin") {
        // Refused before anything changed: the app stays as it was.
        return Ok(());
    }
    let app = run.app().await?;
    if app.runtime.is_proxmox() {
        let removed = guest::remove_all(run, &app).await?;
        if removed > 0 {
            run.event(
                EventLevel::Warn,
                "undo-create-guest",
                format!("destroyed {removed} half-made guest(s)"),
            )
            .await?;
        }
    } else if run.progress.service.is_some() || app.placement.is_some() {
        service::remove(run, &app).await?;
        run.event(
            EventLevel::Warn,
            "undo-apply-service",
            "removed the service",
        )
        .await?;
    }
    let ids = run.platform.inner.ids.clone();
    let freed = ids.release_owner(&vmid_owner(app.id)).await?
        + ids.release_owner(&port_owner(app.id)).await?;
    if freed > 0 {
        run.event(
            EventLevel::Warn,
            "undo-allocate",
            format!("released {freed} VMID/port allocation(s)"),
        )
        .await?;
    }
    let reason = reason.to_owned();
    run.modify_app(|a| {
        if a.status.can_become(AppStatus::Failed) {
            a.status = AppStatus::Failed;
        }
        a.status_reason = Some(format!("deploy failed: {reason}"));
        a.placement = None;
        a.ports.clear();
        Ok(())
    })
    .await?;
    Ok(())
}
