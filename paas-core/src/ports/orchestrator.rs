//! The `Orchestrator` port: long-running services on a container cluster.

use crate::Result;
use crate::model::{AppId, DomainName, EnvKey, HealthCheck, OrgId, Port, Secret, Timestamp};
use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

/// A service to create or update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Service name (a DNS label; the app's slug).
    pub name: String,
    /// Owning organisation (labels).
    pub org: OrgId,
    /// The app (labels).
    pub app: AppId,
    /// Release number being deployed (labels; every apply with a new release rolls).
    pub release: u32,
    /// Image reference.
    pub image: String,
    /// Environment (values redacted in Debug).
    pub env: BTreeMap<EnvKey, Secret>,
    /// Replicas.
    pub replicas: u32,
    /// CPU limit, in thousandths of a core.
    pub cpu_millis: u32,
    /// Memory limit, MiB.
    pub memory_mb: u32,
    /// Health check (the app's, or the platform default).
    pub health_check: HealthCheck,
    /// Port the app listens on (for routing).
    pub listen_port: Option<Port>,
    /// Verified domains routed to the service.
    pub domains: Vec<DomainName>,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
}

/// An apply in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// Service name.
    pub service: String,
    /// Release being rolled out.
    pub release: u32,
    /// When the apply was sent.
    pub started_at: Timestamp,
}

/// Where a rollout stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RolloutState {
    /// Still rolling.
    InProgress {
        /// Replicas of the release running healthy.
        running: u32,
        /// Replicas wanted.
        desired: u32,
    },
    /// Every replica of the release runs healthy.
    Converged,
    /// The rollout failed (a task failed, was rejected, no suitable node, ...).
    Failed {
        /// The task's error, for people.
        reason: String,
    },
    /// The engine rolled back to the previous release.
    RolledBack {
        /// Why.
        reason: String,
    },
}

impl RolloutState {
    /// True for every state but `InProgress`.
    pub fn is_final(&self) -> bool {
        !matches!(self, RolloutState::InProgress { .. })
    }
}

/// A service as the cluster reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Name.
    pub name: String,
    /// Owning organisation, from its labels (managed services only).
    pub org: Option<OrgId>,
    /// App, from its labels.
    pub app: Option<AppId>,
    /// Release, from its labels.
    pub release: Option<u32>,
    /// Image.
    pub image: String,
    /// Replicas wanted.
    pub replicas_desired: u32,
    /// Replicas running.
    pub replicas_running: u32,
}

/// Which log lines to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Only lines after this time.
    pub since: Option<Timestamp>,
    /// Keep the stream open for new lines.
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<u32>,
}

/// One line of a service's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was written, if the backend says.
    pub at: Option<Timestamp>,
    /// The text, without the trailing newline.
    pub line: String,
}

/// Long-running services on a container cluster.
///
/// Semantics every implementation honours (the `testkit` suite checks them):
/// - `apply` creates or updates the service and returns at once with a [`Rollout`]; it is
///   done only when `await_rollout` says `Converged` (healthy replicas of the release), never
///   when the update call returns.
/// - `remove` of an absent service is `Ok`, and cleans what the service held.
/// - `status`, `scale`, `rollback`, `logs` of an absent service are `NotFound`.
/// - `list` returns the services the platform manages, and only those.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Orchestrator: Send + Sync + Debug + 'static {
    /// Creates or updates a service.
    async fn apply(&self, spec: &ServiceSpec) -> Result<Rollout>;

    /// Where a rollout stands now.
    async fn rollout_status(&self, rollout: &Rollout) -> Result<RolloutState>;

    /// Waits until the rollout is final or `deadline` passes (then `Timeout`).
    async fn await_rollout(&self, rollout: &Rollout, deadline: Duration) -> Result<RolloutState>;

    /// Sets the number of replicas.
    async fn scale(&self, name: &str, replicas: u32) -> Result<()>;

    /// Rolls back to the previous spec.
    async fn rollback(&self, name: &str) -> Result<Rollout>;

    /// Removes the service and what it held.
    async fn remove(&self, name: &str) -> Result<()>;

    /// The service as the cluster reports it.
    async fn status(&self, name: &str) -> Result<Service>;

    /// Every managed service.
    async fn list(&self) -> Result<Vec<Service>>;

    /// The service's output.
    async fn logs(
        &self,
        name: &str,
        options: LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>>;
}
