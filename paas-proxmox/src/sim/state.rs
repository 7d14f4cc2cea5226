//! The simulated cluster: nodes, storage, guests and their configs.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::access::AccessConfig;
use super::backups::BackupVolume;
use super::tasks::Task;
use super::types::{GuestInfo, GuestKind, GuestStatus};

/// Memory a node uses with no guest running (1.5 GiB).
pub(crate) const NODE_BASE_MEM: u64 = 1536 * 1024 * 1024;

/// One cluster node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: String,
    pub maxcpu: u32,
    pub maxmem: u64,
    pub maxdisk: u64,
    pub online: bool,
}

/// One guest (LXC container or QEMU VM) and its config file.
#[derive(Debug, Clone)]
pub(crate) struct Guest {
    pub vmid: u32,
    pub node: String,
    pub kind: GuestKind,
    /// The config map as `GET .../config` shows it (without `digest`).
    pub config: BTreeMap<String, String>,
    pub running: bool,
    /// When it was started (for the DHCP / guest agent delay).
    pub started: Option<Instant>,
    /// Simulated wall time (epoch seconds) of the start, for `uptime`.
    pub started_epoch: i64,
    /// The IPv4 address (CIDR) DHCP gives it; static addresses come from `net0`/`ipconfig0`.
    pub dhcp_ip: String,
    /// Snapshots by name: each a copy of the config map as it was (plus PVE's `snaptime`,
    /// `description`, `parent`, `snapstate`, `vmstate` keys), as the snapshot sections of the
    /// config file hold them.
    pub snapshots: BTreeMap<String, BTreeMap<String, String>>,
}

impl Guest {
    /// `CT` or `VM`, as PVE names them in messages.
    pub fn noun(&self) -> &'static str {
        noun(self.kind)
    }

    /// Hostname (LXC) or name (QEMU), with PVE's defaults.
    pub fn name(&self) -> String {
        let key = match self.kind {
            GuestKind::Lxc => "hostname",
            GuestKind::Qemu => "name",
        };
        match self.config.get(key) {
            Some(n) => n.clone(),
            None => match self.kind {
                GuestKind::Lxc => format!("CT{}", self.vmid),
                GuestKind::Qemu => format!("VM {}", self.vmid),
            },
        }
    }

    /// The config lock, if any.
    pub fn lock(&self) -> Option<&str> {
        self.config.get("lock").map(String::as_str)
    }

    /// Configured memory in MiB.
    pub fn memory_mb(&self) -> u64 {
        self.config
            .get("memory")
            .and_then(|m| m.parse().ok())
            .unwrap_or(512)
    }

    /// Configured memory in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_mb().saturating_mul(1024 * 1024)
    }

    /// Configured CPU cores (sockets x cores for QEMU).
    pub fn cores(&self) -> u32 {
        let cores = self
            .config
            .get("cores")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1u32);
        let sockets = self
            .config
            .get("sockets")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1u32);
        cores.saturating_mul(sockets).max(1)
    }

    /// Whether it is a template.
    pub fn is_template(&self) -> bool {
        self.config.get("template").is_some_and(|t| t == "1")
    }

    /// Tags as a list.
    pub fn tags(&self) -> Vec<String> {
        self.config
            .get("tags")
            .map(|t| split_tags(t))
            .unwrap_or_default()
    }

    /// Root disk size in bytes (`size=NG` of rootfs / scsi0 / virtio0).
    pub fn disk_bytes(&self) -> u64 {
        ["rootfs", "scsi0", "virtio0", "sata0", "ide0"]
            .iter()
            .filter_map(|k| self.config.get(*k))
            .find_map(|v| {
                v.split(',')
                    .find_map(|p| p.strip_prefix("size="))
                    .and_then(parse_size)
            })
            .unwrap_or(0)
    }

    /// Memory used while running (bytes): the configured memory, so node accounting adds up.
    pub fn mem_used(&self) -> u64 {
        if self.running { self.memory_bytes() } else { 0 }
    }

    /// The digest of the config (PVE: SHA-1 of the file; here 40 hex chars of SHA-256).
    pub fn digest(&self) -> String {
        config_digest(&self.config)
    }

    /// Public snapshot.
    pub fn info(&self) -> GuestInfo {
        GuestInfo {
            vmid: self.vmid,
            node: self.node.clone(),
            kind: self.kind,
            status: if self.running {
                GuestStatus::Running
            } else {
                GuestStatus::Stopped
            },
            name: self.name(),
            tags: self.tags(),
            lock: self.lock().map(str::to_string),
            template: self.is_template(),
            memory_mb: self.memory_mb(),
        }
    }
}

/// `CT` or `VM`.
pub(crate) fn noun(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Lxc => "CT",
        GuestKind::Qemu => "VM",
    }
}

/// `nodes/pve1/lxc/100.conf` or `nodes/pve1/qemu-server/100.conf`.
pub(crate) fn conf_path(node: &str, kind: GuestKind, vmid: u32) -> String {
    match kind {
        GuestKind::Lxc => format!("nodes/{node}/lxc/{vmid}.conf"),
        GuestKind::Qemu => format!("nodes/{node}/qemu-server/{vmid}.conf"),
    }
}

/// Digest of a config map.
pub(crate) fn config_digest(config: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in config {
        h.update(k.as_bytes());
        h.update(b": ");
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    let mut d = hex::encode(h.finalize());
    d.truncate(40);
    d
}

/// PVE's tag normalisation: split on `;`, `,` or space, drop duplicates, sort.
pub(crate) fn split_tags(tags: &str) -> Vec<String> {
    let mut out: Vec<String> = tags
        .split([';', ',', ' '])
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `8G`, `512M`, `4` (GiB) to bytes.
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let (num, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "G"),
    };
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit {
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    Some((n * mult as f64) as u64)
}

/// A storage volume (a template archive or a guest disk).
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub volid: String,
    pub content: &'static str,
    pub format: &'static str,
    pub size: u64,
    pub ctime: i64,
}

/// The whole simulated cluster.
#[derive(Debug)]
pub(crate) struct State {
    pub nodes: Vec<Node>,
    pub guests: BTreeMap<u32, Guest>,
    pub tasks: HashMap<String, Task>,
    /// LXC templates in storage `local` (present on every node).
    pub templates: Vec<Volume>,
    pub next_pid: u32,
    pub next_mac: u32,
    pub next_ip: u32,
    /// Sizes and content ids of guest volumes, by node and volume id (see [`super::volumes`]).
    pub volumes: HashMap<String, super::volumes::VolMeta>,
    /// The last content id handed out.
    pub next_content: u64,
    /// `user.cfg`: users, tokens, ACLs, pools.
    pub access: AccessConfig,
    /// Backup archives (`vzdump-*`) on the nodes' storages.
    pub backups: Vec<BackupVolume>,
}

/// The storages every node has: `(name, type, content)` of a stock LVM-thin install
/// (pve-installer `Proxmox/Install/StorageConfig.pm`: `local` is a directory for ISOs,
/// templates, backups and imports; guest disks go to the thin pool `local-lvm`).
pub(crate) const STORAGES: [(&str, &str, &str); 2] = [
    ("local", "dir", "iso,vztmpl,backup,import"),
    ("local-lvm", "lvmthin", "rootdir,images"),
];

impl State {
    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Memory used on a node (bytes).
    pub fn node_mem_used(&self, node: &str) -> u64 {
        self.guests
            .values()
            .filter(|g| g.node == node)
            .map(Guest::mem_used)
            .fold(NODE_BASE_MEM, u64::saturating_add)
    }

    /// Disk used on a node (bytes).
    pub fn node_disk_used(&self, node: &str) -> u64 {
        self.guests
            .values()
            .filter(|g| g.node == node)
            .map(Guest::disk_bytes)
            .fold(4u64 << 30, u64::saturating_add)
    }

    /// A fresh MAC address with Proxmox's OUI `BC:24:11`.
    pub fn new_mac(&mut self) -> String {
        self.next_mac = self.next_mac.wrapping_add(1);
        let n = self.next_mac;
        format!(
            "BC:24:11:{:02X}:{:02X}:{:02X}",
            (n >> 16) & 0xff,
            (n >> 8) & 0xff,
            n & 0xff
        )
    }

    /// A fresh DHCP address in 10.10.0.0/16.
    pub fn new_dhcp_ip(&mut self) -> String {
        self.next_ip = self.next_ip.wrapping_add(1);
        let n = self.next_ip % 65000 + 10;
        format!("10.10.{}.{}/16", n / 256, n % 256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_tags() {
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size("4"), Some(4 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(split_tags("b;a,b c"), vec!["a", "b", "c"]);
    }
}
