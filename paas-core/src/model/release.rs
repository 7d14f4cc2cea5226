//! Releases: numbered snapshots of what was deployed.

use super::{AppId, OrgId, PlanId, ReleaseId, Runtime, Timestamp};
use serde::{Deserialize, Serialize};

/// What one deploy put in place; a rollback deploys an earlier one again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Its id.
    pub id: ReleaseId,
    /// Owning organisation.
    pub org: OrgId,
    /// The app.
    pub app: AppId,
    /// 1, 2, 3, ... per app; unique per app.
    pub number: u32,
    /// Image or template deployed.
    pub runtime: Runtime,
    /// SHA-256 of the sealed env (keys and ciphertexts), to tell releases apart without
    /// exposing values.
    pub env_digest: String,
    /// Replicas.
    pub replicas: u32,
    /// Plan.
    pub plan: PlanId,
    /// When it was made.
    pub created_at: Timestamp,
}
