//! Public data types of the simulator: faults, credentials, guest snapshots, errors.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Faults the simulator injects, drawn from a ChaCha RNG seeded by
/// [`PveSimBuilder::seed`](super::PveSimBuilder::seed): the same seed and the same sequence of
/// requests give the same sequence of outcomes.
///
/// Rates are probabilities in `0.0..=1.0` (values outside are clamped). All default to zero.
///
/// ```
/// use paas_proxmox::sim::Faults;
/// use std::time::Duration;
///
/// let faults = Faults {
///     timeout_rate: 0.05,
///     task_failure_rate: 0.1,
///     latency: Duration::from_millis(5),
///     ..Faults::default()
/// }
/// .with_endpoint_error_rate("POST /nodes/{node}/lxc", 0.2);
/// assert_eq!(faults.endpoint_error_rates.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Probability that any call fails with HTTP 500 `cluster not ready - no quorum?`
    /// (before it does anything), unless `endpoint_error_rates` names the endpoint.
    pub error_rate: f64,
    /// Per-endpoint error rates, keyed `"METHOD /path/template"` as in the PVE schema,
    /// e.g. `"POST /nodes/{node}/lxc"`; they replace `error_rate` for that endpoint.
    pub endpoint_error_rates: BTreeMap<String, f64>,
    /// Probability that a call fails with HTTP 596 `Connection timed out` (the proxy
    /// pseudo-status; the call was not executed).
    pub timeout_rate: f64,
    /// Probability that a mutating guest call (create, clone, start, stop, shutdown, reboot,
    /// destroy, config update) fails with PVE's `can't lock file '...' - got timeout`.
    pub lock_timeout_rate: f64,
    /// Probability that an asynchronous task ends `stopped` with an error exit status. What
    /// the task did is undone as PVE would (a failed create or clone removes the new guest,
    /// a failed start leaves the guest stopped, ...).
    pub task_failure_rate: f64,
    /// Probability that an asynchronous task that would end `OK` ends `TASK WARNINGS: N`
    /// instead (exit status `WARNINGS: N`, N from 1 to 3), which PVE counts as success
    /// (PC UPID.pm:80, RESTEnvironment.pm:661): clients must not treat it as a failure.
    pub task_warning_rate: f64,
    /// Probability that a call that changes something (POST, PUT, DELETE) runs but its
    /// response is lost: the simulator does the work
    /// (a task is started, a config written) and then answers 596 `Connection timed out`,
    /// as pveproxy does when its proxied request to the node times out after the node acted.
    pub lost_response_rate: f64,
    /// Probability that a call that changes something (POST, PUT, DELETE) runs but the
    /// connection is dropped before a usable response: the client sees a broken connection,
    /// not a status.
    pub dropped_response_rate: f64,
    /// Fixed latency added to every call.
    pub latency: Duration,
    /// Uniformly random extra latency in `0..=latency_jitter` added to every call.
    pub latency_jitter: Duration,
}

impl Faults {
    /// No faults (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// Sets the error rate of one endpoint (`"METHOD /path/template"`).
    pub fn with_endpoint_error_rate(mut self, endpoint: &str, rate: f64) -> Self {
        self.endpoint_error_rates.insert(endpoint.to_string(), rate);
        self
    }
}

/// The API token of the simulated `root@pam` user.
///
/// Its `Debug` output hides the secret.
///
/// ```
/// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
/// let sim = paas_proxmox::sim::PveSim::start().await?;
/// let token = sim.token();
/// assert!(token.header_value().starts_with("PVEAPIToken=root@pam!paas="));
/// assert!(!format!("{token:?}").contains(&token.secret));
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// The user owning the token: `root@pam`.
    pub user: String,
    /// The token id: `paas`.
    pub token_id: String,
    /// The secret (a UUID).
    pub secret: String,
}

impl ApiToken {
    /// `root@pam!paas`, the full token id.
    pub fn full_id(&self) -> String {
        format!("{}!{}", self.user, self.token_id)
    }

    /// The value of the `Authorization` header: `PVEAPIToken=root@pam!paas=<secret>`.
    pub fn header_value(&self) -> String {
        format!(
            "PVEAPIToken={}!{}={}",
            self.user, self.token_id, self.secret
        )
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("user", &self.user)
            .field("token_id", &self.token_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The kind of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GuestKind {
    /// An LXC container (`/nodes/{node}/lxc`).
    Lxc,
    /// A QEMU virtual machine (`/nodes/{node}/qemu`).
    Qemu,
}

impl GuestKind {
    /// `lxc` or `qemu`, as in `/cluster/resources`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Lxc => "lxc",
            GuestKind::Qemu => "qemu",
        }
    }
}

/// The power state of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuestStatus {
    /// Running.
    Running,
    /// Stopped.
    Stopped,
}

impl GuestStatus {
    /// `running` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestStatus::Running => "running",
            GuestStatus::Stopped => "stopped",
        }
    }
}

/// A snapshot of one guest, for tests ([`PveSim::guests`](super::PveSim::guests)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestInfo {
    /// The VMID.
    pub vmid: u32,
    /// The node it is on.
    pub node: String,
    /// LXC or QEMU.
    pub kind: GuestKind,
    /// Running or stopped.
    pub status: GuestStatus,
    /// Hostname (LXC) or name (QEMU).
    pub name: String,
    /// Tags, in PVE's order (sorted, without duplicates).
    pub tags: Vec<String>,
    /// The config lock (`create`, `clone`, `destroyed`, ...) while a task holds it.
    pub lock: Option<String>,
    /// Whether it is a template.
    pub template: bool,
    /// Configured memory in MiB.
    pub memory_mb: u64,
}

/// A guest to seed with [`PveSim::add_unmanaged_guest`](super::PveSim::add_unmanaged_guest),
/// e.g. one the platform did not create.
///
/// ```
/// use paas_proxmox::sim::{GuestKind, NewGuest};
/// let g = NewGuest::new(150, "pve2", GuestKind::Lxc).name("legacy").tags(["web"]).running(true);
/// assert_eq!(g.vmid, 150);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGuest {
    /// The VMID (100..=999999999).
    pub vmid: u32,
    /// The node (must exist).
    pub node: String,
    /// LXC or QEMU.
    pub kind: GuestKind,
    /// Hostname / name; `None` gives PVE's default.
    pub name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Running or not.
    pub running: bool,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// CPU cores.
    pub cores: u32,
    /// Whether it is a template.
    pub template: bool,
}

impl NewGuest {
    /// A stopped guest with 512 MiB and one core.
    pub fn new(vmid: u32, node: &str, kind: GuestKind) -> Self {
        NewGuest {
            vmid,
            node: node.to_string(),
            kind,
            name: None,
            tags: Vec::new(),
            running: false,
            memory_mb: 512,
            cores: 1,
            template: false,
        }
    }

    /// Sets the hostname / name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// Sets the tags.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets whether it runs.
    pub fn running(mut self, running: bool) -> Self {
        self.running = running;
        self
    }

    /// Sets the memory in MiB.
    pub fn memory_mb(mut self, mb: u64) -> Self {
        self.memory_mb = mb;
        self
    }

    /// Sets the CPU cores.
    pub fn cores(mut self, cores: u32) -> Self {
        self.cores = cores;
        self
    }

    /// Marks it as a template.
    pub fn template(mut self, template: bool) -> Self {
        self.template = template;
        self
    }
}

/// Errors of the simulator's own API (not of the simulated PVE API).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A listening socket could not be opened.
    #[error("pve-sim: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS certificate or configuration could not be made.
    #[error("pve-sim: TLS setup failed: {0}")]
    Tls(String),
    /// A builder setting or an argument is invalid.
    #[error("pve-sim: invalid setting: {0}")]
    InvalidConfig(String),
    /// A guest or node named in a call does not exist.
    #[error("pve-sim: not found: {0}")]
    NotFound(String),
    /// The guest already exists.
    #[error("pve-sim: already exists: {0}")]
    AlreadyExists(String),
}
