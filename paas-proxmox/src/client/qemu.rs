//! QEMU-only endpoints: clone and the guest agent's interfaces (the shared ones are in
//! [`super::guest`]).

use super::{ApiRequest, Method, ProxmoxClient, Upid};
use paas_core::Result;
use serde::{Deserialize, Serialize};

/// Parameters of `POST /nodes/{node}/qemu/{vmid}/clone`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloneVm {
    /// VMID of the new VM (required).
    pub newid: u32,
    /// Name of the new VM.
    pub name: Option<String>,
    /// Full clone (copies disks) rather than a linked clone.
    pub full: Option<bool>,
    /// Target storage for a full clone.
    pub storage: Option<String>,
    /// Target node (needs shared storage).
    pub target: Option<String>,
    /// Resource pool.
    pub pool: Option<String>,
    /// Description (notes).
    pub description: Option<String>,
}

/// The agent's `network-get-interfaces` result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInterfaces {
    /// The interfaces.
    #[serde(default)]
    pub result: Vec<AgentInterface>,
}

/// One interface as the QEMU guest agent reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInterface {
    /// Interface name.
    #[serde(default)]
    pub name: String,
    /// MAC address.
    #[serde(rename = "hardware-address", default)]
    pub hardware_address: Option<String>,
    /// Addresses.
    #[serde(rename = "ip-addresses", default)]
    pub ip_addresses: Vec<AgentIpAddress>,
}

/// One address of an [`AgentInterface`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentIpAddress {
    /// The address.
    #[serde(rename = "ip-address", default)]
    pub ip_address: String,
    /// `ipv4` or `ipv6`.
    #[serde(rename = "ip-address-type", default)]
    pub ip_address_type: Option<String>,
    /// Prefix length.
    #[serde(default)]
    pub prefix: Option<u8>,
}

/// `POST /nodes/{node}/qemu/{vmid}/clone`.
pub fn clone_request(node: &str, vmid: u32, p: &CloneVm) -> ApiRequest {
    ApiRequest::new(
        Method::Post,
        ["nodes", node, "qemu", &vmid.to_string(), "clone"],
    )
    .param("newid", p.newid)
    .opt("name", p.name.as_deref())
    .opt_flag("full", p.full)
    .opt("storage", p.storage.as_deref())
    .opt("target", p.target.as_deref())
    .opt("pool", p.pool.as_deref())
    .opt("description", p.description.as_deref())
}

/// `GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces`.
pub fn agent_interfaces_request(node: &str, vmid: u32) -> ApiRequest {
    ApiRequest::new(
        Method::Get,
        [
            "nodes",
            node,
            "qemu",
            &vmid.to_string(),
            "agent",
            "network-get-interfaces",
        ],
    )
}

impl ProxmoxClient {
    /// Clones VM `vmid` (usually a template) on `node`; returns the task (`qmclone`, whose
    /// id is the source VM). The source is locked with a short timeout, so parallel clones of
    /// one template can fail with a (retryable) lock timeout. A lost response is recovered
    /// from the task list when exactly one unclaimed `qmclone` of the source by this user
    /// started since the request (see [`super::TaskRecovery`]).
    pub async fn clone_vm(&self, node: &str, vmid: u32, params: &CloneVm) -> Result<Upid> {
        let key = super::recover::TaskKey {
            node,
            task_type: "qmclone",
            id: vmid,
        };
        self.send_task(&clone_request(node, vmid, params), key)
            .await
    }

    /// The VM's interfaces from the QEMU guest agent (an error while the agent is not running).
    pub async fn agent_interfaces(&self, node: &str, vmid: u32) -> Result<AgentInterfaces> {
        self.send(&agent_interfaces_request(node, vmid)).await
    }
}
