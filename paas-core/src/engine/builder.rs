//! Building a [`Platform`] from its ports.

use super::config::{RetryPolicy, Tunables};
use super::platform::{Inner, Platform};
use super::secrets::{MasterKey, Sealer};
use crate::ports::{Clock, IdAllocator, Orchestrator, Provisioner, Store, SystemClock};
use crate::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

/// Collects the ports and tunables of a [`Platform`]; [`PlatformBuilder::build`] validates
/// them and does no I/O.
///
/// ```
/// use paas_core::engine::{MasterKey, Platform};
/// use paas_core::memory::{MemoryIdAllocator, MemoryStore};
/// use std::sync::Arc;
///
/// let platform = Platform::builder()
///     .store(Arc::new(MemoryStore::default()))
///     .ids(Arc::new(MemoryIdAllocator::default()))
///     .master_key(MasterKey::generate())
///     .build()
///     .unwrap();
/// # let _ = platform;
/// // Without a master key (and without development_mode()) it refuses:
/// assert!(Platform::builder()
///     .store(Arc::new(MemoryStore::default()))
///     .ids(Arc::new(MemoryIdAllocator::default()))
///     .build()
///     .is_err());
/// ```
#[derive(Default)]
pub struct PlatformBuilder {
    store: Option<Arc<dyn Store>>,
    ids: Option<Arc<dyn IdAllocator>>,
    clock: Option<Arc<dyn Clock>>,
    provisioner: Option<Arc<dyn Provisioner>>,
    orchestrator: Option<Arc<dyn Orchestrator>>,
    master_key: Option<MasterKey>,
    development: bool,
    tunables: Tunables,
}

impl std::fmt::Debug for PlatformBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformBuilder")
            .field("store", &self.store)
            .field("ids", &self.ids)
            .field("provisioner", &self.provisioner.is_some())
            .field("orchestrator", &self.orchestrator.is_some())
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "[redacted]"),
            )
            .field("development", &self.development)
            .field("tunables", &self.tunables)
            .finish()
    }
}

impl PlatformBuilder {
    /// The durable records and the operation queue (required).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The id pools: VMIDs and ports (required).
    pub fn ids(mut self, ids: Arc<dyn IdAllocator>) -> Self {
        self.ids = Some(ids);
        self
    }

    /// The time source (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Proxmox guests, for apps with the `Lxc` and `Vm` runtimes.
    pub fn provisioner(mut self, provisioner: Arc<dyn Provisioner>) -> Self {
        self.provisioner = Some(provisioner);
        self
    }

    /// Swarm services, for apps with the `Container` runtime.
    pub fn orchestrator(mut self, orchestrator: Arc<dyn Orchestrator>) -> Self {
        self.orchestrator = Some(orchestrator);
        self
    }

    /// The key env values are encrypted under (required unless in development mode).
    pub fn master_key(mut self, key: MasterKey) -> Self {
        self.master_key = Some(key);
        self
    }

    /// Runs without a master key, with a fixed public one: env values are NOT protected.
    /// For local experiments and tests only; the platform logs a warning when built.
    pub fn development_mode(mut self) -> Self {
        self.development = true;
        self
    }

    /// How long a worker's lease lasts (default 30 s).
    pub fn lease_duration(mut self, d: Duration) -> Self {
        self.tunables.lease_duration = d;
        self
    }

    /// How retryable failures are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.tunables.retry = policy;
        self
    }

    /// How long a deploy waits for a guest's IP address (default 120 s).
    pub fn ip_deadline(mut self, d: Duration) -> Self {
        self.tunables.ip_deadline = d;
        self
    }

    /// How long a deploy waits for a service to converge (default 300 s).
    pub fn rollout_deadline(mut self, d: Duration) -> Self {
        self.tunables.rollout_deadline = d;
        self
    }

    /// How long a graceful stop may take (default 30 s).
    pub fn stop_timeout(mut self, d: Duration) -> Self {
        self.tunables.stop_timeout = d;
        self
    }

    /// How often waits look at the store for work done by other processes (default 250 ms).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.tunables.poll_interval = d;
        self
    }

    /// Operations one `Worker::run` executes at once (default 8).
    pub fn worker_concurrency(mut self, n: usize) -> Self {
        self.tunables.worker_concurrency = n;
        self
    }

    /// Replaces every tunable at once.
    pub fn tunables(mut self, tunables: Tunables) -> Self {
        self.tunables = tunables;
        self
    }

    /// Validates and builds the platform. No I/O happens here.
    pub fn build(self) -> Result<Platform> {
        let store = self.store.ok_or_else(|| {
            Error::invalid_input("Platform::builder() needs .store(...): the durable records")
        })?;
        let ids = self.ids.ok_or_else(|| {
            Error::invalid_input("Platform::builder() needs .ids(...): the VMID and port pools")
        })?;
        self.tunables.validate()?;
        let master = match (self.master_key, self.development) {
            (Some(key), _) => key,
            (None, true) => {
                tracing::warn!(
                    "paas platform in DEVELOPMENT MODE: env values are encrypted under a public \
                     key; never use this mode with real data"
                );
                MasterKey::development()
            }
            (None, false) => {
                return Err(Error::invalid_input(
                    "the platform needs a master key to encrypt env values: pass \
                     .master_key(MasterKey::from_hex(...)?) (generate one with \
                     MasterKey::generate()), or call .development_mode() for local experiments",
                ));
            }
        };
        Ok(Platform::from_inner(Inner {
            store,
            ids,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            provisioner: self.provisioner,
            orchestrator: self.orchestrator,
            sealer: Sealer::new(master),
            tunables: self.tunables,
            notify: tokio::sync::Notify::new(),
            immutable: Default::default(),
        }))
    }
}
