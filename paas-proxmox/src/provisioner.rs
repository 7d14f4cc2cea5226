//! The [`Provisioner`] port on Proxmox VE.
//!
//! [`ProxmoxProvisioner`] translates the port's calls into API calls and waits for their tasks.
//! It retries by itself only what is transient and safe to repeat: proxy statuses (595-597),
//! lost connections and config-lock timeouts, with a small bounded backoff ([`RetryPolicy`]).
//! Every other failure surfaces with the retryable flag of the error table, for the engine to
//! decide.

mod create;
mod power;
mod query;
mod retry;
mod volumes;

pub use retry::RetryPolicy;

use crate::client::guest::GuestType;
use crate::client::{ProxmoxClient, WaitOptions};
use async_trait::async_trait;
use paas_core::Result;
use paas_core::model::Node;
use paas_core::ports::{Guest, GuestKind, GuestRef, GuestSpec, Provisioner, StopMode};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Settings of a [`ProxmoxProvisioner`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionerOptions {
    /// Storage for containers' root filesystems and data volumes. `None` (the default): the
    /// node's enabled, active storage holding `rootdir` (container) content with the most
    /// space available, asked once per node (`local-lvm` on a stock LVM-thin install).
    pub rootfs_storage: Option<String>,
    /// Bridge of the guests' first network device (default `vmbr0`); addresses come by DHCP.
    pub bridge: String,
    /// Create unprivileged containers (default true).
    pub unprivileged: bool,
    /// Full clones of template VMs (default true); linked clones need the template's storage.
    pub full_clone: bool,
    /// Target storage of full clones (default: the template's).
    pub clone_storage: Option<String>,
    /// Resource pool for new guests.
    pub pool: Option<String>,
    /// How long to wait for a task (create, start, destroy, ...) before a `Timeout`.
    pub task_timeout: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
}

impl Default for ProvisionerOptions {
    fn default() -> Self {
        ProvisionerOptions {
            rootfs_storage: None,
            bridge: "vmbr0".into(),
            unprivileged: true,
            full_clone: true,
            clone_storage: None,
            pool: None,
            task_timeout: Duration::from_secs(600),
            retry: RetryPolicy::default(),
        }
    }
}

/// Guests on a Proxmox VE cluster, as a [`Provisioner`].
///
/// ```no_run
/// # async fn demo() -> paas_core::Result<()> {
/// use paas_core::ports::Provisioner;
/// use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig};
/// use paas_proxmox::provisioner::ProxmoxProvisioner;
/// let client = ProxmoxClient::new(
///     ProxmoxConfig::builder("https://pve1:8006").token("root@pam", "paas", "...").build()?,
/// )?;
/// let provisioner = ProxmoxProvisioner::new(client);
/// for node in provisioner.nodes().await? {
///     println!("{} has {} MiB free", node.name, node.free_memory_mb());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ProxmoxProvisioner {
    client: ProxmoxClient,
    opts: ProvisionerOptions,
    /// The container storage found per node (see [`ProvisionerOptions::rootfs_storage`]).
    storages: Arc<Mutex<HashMap<String, String>>>,
}

impl ProxmoxProvisioner {
    /// A provisioner with default options.
    pub fn new(client: ProxmoxClient) -> Self {
        Self::with_options(client, ProvisionerOptions::default())
    }

    /// A provisioner with `opts`.
    pub fn with_options(client: ProxmoxClient, opts: ProvisionerOptions) -> Self {
        ProxmoxProvisioner {
            client,
            opts,
            storages: Arc::default(),
        }
    }

    /// The API client it uses.
    pub fn client(&self) -> &ProxmoxClient {
        &self.client
    }

    /// Its options.
    pub fn options(&self) -> &ProvisionerOptions {
        &self.opts
    }

    fn storage_cache(&self) -> MutexGuard<'_, HashMap<String, String>> {
        // Every writer leaves the map consistent, so a poisoned lock is still sound.
        self.storages.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait_opts(&self) -> WaitOptions {
        WaitOptions {
            timeout: self.opts.task_timeout,
            ..WaitOptions::default()
        }
    }
}

/// The API path kind of a port guest kind.
pub(crate) fn guest_type(kind: GuestKind) -> GuestType {
    match kind {
        GuestKind::Lxc => GuestType::Lxc,
        GuestKind::Vm => GuestType::Qemu,
    }
}

#[async_trait]
impl Provisioner for ProxmoxProvisioner {
    async fn nodes(&self) -> Result<Vec<Node>> {
        self.list_nodes().await
    }

    async fn create(&self, spec: &GuestSpec) -> Result<GuestRef> {
        self.create_guest(spec).await
    }

    async fn start(&self, guest: &GuestRef) -> Result<()> {
        self.start_guest(guest).await
    }

    async fn stop(&self, guest: &GuestRef, mode: StopMode) -> Result<()> {
        self.stop_guest(guest, mode).await
    }

    async fn destroy(&self, guest: &GuestRef) -> Result<()> {
        self.destroy_guest(guest).await
    }

    async fn status(&self, guest: &GuestRef) -> Result<Guest> {
        self.guest_status_full(guest).await
    }

    async fn addresses(&self, guest: &GuestRef) -> Result<Vec<IpAddr>> {
        self.guest_addresses(guest).await
    }

    async fn list(&self) -> Result<Vec<Guest>> {
        self.list_guests().await
    }

    async fn move_data_volume(&self, from: &GuestRef, to: &GuestRef) -> Result<()> {
        self.move_volume_between(from, to).await
    }
}
