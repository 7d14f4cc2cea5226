//! The shared state of a running simulator.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::access::AccessConfig;
use super::auth::Auth;
use super::clock::Clock;
use super::faults::FaultInjector;
use super::locks::FileLocks;
use super::state::{Guest, Node, State, Volume};
use super::types::{Faults, GuestKind};

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct SimConfig {
    pub nodes: u32,
    pub node_cpus: u32,
    pub node_memory_mb: u64,
    pub node_disk_gb: u64,
    pub seed: u64,
    pub faults: Faults,
    pub task_duration: Duration,
    pub ticket_lifetime: Duration,
    pub auth_failure_delay: Duration,
    pub ip_delay: Duration,
    pub lock_timeout: Duration,
    pub create_lock_timeout: Duration,
    pub clone_lock_timeout: Duration,
    pub http_port: u16,
    pub https_port: u16,
    pub template_vm: bool,
    /// A certificate chain and key (PEM) to serve instead of a generated one.
    pub tls_pem: Option<(String, String)>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 3,
            node_cpus: 16,
            node_memory_mb: 64 * 1024,
            node_disk_gb: 1024,
            seed: 0,
            faults: Faults::default(),
            task_duration: Duration::from_millis(50),
            ticket_lifetime: Duration::from_secs(7200),
            auth_failure_delay: Duration::from_secs(3),
            ip_delay: Duration::from_millis(30),
            lock_timeout: Duration::from_secs(10),
            create_lock_timeout: Duration::from_secs(5),
            clone_lock_timeout: Duration::from_secs(1),
            http_port: 0,
            https_port: 0,
            template_vm: true,
            tls_pem: None,
        }
    }
}

/// Everything the servers and the handle share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub cfg: SimConfig,
    state: Mutex<State>,
    pub faults: FaultInjector,
    pub auth: Auth,
    pub locks: FileLocks,
    pub clock: Clock,
    /// The served certificate's fingerprint (changes when it is renewed).
    pub fingerprint: std::sync::RwLock<String>,
}

/// The LXC templates every node's `local` storage holds.
pub(crate) const LXC_TEMPLATES: [(&str, u64); 3] = [
    (
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        126_847_286,
    ),
    (
        "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz",
        3_025_080,
    ),
    (
        "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
        141_869_056,
    ),
];

/// The VMID of the QEMU template VM on the first node.
pub(crate) const TEMPLATE_VMID: u32 = 9000;

impl Inner {
    /// Builds the initial cluster.
    pub fn new(cfg: SimConfig, fingerprint: String) -> Self {
        let clock = Clock::new();
        let now = clock.now();
        let auth = Auth::new(cfg.ticket_lifetime);
        let nodes: Vec<Node> = (1..=cfg.nodes)
            .map(|i| Node {
                name: format!("pve{i}"),
                maxcpu: cfg.node_cpus,
                maxmem: cfg.node_memory_mb.saturating_mul(1024 * 1024),
                maxdisk: cfg.node_disk_gb.saturating_mul(1 << 30),
                online: true,
            })
            .collect();
        let templates = LXC_TEMPLATES
            .iter()
            .map(|(volid, size)| Volume {
                volid: volid.to_string(),
                content: "vztmpl",
                format: if volid.ends_with(".tar.xz") {
                    "txz"
                } else {
                    "tzst"
                },
                size: *size,
                ctime: now - 86_400 * 30,
            })
            .collect();
        let mut st = State {
            nodes,
            guests: BTreeMap::new(),
            tasks: HashMap::new(),
            templates,
            next_pid: 0x0001_0000 + (cfg.seed % 0x1000) as u32,
            next_mac: (cfg.seed % 0x10000) as u32 * 0x100,
            next_ip: 0,
            volumes: HashMap::new(),
            next_content: 0,
            access: AccessConfig::new(&auth.token.token_id, &auth.token.secret),
            backups: Vec::new(),
        };
        if cfg.template_vm
            && let Some(node) = st.nodes.first().map(|n| n.name.clone())
        {
            let mac = st.new_mac();
            let ip = st.new_dhcp_ip();
            let config: BTreeMap<String, String> = [
                ("name", "debian-12-cloud".to_string()),
                ("template", "1".into()),
                ("memory", "2048".into()),
                ("cores", "2".into()),
                ("sockets", "1".into()),
                ("agent", "1".into()),
                ("ostype", "l26".into()),
                ("scsihw", "virtio-scsi-single".into()),
                (
                    "scsi0",
                    format!("local-lvm:base-{TEMPLATE_VMID}-disk-0,size=8G"),
                ),
                (
                    "ide2",
                    format!("local-lvm:vm-{TEMPLATE_VMID}-cloudinit,media=cdrom"),
                ),
                ("boot", "order=scsi0".into()),
                ("net0", format!("virtio={mac},bridge=vmbr0")),
                ("ipconfig0", "ip=dhcp".into()),
                ("serial0", "socket".into()),
                ("vga", "serial0".into()),
                (
                    "smbios1",
                    "uuid=6a2f4b1e-3c5d-4e7f-8a9b-0c1d2e3f4a5b".into(),
                ),
                ("vmgenid", "0b9f3c2a-1d4e-4f6a-8b7c-9d0e1f2a3b4c".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            st.guests.insert(
                TEMPLATE_VMID,
                Guest {
                    vmid: TEMPLATE_VMID,
                    node,
                    kind: GuestKind::Qemu,
                    config,
                    running: false,
                    started: None,
                    started_epoch: 0,
                    dhcp_ip: ip,
                    snapshots: BTreeMap::new(),
                },
            );
        }
        Inner {
            faults: FaultInjector::new(cfg.faults.clone(), cfg.seed),
            auth,
            locks: FileLocks::default(),
            clock,
            fingerprint: std::sync::RwLock::new(fingerprint),
            state: Mutex::new(st),
            cfg,
        }
    }

    /// The served certificate's fingerprint.
    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The cluster state (a poisoned lock is recovered: every writer leaves it consistent).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
