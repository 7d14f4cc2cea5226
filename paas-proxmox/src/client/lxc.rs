//! LXC-only endpoints: create, reboot and interfaces (the shared ones are in [`super::guest`]).

use super::{ApiRequest, Method, ProxmoxClient, Upid};
use paas_core::Result;
use paas_core::model::Secret;
use serde::{Deserialize, Serialize};

/// Parameters of `POST /nodes/{node}/lxc` (create a container).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateLxc {
    /// VMID (required).
    pub vmid: u32,
    /// Template volume, e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst` (required).
    pub ostemplate: String,
    /// Hostname.
    pub hostname: Option<String>,
    /// Cores.
    pub cores: Option<u32>,
    /// Memory, MiB.
    pub memory: Option<u32>,
    /// Swap, MiB.
    pub swap: Option<u32>,
    /// Root filesystem, e.g. `local-lvm:8` (8 GiB on `local-lvm`).
    pub rootfs: Option<String>,
    /// First network device, e.g. `name=eth0,bridge=vmbr0,ip=dhcp`.
    pub net0: Option<String>,
    /// Root password (at least 5 characters; redacted in Debug).
    pub password: Option<Secret>,
    /// SSH public keys for root, one per line.
    pub ssh_public_keys: Option<String>,
    /// Unprivileged container.
    pub unprivileged: Option<bool>,
    /// Start after creating.
    pub start: Option<bool>,
    /// Default storage.
    pub storage: Option<String>,
    /// Resource pool.
    pub pool: Option<String>,
    /// Container features, e.g. `nesting=1`.
    pub features: Option<String>,
    /// Tags, `;`-separated.
    pub tags: Option<String>,
    /// Description (notes).
    pub description: Option<String>,
}

/// One interface of a running container (`GET .../interfaces`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LxcInterface {
    /// Interface name (`eth0`, `lo`).
    #[serde(default)]
    pub name: String,
    /// MAC address.
    #[serde(default)]
    pub hwaddr: Option<String>,
    /// IPv4 address with prefix, e.g. `10.0.0.5/24`.
    #[serde(default)]
    pub inet: Option<String>,
    /// IPv6 address with prefix.
    #[serde(default)]
    pub inet6: Option<String>,
}

/// `POST /nodes/{node}/lxc`.
pub fn create_request(node: &str, p: &CreateLxc) -> ApiRequest {
    let mut req = ApiRequest::new(Method::Post, ["nodes", node, "lxc"])
        .param("vmid", p.vmid)
        .param("ostemplate", &p.ostemplate)
        .opt("hostname", p.hostname.as_deref())
        .opt("cores", p.cores)
        .opt("memory", p.memory)
        .opt("swap", p.swap)
        .opt("rootfs", p.rootfs.as_deref())
        .opt("net0", p.net0.as_deref())
        .opt("ssh-public-keys", p.ssh_public_keys.as_deref())
        .opt_flag("unprivileged", p.unprivileged)
        .opt_flag("start", p.start)
        .opt("storage", p.storage.as_deref())
        .opt("pool", p.pool.as_deref())
        .opt("features", p.features.as_deref())
        .opt("tags", p.tags.as_deref())
        .opt("description", p.description.as_deref());
    if let Some(pw) = &p.password {
        req = req.secret("password", pw.expose());
    }
    req
}

/// `POST /nodes/{node}/lxc/{vmid}/status/reboot`.
pub fn reboot_request(node: &str, vmid: u32, timeout: Option<u32>) -> ApiRequest {
    ApiRequest::new(
        Method::Post,
        ["nodes", node, "lxc", &vmid.to_string(), "status", "reboot"],
    )
    .opt("timeout", timeout)
}

/// `GET /nodes/{node}/lxc/{vmid}/interfaces`.
pub fn interfaces_request(node: &str, vmid: u32) -> ApiRequest {
    ApiRequest::new(
        Method::Get,
        ["nodes", node, "lxc", &vmid.to_string(), "interfaces"],
    )
}

impl ProxmoxClient {
    /// Creates a container; returns the task (`vzcreate`). The config carries `lock: create`
    /// until the task ends.
    ///
    /// If the response is lost (596, a dropped connection), the client finds the `vzcreate`
    /// task in the node's task list instead of posting again (see [`super::TaskRecovery`]).
    pub async fn create_lxc(&self, node: &str, params: &CreateLxc) -> Result<Upid> {
        let key = super::recover::TaskKey {
            node,
            task_type: "vzcreate",
            id: params.vmid,
        };
        self.send_task(&create_request(node, params), key).await
    }

    /// Reboots a running container (shutdown with `timeout`, then start); returns the task.
    pub async fn reboot_lxc(&self, node: &str, vmid: u32, timeout: Option<u32>) -> Result<Upid> {
        let key = super::recover::TaskKey {
            node,
            task_type: "vzreboot",
            id: vmid,
        };
        self.send_task(&reboot_request(node, vmid, timeout), key)
            .await
    }

    /// The interfaces of a container; `None` while it is stopped.
    pub async fn lxc_interfaces(&self, node: &str, vmid: u32) -> Result<Option<Vec<LxcInterface>>> {
        self.send(&interfaces_request(node, vmid)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_sends_password_but_never_shows_it() {
        let p = CreateLxc {
            vmid: 100,
            ostemplate: "local:vztmpl/x.tar.zst".into(),
            password: Some(Secret::new("hunter22")),
            unprivileged: Some(true),
            ..CreateLxc::default()
        };
        let r = create_request("pve", &p);
        assert!(r.params().contains(&("password".into(), "hunter22".into())));
        assert!(r.params().contains(&("unprivileged".into(), "1".into())));
        assert!(!format!("{r:?}").contains("hunter22"));
        assert!(!format!("{p:?}").contains("hunter22"));
    }
}
