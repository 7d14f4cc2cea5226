//! Reads: nodes with capacity, guest status, addresses, the list of guests.

use super::create::marker_tags;
use super::volumes::data_volume_of;
use super::{ProxmoxProvisioner, guest_type};
use crate::client::cluster::{ClusterResource, NodeEntry, NodeStatus};
use crate::client::error::{ErrorClass, class_of};
use crate::client::guest::{GuestStatus, GuestType, split_tags};
use paas_core::model::{Capacity, Node, NodeHealth, NodeKind, NodeName, Vmid};
use paas_core::ports::{Guest, GuestKind, GuestRef, GuestState};
use paas_core::{Error, Result};
use std::net::IpAddr;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

fn state_of(status: &str, qmpstatus: Option<&str>) -> GuestState {
    match (status, qmpstatus) {
        ("running", None | Some("running")) => GuestState::Running,
        ("stopped", _) => GuestState::Stopped,
        _ => GuestState::Unknown,
    }
}

fn cores_of(v: Option<f64>) -> u32 {
    // PVE reports whole cores (fractional CPU limits live in `cpulimit`, not here).
    v.filter(|c| c.is_finite() && *c >= 0.0)
        .map(|c| c.round().min(f64::from(u32::MAX)))
        .map_or(0, |c| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = c as u32;
            n
        })
}

fn node(entry: &NodeEntry, status: Option<&NodeStatus>) -> Option<Node> {
    let name: NodeName = entry.node.parse().ok()?;
    let health = match entry.status.as_str() {
        "online" => NodeHealth::Online,
        "offline" => NodeHealth::Offline,
        _ => NodeHealth::Unknown,
    };
    let maxcpu = entry.maxcpu.unwrap_or(0);
    let cpu_used = entry.cpu.unwrap_or(0.0) * maxcpu as f64;
    let rootfs = status.map(|s| s.rootfs).unwrap_or_default();
    let memory = status.map(|s| s.memory).unwrap_or_default();
    Some(Node {
        name,
        kind: NodeKind::Proxmox,
        capacity: Capacity {
            cpu: u32::try_from(maxcpu).unwrap_or(u32::MAX),
            memory_mb: entry.maxmem.or(memory.total).unwrap_or(0) / MIB,
            disk_gb: rootfs.total.unwrap_or(0) / GIB,
        },
        used: Capacity {
            cpu: cores_of(Some(cpu_used)),
            memory_mb: entry.mem.or(memory.used).unwrap_or(0) / MIB,
            disk_gb: rootfs.used.unwrap_or(0) / GIB,
        },
        health,
    })
}

/// A guest from `/cluster/resources`; `None` for entries that are not guests we can address.
pub(crate) fn guest_from_resource(r: &ClusterResource) -> Option<Guest> {
    let kind = match GuestType::parse(&r.kind)? {
        GuestType::Lxc => GuestKind::Lxc,
        GuestType::Qemu => GuestKind::Vm,
    };
    let vmid = Vmid::try_from(r.vmid?).ok()?;
    let node: NodeName = r.node.as_deref()?.parse().ok()?;
    Some(Guest {
        guest: GuestRef { node, vmid, kind },
        name: r.name.clone().unwrap_or_default(),
        state: state_of(r.status.as_deref().unwrap_or(""), None),
        tags: split_tags(r.tags.as_deref()),
        template: r.template,
        lock: r.lock.clone().filter(|l| !l.is_empty()),
        memory_mb: r.maxmem.unwrap_or(0) / MIB,
        cores: cores_of(r.maxcpu),
        data_volume: None,
    })
}

fn guest_from_status(g: &GuestRef, st: &GuestStatus) -> Guest {
    Guest {
        guest: g.clone(),
        name: st.name.clone().unwrap_or_default(),
        state: state_of(&st.status, st.qmpstatus.as_deref()),
        tags: split_tags(st.tags.as_deref()),
        template: st.template,
        lock: st.lock.clone().filter(|l| !l.is_empty()),
        memory_mb: st.maxmem.unwrap_or(0) / MIB,
        cores: cores_of(st.cpus),
        data_volume: None,
    }
}

/// An address worth reporting: not loopback, not link-local, not unspecified.
fn usable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => {
            !(v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// `10.0.0.5/24` -> `10.0.0.5`.
fn parse_cidr(s: &str) -> Option<IpAddr> {
    s.split('/').next()?.trim().parse().ok()
}

impl ProxmoxProvisioner {
    pub(crate) async fn list_nodes(&self) -> Result<Vec<Node>> {
        let entries = self
            .opts
            .retry
            .run("listing nodes", || self.client.nodes())
            .await?;
        let statuses = futures::future::join_all(entries.iter().map(|e| async move {
            if e.status != "online" {
                return None;
            }
            // Disk capacity is only in the node's status; a node that does not answer is
            // still listed, with what /nodes said.
            self.opts
                .retry
                .run("reading node status", || self.client.node_status(&e.node))
                .await
                .ok()
        }))
        .await;
        Ok(entries
            .iter()
            .zip(statuses.iter())
            .filter_map(|(e, s)| node(e, s.as_ref()))
            .collect())
    }

    pub(crate) async fn guest_status(&self, g: &GuestRef) -> Result<Guest> {
        let kind = guest_type(g.kind);
        let st = self
            .opts
            .retry
            .run("reading guest status", || {
                self.client
                    .guest_status(kind, g.node.as_str(), g.vmid.get())
            })
            .await?;
        Ok(guest_from_status(g, &st))
    }

    /// The port's `status`: the current status, plus what only the config says: a
    /// container's data volume, and the tags a VM clone carries in its description until its
    /// tags are set (so that a clone whose configuration failed is still recognisably ours).
    pub(crate) async fn guest_status_full(&self, g: &GuestRef) -> Result<Guest> {
        let kind = guest_type(g.kind);
        let read_config = || {
            self.opts.retry.run("reading the guest config", || {
                self.client
                    .guest_config(kind, g.node.as_str(), g.vmid.get())
            })
        };
        match g.kind {
            GuestKind::Lxc => {
                let (mut guest, config) = futures::try_join!(self.guest_status(g), read_config())?;
                guest.data_volume = data_volume_of(&config);
                Ok(guest)
            }
            GuestKind::Vm => {
                let mut guest = self.guest_status(g).await?;
                if !guest.is_managed() {
                    let config = read_config().await?;
                    for t in marker_tags(&config) {
                        if !guest.tags.contains(&t) {
                            guest.tags.push(t);
                        }
                    }
                }
                Ok(guest)
            }
        }
    }

    pub(crate) async fn list_guests(&self) -> Result<Vec<Guest>> {
        let resources = self
            .opts
            .retry
            .run("listing guests", || self.client.vm_resources())
            .await?;
        Ok(resources.iter().filter_map(guest_from_resource).collect())
    }

    pub(crate) async fn guest_addresses(&self, g: &GuestRef) -> Result<Vec<IpAddr>> {
        let node = g.node.as_str();
        let vmid = g.vmid.get();
        let mut ips: Vec<IpAddr> = match g.kind {
            GuestKind::Lxc => {
                let ifaces = self
                    .opts
                    .retry
                    .run("reading container interfaces", || {
                        self.client.lxc_interfaces(node, vmid)
                    })
                    .await?
                    .unwrap_or_default();
                ifaces
                    .iter()
                    .filter(|i| i.name != "lo")
                    .flat_map(|i| [i.inet.as_deref(), i.inet6.as_deref()])
                    .flatten()
                    .filter_map(parse_cidr)
                    .collect()
            }
            GuestKind::Vm => {
                let res = self
                    .opts
                    .retry
                    .run("reading VM interfaces", || {
                        self.client.agent_interfaces(node, vmid)
                    })
                    .await;
                match res {
                    Ok(a) => a
                        .result
                        .iter()
                        .filter(|i| i.name != "lo")
                        .flat_map(|i| i.ip_addresses.iter())
                        .filter_map(|a| a.ip_address.parse().ok())
                        .collect(),
                    // A VM that is stopped, or whose guest agent has not come up yet, has no
                    // address to report yet; an absent VM is NotFound.
                    Err(e) if agent_not_ready(&e) => {
                        // Check it exists, so an absent VM is NotFound rather than empty.
                        self.guest_status(g).await?;
                        Vec::new()
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        ips.retain(usable);
        ips.sort();
        ips.dedup();
        Ok(ips)
    }
}

fn agent_not_ready(e: &Error) -> bool {
    match class_of(e) {
        Some(ErrorClass::NotRunning) => true,
        Some(ErrorClass::Other) => {
            let m = e.message();
            m.contains("agent") || m.contains("QEMU guest agent")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_skip_loopback_and_link_local() {
        for (s, ok) in [
            ("10.0.0.5/24", true),
            ("127.0.0.1/8", false),
            ("169.254.1.1/16", false),
            ("fe80::1/64", false),
            ("::1/128", false),
            ("2001:db8::5/64", true),
        ] {
            let ip = parse_cidr(s).unwrap();
            assert_eq!(usable(&ip), ok, "{s}");
        }
        assert!(parse_cidr("garbage").is_none());
    }

    #[test]
    fn resources_become_guests() {
        let r: ClusterResource = serde_json::from_str(
            r#"{"id":"lxc/101","type":"lxc","vmid":101,"node":"pve1","name":"web","status":"running",
                "tags":"paas-managed;paas-app-x","maxmem":1073741824,"maxcpu":2,"template":0}"#,
        )
        .unwrap();
        let g = guest_from_resource(&r).unwrap();
        assert_eq!(g.guest.kind, GuestKind::Lxc);
        assert_eq!(g.memory_mb, 1024);
        assert_eq!(g.cores, 2);
        assert_eq!(g.state, GuestState::Running);
        assert!(g.is_managed());
        let storage: ClusterResource =
            serde_json::from_str(r#"{"id":"storage/pve1/local","type":"storage"}"#).unwrap();
        assert!(guest_from_resource(&storage).is_none());
    }
}
