//! The domain model: validated newtypes and the records the platform keeps.
//!
//! Parse, don't validate twice: every id and name is a newtype that can only hold a valid
//! value, parsed once at the edge with a clear error on bad input.

mod app;
mod billing;
mod ids;
mod money;
mod names;
mod operation;
mod org;
mod release;
mod secret;
mod status;

pub use app::{
    Application, Domain, DomainState, HealthCheck, Placement, Runtime, TlsState, duration_ms,
};
pub use billing::{Allocation, UsageRecord};
pub use ids::{AppId, OperationId, OrgId, PlanId, Port, ReleaseId, Vmid};
pub use money::Money;
pub use names::{DomainName, EnvKey, Hostname, MountPath, NodeName, Slug};
pub use operation::{Event, EventLevel, Lease, NewEvent, Operation, OperationKind, OperationState};
pub use org::{Capacity, Node, NodeHealth, NodeKind, Organization, Plan};
pub use release::Release;
pub use secret::{SealedValue, Secret};
pub use status::AppStatus;

/// A point in time, UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
