//! Organisations (tenants), plans and cluster nodes.

use super::{Money, NodeName, OrgId, PlanId, Slug, Timestamp};
use serde::{Deserialize, Serialize};

/// A tenant. Every app, operation and charge belongs to exactly one; nothing of one
/// organisation is visible to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Its id.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Platform-unique handle.
    pub slug: Slug,
    /// When it was created.
    pub created_at: Timestamp,
}

/// The size and price of an app; every app runs on one plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Its id.
    pub id: PlanId,
    /// Display name (unique on the platform), e.g. `small`.
    pub name: String,
    /// CPU cores per replica (guest cores, or the service's CPU limit).
    pub cpu: u32,
    /// Memory per replica, MiB.
    pub memory_mb: u32,
    /// Disk per replica, GiB (Proxmox guests).
    pub disk_gb: u32,
    /// Price of one replica running for one hour.
    pub price_per_hour: Money,
    /// The most replicas an app on this plan may scale to.
    pub max_replicas: u32,
}

/// What kind of cluster a node belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A Proxmox VE node.
    Proxmox,
    /// A Docker Swarm node.
    Swarm,
}

/// Whether a node can take work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeHealth {
    /// Online and accepting guests or tasks.
    Online,
    /// Offline or unreachable.
    Offline,
    /// The backend does not know.
    Unknown,
}

/// Resources of a node (or what is used of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    /// CPU cores.
    pub cpu: u32,
    /// Memory, MiB.
    pub memory_mb: u64,
    /// Disk, GiB.
    pub disk_gb: u64,
}

/// A cluster node with its capacity and what is in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Its name.
    pub name: NodeName,
    /// Proxmox or Swarm.
    pub kind: NodeKind,
    /// Total resources.
    pub capacity: Capacity,
    /// Resources in use.
    pub used: Capacity,
    /// Health.
    pub health: NodeHealth,
}

impl Node {
    /// Memory not in use, MiB.
    pub fn free_memory_mb(&self) -> u64 {
        self.capacity.memory_mb.saturating_sub(self.used.memory_mb)
    }
}
