//! Cluster-wide endpoints: version, nodes, node status, cluster resources, nextid, login.

use super::num;
use super::{ApiRequest, Method, ProxmoxClient};
use paas_core::Result;
use serde::{Deserialize, Serialize};

/// `GET /version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// e.g. `9.1.3`.
    #[serde(default)]
    pub version: String,
    /// e.g. `9.1`.
    #[serde(default)]
    pub release: String,
    /// Git commit of pve-manager.
    #[serde(default)]
    pub repoid: String,
}

/// One entry of `GET /nodes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Node name.
    pub node: String,
    /// `online`, `offline` or `unknown`.
    #[serde(default)]
    pub status: String,
    /// CPU utilisation, 0.0..=1.0.
    #[serde(default, deserialize_with = "num::opt_f64")]
    pub cpu: Option<f64>,
    /// CPU count.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub maxcpu: Option<u64>,
    /// Memory used, bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub mem: Option<u64>,
    /// Memory total, bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub maxmem: Option<u64>,
    /// Seconds since boot.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub uptime: Option<u64>,
    /// SHA-256 fingerprint of the node's HTTPS certificate (colon hex).
    #[serde(default)]
    pub ssl_fingerprint: Option<String>,
}

/// Total/used/free triple in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Total bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub total: Option<u64>,
    /// Used bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub used: Option<u64>,
    /// Free bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub free: Option<u64>,
}

/// `cpuinfo` of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuInfo {
    /// Logical CPUs.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub cpus: Option<u64>,
    /// Cores per socket.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub cores: Option<u64>,
    /// Sockets.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub sockets: Option<u64>,
    /// Model name.
    #[serde(default)]
    pub model: Option<String>,
}

/// `GET /nodes/{node}/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// CPU utilisation, 0.0..=1.0.
    #[serde(default, deserialize_with = "num::opt_f64")]
    pub cpu: Option<f64>,
    /// CPU description.
    #[serde(default)]
    pub cpuinfo: CpuInfo,
    /// Memory.
    #[serde(default)]
    pub memory: Usage,
    /// Root filesystem.
    #[serde(default)]
    pub rootfs: Usage,
    /// Load averages (1, 5, 15 min), as PVE sends them (strings).
    #[serde(default)]
    pub loadavg: Vec<serde_json::Value>,
}

/// One guest in `GET /cluster/resources?type=vm`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterResource {
    /// `lxc/100` or `qemu/100`.
    #[serde(default)]
    pub id: String,
    /// `lxc` or `qemu`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// VMID.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub vmid: Option<u64>,
    /// Node it lives on.
    #[serde(default)]
    pub node: Option<String>,
    /// Guest name.
    #[serde(default, deserialize_with = "num::opt_string")]
    pub name: Option<String>,
    /// `running`, `stopped`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// Whether it is a template.
    #[serde(default, deserialize_with = "num::bool")]
    pub template: bool,
    /// Cores.
    #[serde(default, deserialize_with = "num::opt_f64")]
    pub maxcpu: Option<f64>,
    /// Memory used, bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub mem: Option<u64>,
    /// Memory configured, bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub maxmem: Option<u64>,
    /// Root disk size, bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub maxdisk: Option<u64>,
    /// Seconds running.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub uptime: Option<u64>,
    /// Resource pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// Tags, `;`-separated.
    #[serde(default)]
    pub tags: Option<String>,
    /// Config lock held (`create`, `clone`, `backup`, ...).
    #[serde(default)]
    pub lock: Option<String>,
}

/// `GET /version`.
pub fn version_request() -> ApiRequest {
    ApiRequest::new(Method::Get, ["version"])
}

/// `GET /nodes`.
pub fn nodes_request() -> ApiRequest {
    ApiRequest::new(Method::Get, ["nodes"])
}

/// `GET /nodes/{node}/status`.
pub fn node_status_request(node: &str) -> ApiRequest {
    ApiRequest::new(Method::Get, ["nodes", node, "status"])
}

/// `GET /cluster/resources?type=vm`.
pub fn vm_resources_request() -> ApiRequest {
    ApiRequest::new(Method::Get, ["cluster", "resources"]).param("type", "vm")
}

/// `GET /cluster/nextid[?vmid=N]`.
pub fn nextid_request(vmid: Option<u32>) -> ApiRequest {
    ApiRequest::new(Method::Get, ["cluster", "nextid"]).opt("vmid", vmid)
}

/// `POST /access/ticket`.
pub fn ticket_request(username: &str, password: &str) -> ApiRequest {
    ApiRequest::new(Method::Post, ["access", "ticket"])
        .param("username", username)
        .secret("password", password)
}

/// The body of `/cluster/nextid`: a number that PVE sends as a string.
#[derive(Deserialize)]
#[serde(transparent)]
struct NextId(#[serde(deserialize_with = "num::u64")] u64);

impl ProxmoxClient {
    /// `GET /version`: the server's version.
    pub async fn version(&self) -> Result<Version> {
        self.send(&version_request()).await
    }

    /// `GET /nodes`: every node of the cluster.
    pub async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.send(&nodes_request()).await
    }

    /// `GET /nodes/{node}/status`: a node's CPU, memory and root filesystem.
    pub async fn node_status(&self, node: &str) -> Result<NodeStatus> {
        self.send(&node_status_request(node)).await
    }

    /// `GET /cluster/resources?type=vm`: every guest on the cluster, templates included.
    pub async fn vm_resources(&self) -> Result<Vec<ClusterResource>> {
        self.send(&vm_resources_request()).await
    }

    /// `GET /cluster/nextid`: the lowest free VMID, or with `Some(n)`, `n` if it is free
    /// (`Conflict` if a guest has it). It reserves nothing: another client can take the id
    /// before this one creates a guest under it.
    pub async fn nextid(&self, vmid: Option<u32>) -> Result<u32> {
        let req = nextid_request(vmid);
        let NextId(id) = self.send(&req).await?;
        u32::try_from(id)
            .map_err(|_| super::error::bad_response(&req, format!("VMID {id} out of range")))
    }

    /// `POST /access/ticket`: logs in and returns the raw reply (ticket, CSRF token, user).
    /// The client does this by itself for password auth; this is for callers that need a
    /// ticket for something else (a console, a websocket).
    pub async fn access_ticket(&self, username: &str, password: &str) -> Result<serde_json::Value> {
        self.send(&ticket_request(username, password)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_accept_strings_for_numbers() {
        let j = r#"[{"id":"lxc/100","type":"lxc","vmid":"100","node":"pve","name":"a","status":"running",
                    "template":0,"maxcpu":2,"maxmem":"536870912","tags":"paas-managed;x"},
                   {"id":"qemu/9000","type":"qemu","vmid":9000,"node":"pve","template":1,"name":9000}]"#;
        let r: Vec<ClusterResource> = serde_json::from_str(j).unwrap();
        assert_eq!(r[0].vmid, Some(100));
        assert_eq!(r[0].maxmem, Some(536_870_912));
        assert!(r[1].template);
        assert_eq!(r[1].name.as_deref(), Some("9000"));
    }

    #[test]
    fn nextid_as_string_or_number() {
        let a: NextId = serde_json::from_str(r#""100""#).unwrap();
        let b: NextId = serde_json::from_str("101").unwrap();
        assert_eq!((a.0, b.0), (100, 101));
    }
}
