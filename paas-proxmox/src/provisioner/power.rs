//! Start, stop and destroy, each idempotent: a start of a running guest, a stop of a stopped
//! one and a destroy of an absent one are `Ok`.

use super::{ProxmoxProvisioner, guest_type};
use crate::client::WaitOptions;
use crate::client::error::{ErrorClass, class_of};
use crate::client::guest::{DeleteOptions, ShutdownOptions};
use paas_core::ports::{GuestKind, GuestRef, GuestState, StopMode};
use paas_core::{Error, Result};
use std::time::Duration;

/// Extra time a graceful stop's task gets over the guest's shutdown timeout (the forced stop
/// after the timeout, and the task's own overhead).
const STOP_MARGIN: Duration = Duration::from_secs(60);

fn is(e: &Error, class: ErrorClass) -> bool {
    class_of(e) == Some(class)
}

fn describe(g: &GuestRef) -> String {
    let kind = match g.kind {
        GuestKind::Lxc => "container",
        GuestKind::Vm => "VM",
    };
    format!("{kind} {} on node '{}'", g.vmid, g.node)
}

impl ProxmoxProvisioner {
    pub(crate) async fn start_guest(&self, g: &GuestRef) -> Result<()> {
        let kind = guest_type(g.kind);
        let res = self
            .opts
            .retry
            .run("starting a guest", || async {
                let upid = self
                    .client
                    .start_guest(kind, g.node.as_str(), g.vmid.get())
                    .await?;
                self.client.wait_task(&upid, self.wait_opts()).await?;
                Ok(())
            })
            .await;
        match res {
            // A retried start whose first attempt went through meets a running guest.
            Err(e) if is(&e, ErrorClass::AlreadyRunning) => Ok(()),
            other => other.map_err(|e| e.context(format!("starting {}", describe(g)))),
        }
    }

    pub(crate) async fn stop_guest(&self, g: &GuestRef, mode: StopMode) -> Result<()> {
        let kind = guest_type(g.kind);
        let node = g.node.as_str();
        let vmid = g.vmid.get();
        let res = match mode {
            StopMode::Graceful { timeout } => {
                // Whole seconds, rounded up, so a guest never gets less time than asked.
                let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
                let secs = u32::try_from(secs).unwrap_or(u32::MAX);
                let opts = ShutdownOptions {
                    timeout: Some(secs),
                    force_stop: Some(true),
                };
                let wait = WaitOptions {
                    timeout: timeout
                        .saturating_add(STOP_MARGIN)
                        .max(self.opts.task_timeout),
                    ..self.wait_opts()
                };
                self.opts
                    .retry
                    .run("shutting a guest down", || async {
                        let upid = self.client.shutdown_guest(kind, node, vmid, opts).await?;
                        self.client.wait_task(&upid, wait).await?;
                        Ok(())
                    })
                    .await
            }
            StopMode::Force => self.force_stop(g).await,
        };
        match res {
            Err(e) if is(&e, ErrorClass::NotRunning) => Ok(()),
            other => other.map_err(|e| e.context(format!("stopping {}", describe(g)))),
        }
    }

    async fn force_stop(&self, g: &GuestRef) -> Result<()> {
        let kind = guest_type(g.kind);
        self.opts
            .retry
            .run("stopping a guest", || async {
                let upid = self
                    .client
                    .stop_guest(kind, g.node.as_str(), g.vmid.get())
                    .await?;
                self.client.wait_task(&upid, self.wait_opts()).await?;
                Ok(())
            })
            .await
    }

    pub(crate) async fn destroy_guest(&self, g: &GuestRef) -> Result<()> {
        let what = || format!("destroying {}", describe(g));
        let status = match self.guest_status(g).await {
            Ok(s) => s,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.context(what())),
        };
        if status.state != GuestState::Stopped {
            match self.force_stop(g).await {
                Ok(()) => {}
                Err(e) if is(&e, ErrorClass::NotRunning) || e.is_not_found() => {}
                Err(e) => return Err(e.context(what())),
            }
        }
        let kind = guest_type(g.kind);
        // Not `destroy-unreferenced-disks`: a data volume that an interrupted move_volume
        // renamed to this guest is referenced by no config yet, and it is the app's data
        // (`pct rescan` brings it back); the volumes in the config go with the guest.
        let opts = DeleteOptions {
            purge: Some(true),
            force: None,
            destroy_unreferenced_disks: None,
        };
        let res = self
            .opts
            .retry
            .run("destroying a guest", || async {
                let upid = self
                    .client
                    .delete_guest(kind, g.node.as_str(), g.vmid.get(), opts)
                    .await?;
                self.client.wait_task(&upid, self.wait_opts()).await?;
                Ok(())
            })
            .await;
        match res {
            // A retried destroy whose first attempt went through finds nothing.
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map_err(|e| e.context(what())),
        }
    }
}
