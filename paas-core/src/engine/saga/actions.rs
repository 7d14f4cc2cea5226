//! Start, stop, restart, scale, suspend, resume: acting on an existing guest or service.

use super::{Done, Run, guest_of, service_of};
use crate::model::{AppStatus, Application, OperationKind, OperationState};
use crate::ports::{GuestRef, GuestState, StopMode};
use crate::{Error, Result};

fn need_guest(app: &Application) -> Result<GuestRef> {
    guest_of(app).ok_or_else(|| {
        Error::invalid_input(format!(
            "app '{}' has no guest recorded: deploy it again",
            app.slug
        ))
    })
}

async fn power_on(run: &mut Run, app: &Application, step: &str) -> Result<()> {
    if run.is_done(step) {
        return Ok(());
    }
    let msg = if app.runtime.is_proxmox() {
        let g = need_guest(app)?;
        run.platform.provisioner()?.start(&g).await?;
        format!("started guest {}", g.vmid)
    } else {
        let name = service_of(app);
        run.platform
            .orchestrator()?
            .scale(&name, app.replicas)
            .await?;
        format!("scaled service {name} to {} replica(s)", app.replicas)
    };
    run.mark(step, msg).await
}

async fn power_off(run: &mut Run, app: &Application, step: &str) -> Result<()> {
    if run.is_done(step) {
        return Ok(());
    }
    let msg = if app.runtime.is_proxmox() {
        let g = need_guest(app)?;
        let mode = StopMode::Graceful {
            timeout: run.platform.tunables().stop_timeout,
        };
        run.platform.provisioner()?.stop(&g, mode).await?;
        format!("stopped guest {}", g.vmid)
    } else {
        let name = service_of(app);
        run.platform.orchestrator()?.scale(&name, 0).await?;
        format!("scaled service {name} to 0 replicas")
    };
    run.mark(step, msg).await
}

async fn set_status(run: &Run, to: AppStatus, reason: Option<String>) -> Result<()> {
    run.modify_app(|a| {
        a.status = a.status.transition(to)?;
        a.status_reason = reason.clone();
        Ok(())
    })
    .await
    .map(|_| ())
}

pub(super) async fn start(run: &mut Run, app: Application) -> Result<Done> {
    power_on(run, &app, "start").await?;
    set_status(run, AppStatus::Running, None).await?;
    Ok(Done::Finished(format!("app '{}' is running", app.slug)))
}

pub(super) async fn stop(run: &mut Run, app: Application) -> Result<Done> {
    power_off(run, &app, "stop").await?;
    set_status(run, AppStatus::Stopped, None).await?;
    Ok(Done::Finished(format!("app '{}' is stopped", app.slug)))
}

pub(super) async fn restart(run: &mut Run, app: Application) -> Result<Done> {
    power_off(run, &app, "restart-stop").await?;
    power_on(run, &app, "restart-start").await?;
    set_status(run, AppStatus::Running, None).await?;
    Ok(Done::Finished(format!("app '{}' restarted", app.slug)))
}

pub(super) async fn scale(run: &mut Run, app: Application, replicas: u32) -> Result<Done> {
    if !run.is_done("scale") {
        let msg = if !app.runtime.is_proxmox() && app.status == AppStatus::Running {
            let name = service_of(&app);
            run.platform.orchestrator()?.scale(&name, replicas).await?;
            format!("scaled service {name} to {replicas} replica(s)")
        } else {
            format!("recorded {replicas} replica(s); they run at the next start or deploy")
        };
        run.mark("scale", msg).await?;
    }
    run.modify_app(|a| {
        a.replicas = replicas;
        Ok(())
    })
    .await?;
    Ok(Done::Finished(format!(
        "app '{}' has {replicas} replica(s)",
        app.slug
    )))
}

pub(super) async fn suspend(run: &mut Run, app: Application) -> Result<Done> {
    if !run.is_done("begin") {
        run.progress.was_running = Some(app.status == AppStatus::Running);
        run.mark(
            "begin",
            format!("suspending app '{}' (was {})", app.slug, app.status),
        )
        .await?;
    }
    if run.progress.was_running == Some(true) {
        power_off(run, &app, "stop").await?;
    }
    set_status(
        run,
        AppStatus::Suspended,
        Some("suspended: the organisation's wallet is empty; a top-up resumes it".into()),
    )
    .await?;
    Ok(Done::Finished(format!("app '{}' is suspended", app.slug)))
}

/// Whether the app was running when it was last suspended (the latest successful suspend
/// recorded it in its checkpoint); running if unknown.
async fn was_running(run: &Run) -> Result<bool> {
    let ops = run
        .platform
        .store()
        .list_operations(run.org(), run.app_id(), 100)
        .await?;
    let last = ops.iter().find(|o| {
        o.kind == OperationKind::Suspend
            && o.state == OperationState::Succeeded
            && o.checkpoint
                .get("was_running")
                .is_some_and(|v| !v.is_null())
    });
    Ok(last
        .and_then(|o| o.checkpoint.get("was_running"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(true))
}

pub(super) async fn resume(run: &mut Run, app: Application) -> Result<Done> {
    if !run.is_done("begin") {
        run.progress.was_running = Some(was_running(run).await?);
        run.mark("begin", format!("resuming app '{}'", app.slug))
            .await?;
    }
    if run.progress.was_running == Some(true) {
        power_on(run, &app, "start").await?;
        set_status(run, AppStatus::Running, None).await?;
        Ok(Done::Finished(format!(
            "app '{}' is running again",
            app.slug
        )))
    } else {
        set_status(run, AppStatus::Stopped, None).await?;
        Ok(Done::Finished(format!(
            "app '{}' is back, stopped as it was",
            app.slug
        )))
    }
}

pub(super) async fn compensate(run: &mut Run, reason: &str) -> Result<()> {
    // Nothing was created, so nothing to undo. A step may have half-happened (a restart that
    // stopped but could not start again), so the status is set to what the backend reports;
    // if the backend cannot say, the undo fails and is retried.
    if !run.progress.admitted {
        return Ok(());
    }
    let app = run.app().await?;
    let observed = observed_status(run, &app).await?;
    let what = run.op.kind.name();
    let reason = reason.to_owned();
    run.modify_app(|a| {
        if let Some(to) = observed
            && matches!(a.status, AppStatus::Running | AppStatus::Stopped)
            && a.status.can_become(to)
        {
            a.status = to;
        }
        a.status_reason = Some(format!("{what} failed: {reason}"));
        Ok(())
    })
    .await
    .map(|_| ())
}

/// Running or Stopped as the backend reports the app's workload; `None` if it has none.
async fn observed_status(run: &Run, app: &Application) -> Result<Option<AppStatus>> {
    if app.runtime.is_proxmox() {
        let Some(g) = guest_of(app) else {
            return Ok(None);
        };
        match run.platform.provisioner()?.status(&g).await {
            Ok(guest) => Ok(match guest.state {
                GuestState::Running => Some(AppStatus::Running),
                GuestState::Stopped => Some(AppStatus::Stopped),
                GuestState::Unknown => None,
            }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    } else {
        if app.placement.is_none() {
            return Ok(None);
        }
        match run.platform.orchestrator()?.status(&service_of(app)).await {
            Ok(s) if s.replicas_desired == 0 => Ok(Some(AppStatus::Stopped)),
            Ok(_) => Ok(Some(AppStatus::Running)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
