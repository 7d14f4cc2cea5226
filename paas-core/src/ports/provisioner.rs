//! The `Provisioner` port: guests (LXC containers and QEMU VMs) on a cluster of nodes.

use crate::Result;
use crate::model::{AppId, Hostname, Node, NodeName, Secret, Vmid};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
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

/// A guest to create.
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
    /// Root disk, GiB.
    pub disk_gb: u32,
    /// Tags; the provisioner adds [`MANAGED_TAG`] itself.
    pub tags: Vec<String>,
    /// Root password for LXC (redacted in Debug).
    pub password: Option<Secret>,
    /// SSH public keys to install.
    pub ssh_public_keys: Option<String>,
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
///   is `Conflict` (non-retryable: allocate another VMID). The guest is left stopped.
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

    /// Destroys a guest and its disks.
    async fn destroy(&self, guest: &GuestRef) -> Result<()>;

    /// The guest as the cluster reports it.
    async fn status(&self, guest: &GuestRef) -> Result<Guest>;

    /// IP addresses of a running guest (empty while none is known yet, e.g. DHCP pending).
    async fn addresses(&self, guest: &GuestRef) -> Result<Vec<IpAddr>>;

    /// Every guest on the cluster.
    async fn list(&self) -> Result<Vec<Guest>>;
}
