//! LXC-only endpoints: create (with mount points and env), reboot and interfaces (the shared
//! ones are in [`super::guest`], disks in [`super::disks`]).

use super::{ApiRequest, BACKEND, Method, ProxmoxClient, Upid};
use paas_core::model::Secret;
use paas_core::{Error, Result};
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
    /// Extra mount points `mpN`, e.g. `(0, "local-lvm:8,mp=/srv/data,backup=1")` (a new 8 GiB
    /// volume on `local-lvm`).
    pub mount_points: Vec<(u32, String)>,
    /// The runtime environment (PVE 9.1 `env`): NUL-separated `KEY=value` entries, as
    /// [`encode_env`] makes them; secret (redacted in Debug, never logged).
    pub env: Option<Secret>,
    /// The command run as init (PVE 9.1 `entrypoint`; default `/sbin/init`).
    pub entrypoint: Option<String>,
}

/// Encodes an environment for `env`: `KEY=value` entries joined by NUL, as pve-container's
/// schema wants them (`(?:\w+=[^\x00-\x08\x10-\x1F\x7F]*)(?:\0\w+=...)*`).
///
/// PVE stores each entry as a line `lxc.environment.runtime: KEY=value` of the config file and
/// trims trailing white space when it reads it back, so a value that holds a control character
/// (a line feed would cut it short), or ends in white space, could not come back as it was
/// given: it is refused (`InvalidInput`, naming the key, never the value). Keys must match
/// `\w+`. An empty map gives `None` (no `env` at all).
///
/// ```
/// use paas_core::model::Secret;
/// use paas_proxmox::client::lxc::encode_env;
/// let env = vec![("A".to_string(), Secret::new("1")), ("B".to_string(), Secret::new("x y"))];
/// assert_eq!(encode_env(env).unwrap().unwrap().expose(), "A=1\0B=x y");
/// assert!(encode_env(vec![("A".to_string(), Secret::new("line\nfeed"))]).is_err());
/// ```
pub fn encode_env<I, K>(vars: I) -> Result<Option<Secret>>
where
    I: IntoIterator<Item = (K, Secret)>,
    K: AsRef<str>,
{
    let mut out = String::new();
    for (key, value) in vars {
        let key = key.as_ref();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::invalid_input(format!(
                "environment variable name '{key}' is not valid for Proxmox VE: use letters, \
                 digits and '_'"
            ))
            .with_backend(BACKEND));
        }
        let v = value.expose();
        if v.chars().any(char::is_control) {
            return Err(Error::invalid_input(format!(
                "the value of environment variable '{key}' contains a control character \
                 (such as a line feed), which a Proxmox VE container config cannot hold: \
                 encode it (e.g. base64)"
            ))
            .with_backend(BACKEND));
        }
        if v.ends_with(char::is_whitespace) {
            return Err(Error::invalid_input(format!(
                "the value of environment variable '{key}' ends in white space, which \
                 Proxmox VE trims when it reads the container config back: remove or encode it"
            ))
            .with_backend(BACKEND));
        }
        if !out.is_empty() {
            out.push('\0');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(v);
    }
    Ok((!out.is_empty()).then(|| Secret::new(out)))
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
        .opt("description", p.description.as_deref())
        .opt("entrypoint", p.entrypoint.as_deref());
    for (n, mp) in &p.mount_points {
        req = req.param(&format!("mp{n}"), mp);
    }
    if let Some(pw) = &p.password {
        req = req.secret("password", pw.expose());
    }
    if let Some(env) = &p.env {
        req = req.secret("env", env.expose());
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
