//! The admin overview: what the platform runs and where.

use super::platform::Platform;
use crate::Result;
use crate::model::{AppStatus, Money, Node};
use chrono::Duration;
use serde::Serialize;
use std::collections::BTreeMap;

/// A cluster node and how loaded it is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeLoad {
    /// The node as its backend reports it.
    pub node: Node,
    /// Memory in use, percent of capacity (0 when capacity is unknown).
    pub memory_used_percent: f64,
    /// Guests (Proxmox) placed on it.
    pub guests: u64,
}

/// The platform at a glance, for operators.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Overview {
    /// Apps per status (every status present, zero included).
    pub apps_by_status: BTreeMap<AppStatus, u64>,
    /// Apps not deleted.
    pub apps_total: u64,
    /// Organisations.
    pub organizations: u64,
    /// Proxmox nodes and their load (empty without a provisioner).
    pub nodes: Vec<NodeLoad>,
    /// Operations queued or running.
    pub unfinished_operations: u64,
    /// Charged since midnight UTC.
    pub usage_today: Money,
    /// App-hours charged since midnight UTC.
    pub app_hours_today: u64,
}

impl Platform {
    /// Counts by status, nodes and their load, usage today. Correct on an empty platform.
    pub async fn overview(&self) -> Result<Overview> {
        let mut apps_by_status: BTreeMap<AppStatus, u64> =
            AppStatus::ALL.iter().map(|s| (*s, 0)).collect();
        for (status, n) in self.store().count_apps(None).await? {
            apps_by_status.insert(status, n);
        }
        let apps_total = apps_by_status
            .iter()
            .filter(|(s, _)| **s != AppStatus::Deleted)
            .map(|(_, n)| n)
            .sum();
        let mut nodes = Vec::new();
        if let Some(prov) = &self.inner.provisioner {
            let guests = prov.list().await?;
            let mut per_node: BTreeMap<String, u64> = BTreeMap::new();
            for g in &guests {
                *per_node
                    .entry(g.guest.node.as_str().to_owned())
                    .or_default() += 1;
            }
            for node in prov.nodes().await? {
                let cap = node.capacity.memory_mb;
                let memory_used_percent = if cap == 0 {
                    0.0
                } else {
                    node.used.memory_mb as f64 * 100.0 / cap as f64
                };
                let guests = per_node.get(node.name.as_str()).copied().unwrap_or(0);
                nodes.push(NodeLoad {
                    node,
                    memory_used_percent,
                    guests,
                });
            }
        }
        let now = self.now();
        let midnight = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc())
            .unwrap_or(now);
        let orgs = self.store().list_orgs_all().await?;
        let mut usage_today = Money::ZERO;
        let mut app_hours_today = 0u64;
        for org in &orgs {
            for u in self
                .store()
                .list_usage(org.id, midnight, now + Duration::hours(1))
                .await?
            {
                usage_today = usage_today.checked_add(u.amount).unwrap_or(usage_today);
                app_hours_today += 1;
            }
        }
        Ok(Overview {
            apps_by_status,
            apps_total,
            organizations: orgs.len() as u64,
            nodes,
            unfinished_operations: self.store().count_unfinished_operations().await?,
            usage_today,
            app_hours_today,
        })
    }
}
