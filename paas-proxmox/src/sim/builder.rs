//! [`PveSimBuilder`]: the settings of a simulator, and starting its servers.

use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;

use super::core::{Inner, SimConfig};
use super::server::Router;
use super::types::{Faults, SimError};
use super::{PveSim, server, tls};

/// Settings of a simulator to start; see [`PveSim::builder`].
///
/// ```no_run
/// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
/// use paas_proxmox::sim::{Faults, PveSim};
/// use std::time::Duration;
/// let sim = PveSim::builder()
///     .nodes(2)
///     .node_memory_mb(32 * 1024)
///     .seed(42)
///     .task_duration(Duration::ZERO)
///     .faults(Faults { task_failure_rate: 0.1, ..Faults::default() })
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct PveSimBuilder {
    cfg: SimConfig,
}

impl PveSimBuilder {
    /// Number of nodes, named `pve1`..`pveN` (default 3, at most 64).
    pub fn nodes(mut self, n: u32) -> Self {
        self.cfg.nodes = n;
        self
    }

    /// Memory of each node in MiB (default 65536; at least 2048).
    pub fn node_memory_mb(mut self, mb: u64) -> Self {
        self.cfg.node_memory_mb = mb;
        self
    }

    /// CPUs of each node (default 16).
    pub fn node_cpus(mut self, cpus: u32) -> Self {
        self.cfg.node_cpus = cpus;
        self
    }

    /// Disk of each node in GiB (default 1024).
    pub fn node_disk_gb(mut self, gb: u64) -> Self {
        self.cfg.node_disk_gb = gb;
        self
    }

    /// Seed of the fault RNG (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.cfg.seed = seed;
        self
    }

    /// Faults to inject from the start (default none).
    pub fn faults(mut self, faults: Faults) -> Self {
        self.cfg.faults = faults;
        self
    }

    /// How long every asynchronous task runs (default 50 ms; zero is allowed).
    pub fn task_duration(mut self, d: Duration) -> Self {
        self.cfg.task_duration = d;
        self
    }

    /// How long a ticket is valid (default 2 hours, as PVE).
    pub fn ticket_lifetime(mut self, d: Duration) -> Self {
        self.cfg.ticket_lifetime = d;
        self
    }

    /// Delay before every 401 reply (default 3 s, as PVE: HS AnyEvent.pm:1614-1615 `# always
    /// delay unauthorized calls by 3 seconds`; a failed `POST /access/ticket` waits 3 s minus
    /// the time it took, :1036-1038). Tests that provoke 401s set it short.
    pub fn auth_failure_delay(mut self, d: Duration) -> Self {
        self.cfg.auth_failure_delay = d;
        self
    }

    /// Time from a guest's start until its DHCP address and QEMU guest agent appear
    /// (default 30 ms).
    pub fn ip_delay(mut self, d: Duration) -> Self {
        self.cfg.ip_delay = d;
        self
    }

    /// How long a call waits for a guest's config lock (default 10 s, as PVE).
    pub fn lock_timeout(mut self, d: Duration) -> Self {
        self.cfg.lock_timeout = d;
        self
    }

    /// How long a container create waits at request time for the config file lock that
    /// `create_and_lock_config` takes (default 5 s, as PVE: GC AbstractConfig.pm:257-259).
    pub fn create_lock_timeout(mut self, d: Duration) -> Self {
        self.cfg.create_lock_timeout = d;
        self
    }

    /// How long a clone waits for its source's lock (default 1 s, as PVE).
    pub fn clone_lock_timeout(mut self, d: Duration) -> Self {
        self.cfg.clone_lock_timeout = d;
        self
    }

    /// Fixed HTTP port on 127.0.0.1 (default 0: ephemeral).
    pub fn http_port(mut self, port: u16) -> Self {
        self.cfg.http_port = port;
        self
    }

    /// Fixed HTTPS port on 127.0.0.1 (default 0: ephemeral).
    pub fn https_port(mut self, port: u16) -> Self {
        self.cfg.https_port = port;
        self
    }

    /// Whether to seed the QEMU template VM 9000 on the first node (default true).
    pub fn template_vm(mut self, yes: bool) -> Self {
        self.cfg.template_vm = yes;
        self
    }

    /// Serves this certificate chain (PEM, leaf first) and PKCS#8 key (PEM) on HTTPS instead
    /// of a generated self-signed one, e.g. one signed by a private CA as a cluster's
    /// `pve-ssl.pem` is by its `pve-root-ca.pem`.
    pub fn tls_certificate(mut self, cert_chain_pem: &str, key_pem: &str) -> Self {
        self.cfg.tls_pem = Some((cert_chain_pem.to_string(), key_pem.to_string()));
        self
    }

    /// Starts the servers. Needs a tokio runtime.
    pub async fn start(self) -> Result<PveSim, SimError> {
        let cfg = self.cfg;
        if cfg.nodes == 0 || cfg.nodes > 64 {
            return Err(SimError::InvalidConfig(format!(
                "nodes must be 1..=64, got {}",
                cfg.nodes
            )));
        }
        if cfg.node_memory_mb < 2048 {
            return Err(SimError::InvalidConfig(format!(
                "node_memory_mb must be >= 2048, got {}",
                cfg.node_memory_mb
            )));
        }
        if cfg.node_cpus == 0 {
            return Err(SimError::InvalidConfig("node_cpus must be >= 1".into()));
        }
        let names: Vec<String> = (1..=cfg.nodes).map(|i| format!("pve{i}")).collect();
        let cert = match &cfg.tls_pem {
            Some((chain, key)) => tls::from_pem(chain, key)?,
            None => tls::generate(&names)?,
        };
        let tls_config = RustlsConfig::from_config(tls::server_config(&cert)?);
        let (http_listener, http) = server::listen(cfg.http_port)?;
        let (https_listener, https) = server::listen(cfg.https_port)?;
        let inner = Arc::new(Inner::new(cfg, cert.fingerprint.clone()));
        let app = server::router(inner.clone());
        let h1 = axum_server::Handle::new();
        let plain = axum_server::from_tcp(http_listener).handle(h1.clone());
        let app2 = app.clone();
        tokio::spawn(async move {
            let _ = plain.serve(app2.into_make_service()).await;
        });
        let secure = serve_https(&app, https_listener, tls_config);
        Ok(PveSim {
            inner,
            http,
            https,
            cert_pem: std::sync::Mutex::new(cert.pem),
            http_handle: h1,
            secure: tokio::sync::Mutex::new(secure),
            app,
        })
    }
}

/// A running HTTPS server: its handle and its task.
pub(crate) struct Secure {
    pub handle: axum_server::Handle,
    pub task: tokio::task::JoinHandle<()>,
}

/// Serves `app` over TLS on `listener`.
pub(crate) fn serve_https(
    app: &Router,
    listener: std::net::TcpListener,
    tls_config: RustlsConfig,
) -> Secure {
    let handle = axum_server::Handle::new();
    let secure = axum_server::from_tcp_rustls(listener, tls_config).handle(handle.clone());
    let app = app.clone();
    let task = tokio::spawn(async move {
        let _ = secure.serve(app.into_make_service()).await;
    });
    Secure { handle, task }
}
