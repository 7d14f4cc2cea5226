//! Delete: release everything the app holds, then mark it deleted.

use super::{Done, Run, guest, guest_of, service};
use crate::Result;
use crate::engine::platform::{port_owner, vmid_owner};
use crate::model::{AppStatus, Application, EventLevel};

pub(super) async fn run(run: &mut Run, app: Application) -> Result<Done> {
    if !run.is_done("begin") {
        run.modify_app(|a| {
            a.status = a.status.transition(AppStatus::Deleting)?;
            a.status_reason = None;
            Ok(())
        })
        .await?;
        run.mark("begin", format!("deleting app '{}'", app.slug))
            .await?;
    }
    if !run.is_done("remove-workload") {
        let msg = if app.runtime.is_proxmox() {
            let mut parts = Vec::new();
            // An imported guest (not created by the platform) is left in place.
            if let Some(g) = guest_of(&app) {
                parts.push(guest::remove_if_ours(run, &app, &g).await?);
            }
            let swept = guest::remove_all(run, &app).await?;
            if swept > 0 {
                parts.push(format!(
                    "destroyed {swept} more guest(s) tagged for the app"
                ));
            }
            if parts.is_empty() {
                "no guest to remove".to_owned()
            } else {
                parts.join("; ")
            }
        } else {
            service::remove(run, &app).await?;
            "removed the service".to_owned()
        };
        run.mark("remove-workload", msg).await?;
    }
    if !run.is_done("release-ids") {
        let ids = run.platform.inner.ids.clone();
        let freed = ids.release_owner(&vmid_owner(app.id)).await?
            + ids.release_owner(&port_owner(app.id)).await?;
        run.mark(
            "release-ids",
            format!("released {freed} VMID/port allocation(s)"),
        )
        .await?;
    }
    run.modify_app(|a| {
        a.status = a.status.transition(AppStatus::Deleted)?;
        a.status_reason = None;
        a.placement = None;
        a.ports.clear();
        Ok(())
    })
    .await?;
    Ok(Done::Finished(format!("app '{}' deleted", app.slug)))
}

pub(super) async fn compensate(run: &mut Run, reason: &str) -> Result<()> {
    // Nothing to undo (deleting is what the user wants); the app stays Deleting with the
    // reason, and a new delete request picks up where this one stopped.
    if !run.is_done("begin") {
        return Ok(());
    }
    let reason = reason.to_owned();
    run.modify_app(|a| {
        a.status_reason = Some(format!("delete failed: {reason}; request the delete again"));
        Ok(())
    })
    .await?;
    run.event(
        EventLevel::Error,
        "delete",
        "delete stopped; request it again to finish",
    )
    .await
}
