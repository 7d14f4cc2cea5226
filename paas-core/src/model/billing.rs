//! Records of what the platform hands out and charges: id allocations and hourly usage.

use super::{AppId, Money, OrgId, Timestamp};
use serde::{Deserialize, Serialize};

/// A value leased from an id pool to an owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// Pool name (`vmid`, `public-port`, `internal-port`, ...).
    pub pool: String,
    /// The value.
    pub value: u64,
    /// Who holds it (e.g. `app:<id>/vmid`).
    pub owner: String,
    /// When it was allocated.
    pub allocated_at: Timestamp,
}

/// One hour of one app, charged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Owning organisation.
    pub org: OrgId,
    /// The app.
    pub app: AppId,
    /// Start of the hour (UTC, minute and second zero).
    pub hour: Timestamp,
    /// Replicas charged.
    pub replicas: u32,
    /// Amount charged.
    pub amount: Money,
    /// Ledger transfer that carried the charge (hex of the 128-bit id).
    pub transfer_id: String,
}
