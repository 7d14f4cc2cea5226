//! A Proxmox VE simulator that speaks the real wire protocol, for tests and development.
//!
//! [`PveSim::start`] serves the PVE REST API under `/api2/json` on two ephemeral ports of
//! 127.0.0.1: plain HTTP and HTTPS (a self-signed certificate generated at start, whose
//! SHA-256 fingerprint [`PveSim::fingerprint`] reports like PVE's `ssl_fingerprint`).
//!
//! What it reproduces (see `shared/pve/README.md` and `FIDELITY.md` of the project for the
//! facts and their sources):
//! - parameters decoded as pveproxy does (`&` and `;` separate pairs, every raw `=` splits,
//!   repeated keys are arrays, `k=` is undefined, `_dc` is dropped) and checked against the
//!   PVE 9.1.3 schema of the implemented operations in PVE's order (format, pattern, length,
//!   range, enum): HTTP 400 `Parameter verification failed.` with PVE's per-parameter texts;
//!   unknown routes are 501 `Method 'GET /x' not implemented` (after authentication); a body
//!   on GET/DELETE is a plain-text 501 `Unexpected content for method 'GET'`;
//! - replies are `{"data": ...}`; errors carry their first line as the HTTP reason phrase and
//!   `{"data": null, "message": "...\n"}` as body, except pveproxy's own (empty-bodied 401s of
//!   the auth handler, 595/596 pseudo statuses);
//! - API token auth (`PVEAPIToken=root@pam!paas=<secret>`) and ticket auth (`POST
//!   /access/ticket`, cookie `PVEAuthCookie`, header `CSRFPreventionToken`), tickets valid for
//!   2 hours of simulated time, with pve-manager 9.1.3's texts. Every 401 waits 3 s as on PVE
//!   ([`PveSimBuilder::auth_failure_delay`]; tests set it short);
//! - a cluster of nodes (`pve1`, `pve2`, ...) with the stock LVM-thin storages (`local`: a
//!   directory for ISOs, templates, backups and imports, holding the LXC templates;
//!   `local-lvm`: the thin pool for guest disks), whose space changes as disks are created,
//!   grown and destroyed; a QEMU template VM 9000 on `pve1`; LXC containers (with mount points
//!   `mpN`, `env` and `entrypoint`) and QEMU VMs with configs, locks, tags, IPs (DHCP addresses
//!   appear [`PveSimBuilder::ip_delay`] after a start) and asynchronous tasks with UPIDs,
//!   status, logs, the node's task list (`GET /nodes/{node}/tasks`, `GET /cluster/tasks`) and
//!   stopping a task (`DELETE /nodes/{node}/tasks/{upid}`);
//! - volumes that keep their identity: every allocated volume gets a hidden content id that
//!   `move_volume` to another container keeps ([`PveSim::volumes`]), so tests can prove a data
//!   volume moved and was never recreated;
//! - PVE's split between request-time checks and the worker's: config locks of power, destroy,
//!   clone, resize and move_volume tasks are taken in the task, so a timeout or a locked config
//!   is the task's exit status; PVE 9.x clones take the template's lock shared and the new
//!   VMID's config is written by the worker; PVE's error texts (`CT 100 already exists on node
//!   'pve1'`, `can't lock file ... - got timeout`, `CT is locked (create)`, ...), and seeded
//!   fault injection ([`Faults`]), including responses lost after the call ran;
//! - snapshots (tasks `vzsnapshot`/`qmsnapshot`, ..., `lock: snapshot` while they run),
//!   backups (`vzdump`, `lock: backup`), their volumes, pruning, and restores (`vzrestore`,
//!   `qmrestore`; an existing guest only with `force`);
//! - `user.cfg`: users, privilege-separated API tokens, ACLs with PVE's built-in roles, and
//!   pools; every route checks the schema's `permissions` (and what PVE checks in its code)
//!   before it validates, with 403 `Permission check failed (/vms/100, VM.Allocate)`;
//!   listings are filtered as PVE filters them. The default token `root@pam!paas` is not
//!   privilege-separated, so it may do everything; [`PveSim::add_user`],
//!   [`PveSim::add_token`] and [`PveSim::grant`] (or the `/access` API) add others.
//!
//! Not modelled: groups (no `/access/groups`), realms other than `pam`/`pve`, HTTP/2, HA,
//! shared storages, memory over-commit refusal, refusing a disk for lack of space (thin pools
//! over-commit; their used space is counted as if every volume were full), the ~10 s lag of
//! `/cluster/resources` and `/cluster/tasks` behind pvestatd. A backup job locks all its
//! guests for the whole task (PVE: one after the other). Injected 596 replies of
//! `timeout_rate` mean the call did not run; those of `lost_response_rate` mean it did.
//! Tickets are signed with SHA-256 (hex), not RSA; config digests are 40 hex digits of
//! SHA-256 rather than SHA-1 of the file.
//!
//! ```no_run
//! # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
//! use paas_proxmox::sim::PveSim;
//! let sim = PveSim::start().await?;
//! let client = reqwest::Client::new();
//! let resp = client
//!     .get(format!("{}/api2/json/version", sim.http_url()))
//!     .header("Authorization", sim.token().header_value())
//!     .send()
//!     .await
//!     .expect("request");
//! assert_eq!(resp.status(), 200);
//! # Ok(()) }
//! ```

mod access;
mod admin;
mod auth;
mod backups;
mod builder;
mod clock;
mod core;
mod ctconfig;
mod faults;
mod formats;
mod locks;
mod params;
mod routes;
mod schema;
mod server;
mod state;
mod tasks;
mod tls;
mod types;
mod validate;
mod volumes;
mod wire;
mod worker;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use admin::BackupInfo;
pub use builder::PveSimBuilder;
pub use types::{
    ApiToken, Faults, GuestInfo, GuestKind, GuestStatus, NewGuest, SimError, SimVolume,
};

use self::core::Inner;
use self::state::{Guest, split_tags};

/// A running simulator. Dropping it (or [`PveSim::shutdown`]) stops its servers.
///
/// ```no_run
/// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
/// let sim = paas_proxmox::sim::PveSim::start().await?;
/// println!("{} {} {}", sim.https_url(), sim.fingerprint(), sim.token().header_value());
/// # Ok(()) }
/// ```
pub struct PveSim {
    pub(crate) inner: Arc<Inner>,
    pub(crate) http: SocketAddr,
    pub(crate) https: SocketAddr,
    pub(crate) cert_pem: std::sync::Mutex<String>,
    pub(crate) http_handle: axum_server::Handle,
    pub(crate) secure: tokio::sync::Mutex<builder::Secure>,
    pub(crate) app: server::Router,
}

impl fmt::Debug for PveSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PveSim")
            .field("http", &self.http)
            .field("https", &self.https)
            .field("fingerprint", &self.inner.fingerprint())
            .field("token", &self.inner.auth.token)
            .finish_non_exhaustive()
    }
}

impl PveSim {
    /// Starts a simulator with the defaults: 3 nodes, no faults, 50 ms tasks.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
    /// let sim = paas_proxmox::sim::PveSim::start().await?;
    /// assert!(sim.http_url().starts_with("http://127.0.0.1:"));
    /// # Ok(()) }
    /// ```
    pub async fn start() -> Result<PveSim, SimError> {
        Self::builder().start().await
    }

    /// A builder for other settings.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
    /// let sim = paas_proxmox::sim::PveSim::builder().nodes(1).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> PveSimBuilder {
        PveSimBuilder::default()
    }

    /// `http://127.0.0.1:PORT` (append `/api2/json/...`).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// `https://127.0.0.1:PORT` (append `/api2/json/...`).
    pub fn https_url(&self) -> String {
        format!("https://{}", self.https)
    }

    /// The HTTP listening address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The HTTPS listening address.
    pub fn https_addr(&self) -> SocketAddr {
        self.https
    }

    /// SHA-256 fingerprint of the HTTPS certificate, `AB:CD:...` (PVE's `ssl_fingerprint`).
    pub fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }

    /// The HTTPS certificate in PEM, to trust it as a root.
    pub fn certificate_pem(&self) -> String {
        self.cert_pem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Renews the HTTPS certificate as a node does (`pvecm updatecerts` and a pveproxy
    /// restart): the HTTPS server stops, dropping its connections, and starts again on the
    /// same port with this chain (PEM, leaf first) and PKCS#8 key. The state stays.
    ///
    /// ```no_run
    /// # async fn demo(cert: &str, key: &str) -> Result<(), paas_proxmox::sim::SimError> {
    /// let sim = paas_proxmox::sim::PveSim::start().await?;
    /// let old = sim.fingerprint();
    /// sim.renew_certificate(cert, key).await?;
    /// assert_ne!(sim.fingerprint(), old);
    /// # Ok(()) }
    /// ```
    pub async fn renew_certificate(
        &self,
        cert_chain_pem: &str,
        key_pem: &str,
    ) -> Result<(), SimError> {
        let cert = tls::from_pem(cert_chain_pem, key_pem)?;
        let config = axum_server::tls_rustls::RustlsConfig::from_config(tls::server_config(&cert)?);
        let mut secure = self.secure.lock().await;
        secure.handle.shutdown();
        // The old listener must be closed before the port is bound again.
        let _ = (&mut secure.task).await;
        let (listener, _) = server::listen(self.https.port())?;
        *secure = builder::serve_https(&self.app, listener, config);
        *self
            .inner
            .fingerprint
            .write()
            .unwrap_or_else(|e| e.into_inner()) = cert.fingerprint;
        *self.cert_pem.lock().unwrap_or_else(|e| e.into_inner()) = cert.pem;
        Ok(())
    }

    /// The API token of `root@pam` (token id `paas`).
    pub fn token(&self) -> ApiToken {
        self.inner.auth.token.clone()
    }

    /// The user for ticket auth: `root@pam`.
    pub fn username(&self) -> &str {
        auth::USER
    }

    /// The password of `root@pam` for ticket auth.
    pub fn password(&self) -> &str {
        &self.inner.auth.password
    }

    /// Replaces the fault settings (the RNG stream continues).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
    /// use paas_proxmox::sim::{Faults, PveSim};
    /// let sim = PveSim::start().await?;
    /// sim.set_faults(Faults { timeout_rate: 0.5, ..Faults::default() });
    /// # Ok(()) }
    /// ```
    pub fn set_faults(&self, faults: Faults) {
        self.inner.faults.set(faults);
    }

    /// How many calls of `endpoint` (`"METHOD /path/template"`, e.g. `"POST /nodes/{node}/lxc"`)
    /// passed authentication and validation, whatever happened to them next.
    pub fn call_count(&self, endpoint: &str) -> u64 {
        self.inner.faults.calls(endpoint)
    }

    /// The current fault settings.
    pub fn faults(&self) -> Faults {
        self.inner.faults.get()
    }

    /// Moves simulated wall time forward (tickets age, uptimes grow).
    pub fn advance_time(&self, d: Duration) {
        self.inner
            .clock
            .advance(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2));
    }

    /// The node names.
    pub fn nodes(&self) -> Vec<String> {
        self.inner
            .state()
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// Takes a node offline (calls to it fail with 595) or back online.
    pub fn set_node_online(&self, node: &str, online: bool) -> Result<(), SimError> {
        let mut st = self.inner.state();
        let n = st
            .nodes
            .iter_mut()
            .find(|n| n.name == node)
            .ok_or_else(|| SimError::NotFound(format!("node '{node}'")))?;
        n.online = online;
        Ok(())
    }

    /// A snapshot of every guest, by VMID.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
    /// let sim = paas_proxmox::sim::PveSim::start().await?;
    /// assert!(sim.guests().iter().any(|g| g.vmid == 9000 && g.template));
    /// # Ok(()) }
    /// ```
    pub fn guests(&self) -> Vec<GuestInfo> {
        self.inner
            .state()
            .guests
            .values()
            .map(Guest::info)
            .collect()
    }

    /// A snapshot of one guest.
    pub fn guest(&self, vmid: u32) -> Option<GuestInfo> {
        self.inner.state().guests.get(&vmid).map(Guest::info)
    }

    /// The config map of one guest (as `GET .../config` shows it, without `digest`).
    pub fn guest_config(&self, vmid: u32) -> Option<BTreeMap<String, String>> {
        self.inner
            .state()
            .guests
            .get(&vmid)
            .map(|g| g.config.clone())
    }

    /// Adds a guest directly (one the platform did not create).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
    /// use paas_proxmox::sim::{GuestKind, NewGuest, PveSim};
    /// let sim = PveSim::start().await?;
    /// sim.add_unmanaged_guest(NewGuest::new(150, "pve2", GuestKind::Lxc).running(true))?;
    /// # Ok(()) }
    /// ```
    pub fn add_unmanaged_guest(&self, guest: NewGuest) -> Result<(), SimError> {
        if !(100..=999_999_999).contains(&guest.vmid) {
            return Err(SimError::InvalidConfig(format!(
                "vmid {} is out of 100..=999999999",
                guest.vmid
            )));
        }
        let mut st = self.inner.state();
        if st.node(&guest.node).is_none() {
            return Err(SimError::NotFound(format!("node '{}'", guest.node)));
        }
        if let Some(g) = st.guests.get(&guest.vmid) {
            return Err(SimError::AlreadyExists(format!(
                "{} {} on node '{}'",
                g.noun(),
                g.vmid,
                g.node
            )));
        }
        let vmid = guest.vmid;
        let mac = st.new_mac();
        let dhcp_ip = st.new_dhcp_ip();
        let mut config = BTreeMap::new();
        config.insert("memory".to_string(), guest.memory_mb.to_string());
        config.insert("cores".to_string(), guest.cores.max(1).to_string());
        let tags = split_tags(&guest.tags.join(";")).join(";");
        if !tags.is_empty() {
            config.insert("tags".to_string(), tags);
        }
        if guest.template {
            config.insert("template".to_string(), "1".to_string());
        }
        match guest.kind {
            GuestKind::Lxc => {
                config.insert(
                    "hostname".into(),
                    guest.name.clone().unwrap_or_else(|| format!("CT{vmid}")),
                );
                config.insert("arch".into(), "amd64".into());
                config.insert("ostype".into(), "debian".into());
                config.insert("swap".into(), "512".into());
                config.insert(
                    "rootfs".into(),
                    format!("local-lvm:vm-{vmid}-disk-0,size=8G"),
                );
                config.insert(
                    "net0".into(),
                    format!("name=eth0,bridge=vmbr0,hwaddr={mac},ip=dhcp,type=veth"),
                );
            }
            GuestKind::Qemu => {
                config.insert(
                    "name".into(),
                    guest.name.clone().unwrap_or_else(|| format!("vm{vmid}")),
                );
                config.insert("agent".into(), "1".into());
                config.insert("ostype".into(), "l26".into());
                config.insert(
                    "scsi0".into(),
                    format!("local-lvm:vm-{vmid}-disk-0,size=16G"),
                );
                config.insert("net0".into(), format!("virtio={mac},bridge=vmbr0"));
                config.insert("ipconfig0".into(), "ip=dhcp".into());
            }
        }
        let now = self.inner.clock.now();
        st.guests.insert(
            vmid,
            Guest {
                vmid,
                node: guest.node,
                kind: guest.kind,
                config,
                running: guest.running,
                started: guest.running.then(Instant::now),
                started_epoch: if guest.running { now } else { 0 },
                dhcp_ip,
                snapshots: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Removes a guest out of band (as if deleted behind the platform's back); returns what
    /// it was.
    pub fn remove_guest(&self, vmid: u32) -> Result<GuestInfo, SimError> {
        self.inner
            .state()
            .guests
            .remove(&vmid)
            .map(|g| g.info())
            .ok_or_else(|| SimError::NotFound(format!("guest {vmid}")))
    }

    /// Changes a guest's power state out of band (drift).
    pub fn set_guest_status(&self, vmid: u32, status: GuestStatus) -> Result<(), SimError> {
        let now = self.inner.clock.now();
        let mut st = self.inner.state();
        let g = st
            .guests
            .get_mut(&vmid)
            .ok_or_else(|| SimError::NotFound(format!("guest {vmid}")))?;
        let running = status == GuestStatus::Running;
        if running && !g.running {
            g.started = Some(Instant::now());
            g.started_epoch = now;
        }
        g.running = running;
        if !running {
            g.started = None;
        }
        Ok(())
    }

    /// Sets or clears a guest's config lock out of band (e.g. a stale `lock: create`).
    pub fn set_guest_lock(&self, vmid: u32, lock: Option<&str>) -> Result<(), SimError> {
        let mut st = self.inner.state();
        let g = st
            .guests
            .get_mut(&vmid)
            .ok_or_else(|| SimError::NotFound(format!("guest {vmid}")))?;
        match lock {
            Some(l) => g.config.insert("lock".into(), l.into()),
            None => g.config.remove("lock"),
        };
        Ok(())
    }

    /// Number of tasks still running.
    pub fn running_tasks(&self) -> usize {
        self.inner
            .state()
            .tasks
            .values()
            .filter(|t| t.running)
            .count()
    }

    /// Stops the servers (also done on drop).
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for PveSim {
    fn drop(&mut self) {
        self.http_handle.shutdown();
        self.secure.get_mut().handle.shutdown();
    }
}
