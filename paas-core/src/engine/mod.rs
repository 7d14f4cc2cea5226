//! The engine: [`Platform`], what frontends call.
//!
//! - [`Platform::builder`] composes the ports ([`crate::ports`]) and validates without I/O.
//! - Org-scoped calls: organisations, plans, apps, env ([`secrets`]: encrypted at rest),
//!   domains, releases, operations, [`Platform::events`], [`Platform::overview`].
//! - Durable operations (`deploy`, `start`, `stop`, `restart`, `delete`, `scale`, `rollback`,
//!   `suspend`, `resume`): recorded and queued; [`Worker`]s execute them step by step with
//!   checkpoints, retries with backoff, and compensation on permanent failure.
//! - [`Platform::reconcile`]: records against what the backends report.

mod builder;
mod config;
mod events;
mod lifecycle;
mod overview;
mod platform;
mod reconcile;
mod requests;
mod saga;
pub mod secrets;
mod tenants;
mod worker;

pub use builder::PlatformBuilder;
pub use config::{RetryPolicy, Tunables};
pub use overview::{NodeLoad, Overview};
pub use platform::Platform;
pub use reconcile::{Adoptable, Correction, ImportGuest, ReconcileReport, Workload};
pub use secrets::MasterKey;
pub use tenants::{NewApp, NewPlan};
pub use worker::{StepOutcome, Worker};

/// Owner names the engine uses in the id allocator, for tests and audits.
pub mod owners {
    use crate::model::AppId;

    /// Owner of an app's VMID (`app:<id>/vmid`).
    pub fn vmid(app: AppId) -> String {
        super::platform::vmid_owner(app)
    }

    /// Owner of an app's public port (`app:<id>/port`).
    pub fn port(app: AppId) -> String {
        super::platform::port_owner(app)
    }
}
