//! The application lifecycle: [`AppStatus`] and its one transition table.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an application is in its lifecycle.
///
/// ```text
/// Created -> Deploying -> Running <-> Stopped
///            Deploying -> Failed -> Deploying
/// Running | Stopped -> Suspended (unpaid) -> Running | Stopped
/// Running | Stopped | Suspended -> Lost (backend lost it) -> Deploying
/// Running | Stopped | Failed -> Deploying (redeploy, rollback)
/// any but Deleted -> Deleting -> Deleted
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AppStatus {
    /// Recorded, never deployed.
    Created,
    /// A deploy (or redeploy, rollback) is in progress.
    Deploying,
    /// Deployed and running.
    Running,
    /// Deployed and stopped by its owner.
    Stopped,
    /// The last deploy failed; see the app's status reason.
    Failed,
    /// Stopped by billing because the wallet ran out; a top-up resumes it.
    Suspended,
    /// The backend no longer has the app's guest or service (found by the reconciler).
    Lost,
    /// A delete is in progress.
    Deleting,
    /// Deleted; everything it held has been released.
    Deleted,
}

impl AppStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [AppStatus; 9] = [
        AppStatus::Created,
        AppStatus::Deploying,
        AppStatus::Running,
        AppStatus::Stopped,
        AppStatus::Failed,
        AppStatus::Suspended,
        AppStatus::Lost,
        AppStatus::Deleting,
        AppStatus::Deleted,
    ];

    /// The transition table: whether `self -> to` is legal. Staying put is always legal
    /// (operations are idempotent), except out of `Deleted`, which is final.
    pub fn can_become(self, to: AppStatus) -> bool {
        use AppStatus::*;
        if self == to {
            return true;
        }
        match (self, to) {
            (Deleted, _) => false,
            (_, Deleting) => true,
            (Deleting, Deleted) => true,
            (Created | Failed | Running | Stopped | Lost, Deploying) => true,
            (Deploying, Running | Failed | Stopped) => true,
            (Running, Stopped) | (Stopped, Running) => true,
            (Running | Stopped, Suspended) => true,
            (Suspended, Running | Stopped) => true,
            (Running | Stopped | Suspended, Lost) => true,
            // The reconciler corrects drift found on the backend.
            (Lost, Running | Stopped) => true,
            _ => false,
        }
    }

    /// `to`, if the transition is legal; otherwise an `InvalidInput` error naming both.
    pub fn transition(self, to: AppStatus) -> Result<AppStatus> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(Error::invalid_input(format!(
                "an app that is {self} cannot become {to}"
            )))
        }
    }

    /// The status's name in snake_case.
    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::Created => "created",
            AppStatus::Deploying => "deploying",
            AppStatus::Running => "running",
            AppStatus::Stopped => "stopped",
            AppStatus::Failed => "failed",
            AppStatus::Suspended => "suspended",
            AppStatus::Lost => "lost",
            AppStatus::Deleting => "deleting",
            AppStatus::Deleted => "deleted",
        }
    }

    /// Whether the app holds backend resources that cost money (billing charges these).
    pub fn is_billable(self) -> bool {
        matches!(self, AppStatus::Running)
    }
}

impl fmt::Display for AppStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AppStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        AppStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                Error::invalid_input(format!("'{}' is not an app status", s.escape_debug()))
            })
    }
}
