//! The `Provisioner` port: guests (LXC containers and QEMU VMs) on a cluster of nodes.

use crate::Result;
use crate::model::{AppId, EnvKey, Hostname, MountPath, Node, NodeName, Secret, Vmid};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::IpAddr;
use std::time::Duration;

/// The tag every guest the platform creates carries, so `list()` tells ours from the rest.
pub const MANAGED_TAG: &str = "paas-managed";

/// The tag naming the app a managed guest belongs to.
///
/// ```
/// use paas_core::model::AppId;
/// use paas_core::ports::app_tag;
/// let app = AppId::new();
/// assert_eq!(app_tag(app), format!("paas-app-{}", app.as_uuid().simple()));
/// ```
pub fn app_tag(app: AppId) -> String {
    format!("paas-app-{}", app.as_uuid().simple())
}

/// Reads the app id back from a guest's tags (see [`app_tag`]).
pub fn app_from_tags(tags: &[String]) -> Option<AppId> {
    tags.iter().find_map(|t| {
        t.strip_prefix("paas-app-")
            .and_then(|hex| uuid::Uuid::parse_str(hex).ok())
            .map(AppId::from_uuid)
    })
}

/// LXC container or QEMU VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestKind {
    /// LXC container.
    Lxc,
    /// QEMU virtual machine.
    Vm,
}

/// Which guest: enough to address it on the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GuestRef {
    /// Node it lives on.
    pub node: NodeName,
    /// Its VMID (unique on the cluster).
    pub vmid: Vmid,
    /// Container or VM.
    pub kind: GuestKind,
}

/// What a new guest is made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GuestSource {
    /// An LXC container from a template volume (`local:vztmpl/...`).
    LxcTemplate {
        /// Template volume id.
        template: String,
    },
    /// A QEMU VM cloned from a template VM.
    CloneVm {
        /// The template VM.
        template: Vmid,
    },
}

/// A persistent data volume of an LXC guest: Proxmox's mount point `mp0`, on the node's
/// container storage. It outlives the guests of an app: a redeploy moves it from the old guest
/// to the new one ([`Provisioner::move_data_volume`]); only destroying the guest that holds it
/// destroys it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataVolume {
    /// Size, GiB (at least 1).
    pub size_gb: u32,
    /// Where it is mounted inside the guest.
    pub mount_path: MountPath,
}

/// A data volume as the backend reports it on a guest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VolumeInfo {
    /// The backend's id of the volume (on Proxmox a volume id such as
    /// `local-lvm:vm-101-disk-1`; it may change when the volume moves to another guest).
    pub volume: String,
    /// Size, GiB.
    pub size_gb: u32,
    /// Where it is mounted inside the guest.
    pub mount_path: MountPath,
}

/// A guest to create.
///
/// ```
/// use paas_core::ports::{GuestSource, GuestSpec};
/// let spec = GuestSpec::new(
///     "101".parse().unwrap(),
///     "pve1".parse().unwrap(),
///     "shop".parse().unwrap(),
///     GuestSource::LxcTemplate { template: "local:vztmpl/debian-12.tar.zst".into() },
/// );
/// assert_eq!((spec.cores, spec.memory_mb, spec.disk_gb), (1, 512, 8));
/// assert!(spec.env.is_empty() && spec.data_volume.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSpec {
    /// VMID to create it under (allocated by the caller).
    pub vmid: Vmid,
    /// Node to place it on.
    pub node: NodeName,
    /// Guest hostname.
    pub hostname: Hostname,
    /// Template or clone source.
    pub source: GuestSource,
    /// CPU cores.
    pub cores: u32,
    /// Memory, MiB.
    pub memory_mb: u32,
    /// Root disk, GiB. A VM clone is grown to it when the template's disk is smaller.
    pub disk_gb: u32,
    /// Tags; the provisioner adds [`MANAGED_TAG`] itself.
    pub tags: Vec<String>,
    /// Root password for LXC (redacted in Debug).
    pub password: Option<Secret>,
    /// SSH public keys to install.
    pub ssh_public_keys: Option<String>,
    /// The runtime environment of an LXC container (Proxmox VE 9.1's `env` config key); values
    /// are redacted in Debug and never logged. A VM spec with env is `InvalidInput`: there is
    /// no delivery to VMs yet.
    #[serde(default)]
    pub env: BTreeMap<EnvKey, Secret>,
    /// A data volume to create with an LXC guest (`mp0`). `None` for a guest that is to
    /// receive an existing volume by [`Provisioner::move_data_volume`]. A VM spec with one is
    /// `InvalidInput`.
    #[serde(default)]
    pub data_volume: Option<DataVolume>,
}

impl GuestSpec {
    /// A spec with 1 core, 512 MiB, an 8 GiB disk, and no tags, credentials, env or data
    /// volume; set the public fields for the rest.
    pub fn new(vmid: Vmid, node: NodeName, hostname: Hostname, source: GuestSource) -> Self {
        GuestSpec {
            vmid,
            node,
            hostname,
            source,
            cores: 1,
            memory_mb: 512,
            disk_gb: 8,
            tags: Vec::new(),
            password: None,
            ssh_public_keys: None,
            env: BTreeMap::new(),
            data_volume: None,
        }
    }
}

/// Whether a guest runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestState {
    /// Running.
    Running,
    /// Stopped.
    Stopped,
    /// Anything else the backend reports (paused, unknown).
    Unknown,
}

/// A guest as the cluster reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guest {
    /// Which guest.
    pub guest: GuestRef,
    /// Its name on the cluster.
    pub name: String,
    /// Running or stopped.
    pub state: GuestState,
    /// Its tags.
    pub tags: Vec<String>,
    /// A template (never started, used to create others).
    pub template: bool,
    /// A lock held on its config (`create`, `clone`, ...), if any.
    pub lock: Option<String>,
    /// Memory, MiB.
    pub memory_mb: u64,
    /// CPU cores.
    pub cores: u32,
    /// Its data volume (`mp0`), if it holds one. [`Provisioner::status`] reports it;
    /// [`Provisioner::list`] may leave it `None` (the listing is one call for the cluster).
    #[serde(default)]
    pub data_volume: Option<VolumeInfo>,
}

impl Guest {
    /// Whether the platform created it (it carries [`MANAGED_TAG`]).
    pub fn is_managed(&self) -> bool {
        self.tags.iter().any(|t| t == MANAGED_TAG)
    }
}

/// How to stop a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum StopMode {
    /// Ask the guest to shut down; force it off if it has not within `timeout`.
    Graceful {
        /// How long to wait for a clean shutdown.
        #[serde(with = "crate::model::duration_ms")]
        timeout: Duration,
    },
    /// Power off at once.
    Force,
}

/// Guests (LXC containers and QEMU VMs) on a cluster of nodes.
///
/// Semantics every implementation honours (the `testkit` suite checks them):
/// - `create` is idempotent: if a guest with the spec's VMID exists and carries the same app
///   tag (a retried create), it is `Ok` with that guest; if the VMID is held by another guest it
///   is `Conflict` with `retryable = false` (allocate another VMID). Every other conflict (a
///   config lock held, a lock timeout) is retryable and means: try the same VMID again. The
///   guest is left stopped. A create that fails after the guest came to exist either destroys
///   it before returning, or leaves it reporting the spec's tags through `status`, so that the
///   caller's cleanup recognises it as its own.
/// - `move_data_volume(from, to)` moves the data volume of `from` to `to` (two stopped LXC
///   guests on the same node); `Ok` when `to` already holds it and `from` none (a retried
///   move). `NotFound` when neither holds one, `Conflict` when both do or a guest runs.
/// - `start` of a running guest and `stop` of a stopped one are `Ok`.
/// - `destroy` of an absent guest is `Ok`; a running guest is stopped first.
/// - `status` and `addresses` of an absent guest are `NotFound`.
/// - `list` returns every guest on the cluster, managed or not, with its tags.
/// - Transient backend failures are errors with `retryable = true`.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Provisioner: Send + Sync + Debug + 'static {
    /// Nodes with their capacity and what is used.
    async fn nodes(&self) -> Result<Vec<Node>>;

    /// Creates a guest (stopped) and returns where it is.
    async fn create(&self, spec: &GuestSpec) -> Result<GuestRef>;

    /// Starts a guest.
    async fn start(&self, guest: &GuestRef) -> Result<()>;

    /// Stops a guest.
    async fn stop(&self, guest: &GuestRef, mode: StopMode) -> Result<()>;

    /// Destroys a guest and its disks (its data volume included).
    async fn destroy(&self, guest: &GuestRef) -> Result<()>;

    /// Moves the data volume of `from` to `to`, both stopped LXC guests on one node.
    async fn move_data_volume(&self, from: &GuestRef, to: &GuestRef) -> Result<()>;

    /// The guest as the cluster reports it.
    async fn status(&self, guest: &GuestRef) -> Result<Guest>;

    /// IP addresses of a running guest (empty while none is known yet, e.g. DHCP pending).
    async fn addresses(&self, guest: &GuestRef) -> Result<Vec<IpAddr>>;

    /// Every guest on the cluster.
    async fn list(&self) -> Result<Vec<Guest>>;
}
