//! A scriptable in-memory [`Provisioner`]: a cluster of nodes whose guests really change
//! state, with injectable failures for engine tests.

use crate::model::{Capacity, EnvKey, Node, NodeHealth, NodeKind, NodeName, Secret, Vmid};
use crate::ports::{
    Guest, GuestKind, GuestRef, GuestSource, GuestSpec, GuestState, MANAGED_TAG, Provisioner,
    StopMode, VolumeInfo, app_from_tags,
};
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::faults::Faults;

/// The backend name the fakes put on their errors.
const BACKEND: &str = "fake-provisioner";

/// One method of the [`Provisioner`] port, to script failures and read call counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProvisionerCall {
    /// [`Provisioner::nodes`].
    Nodes,
    /// [`Provisioner::create`].
    Create,
    /// [`Provisioner::start`].
    Start,
    /// [`Provisioner::stop`].
    Stop,
    /// [`Provisioner::destroy`].
    Destroy,
    /// [`Provisioner::status`].
    Status,
    /// [`Provisioner::addresses`].
    Addresses,
    /// [`Provisioner::list`].
    List,
    /// [`Provisioner::move_data_volume`].
    MoveDataVolume,
}

/// A fake Proxmox-like cluster: nodes with capacity, and guests that are created stopped, start,
/// stop and are destroyed for real. Clones share the same cluster, so a test hands one clone to
/// the platform and keeps another to inspect it, inject failures or cause drift.
///
/// Every semantic of the [`Provisioner`] port holds. Choices the port leaves open:
/// - The spec names the node (placement is the caller's business). A spec naming an unknown
///   node is `NotFound`; one whose memory does not fit in the node's free memory is `Conflict`
///   (non-retryable: pick another node); an `Offline` node is `Unavailable` (retryable).
/// - A node's `used` resources are what its guests (not templates) were given, running or not.
/// - A guest is addressed by VMID, node and kind: a [`GuestRef`] naming the wrong node or kind
///   finds nothing (as Proxmox answers for another node's config).
/// - A running guest has one address, `10.0.x.y`, derived from its VMID; a stopped one none.
/// - Cloning a VM needs a template guest with that VMID (see
///   [`FakeProvisioner::add_vm_template`]).
///
/// ```
/// use paas_core::memory::{FakeProvisioner, ProvisionerCall};
/// use paas_core::model::Vmid;
/// use paas_core::ports::{GuestSource, GuestSpec, GuestState, Provisioner};
/// use paas_core::Error;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let cluster = FakeProvisioner::new();
/// let spec = GuestSpec {
///     vmid: Vmid::new(101)?,
///     node: "pve1".parse()?,
///     hostname: "shop".parse()?,
///     source: GuestSource::LxcTemplate { template: "local:vztmpl/debian-12.tar.zst".into() },
///     cores: 1,
///     memory_mb: 512,
///     disk_gb: 8,
///     tags: vec![],
///     password: None,
///     ssh_public_keys: None,
///     env: Default::default(),
///     data_volume: None,
/// };
/// let guest = cluster.create(&spec).await?;
/// cluster.fail_next(ProvisionerCall::Start, Error::unavailable("node busy"));
/// assert!(cluster.start(&guest).await.unwrap_err().is_retryable());
/// cluster.start(&guest).await?;
/// assert_eq!(cluster.status(&guest).await?.state, GuestState::Running);
/// assert_eq!(cluster.calls(ProvisionerCall::Start), 2);
/// # Ok::<(), paas_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FakeProvisioner {
    /// Slept before every port call (outside the lock), to model a slow backend.
    latency: Duration,
    cluster: Arc<Mutex<Cluster>>,
}

#[derive(Debug)]
struct NodeSlot {
    name: NodeName,
    capacity: Capacity,
    health: NodeHealth,
}

#[derive(Debug, Clone)]
struct SimGuest {
    guest: Guest,
    disk_gb: u64,
    env: BTreeMap<EnvKey, Secret>,
}

#[derive(Debug)]
struct Cluster {
    nodes: Vec<NodeSlot>,
    guests: BTreeMap<Vmid, SimGuest>,
    faults: Faults<ProvisionerCall>,
    /// Numbers the data volumes created, so every volume has its own id.
    volumes_made: u64,
}

/// Builds a [`FakeProvisioner`] with chosen nodes and faults.
///
/// ```
/// use paas_core::memory::FakeProvisioner;
/// use paas_core::model::Capacity;
///
/// let cluster = FakeProvisioner::builder()
///     .nodes(["a".parse().unwrap(), "b".parse().unwrap()])
///     .capacity(Capacity { cpu: 8, memory_mb: 4096, disk_gb: 100 })
///     .fault_rate(7, 0.05)
///     .build();
/// # let _ = cluster;
/// ```
#[derive(Debug, Clone)]
pub struct FakeProvisionerBuilder {
    nodes: Vec<(NodeName, Option<Capacity>)>,
    capacity: Capacity,
    fault_rate: Option<(u64, f64)>,
    latency: Duration,
}

/// The capacity of each node of a default fake cluster.
pub const DEFAULT_NODE_CAPACITY: Capacity = Capacity {
    cpu: 32,
    memory_mb: 65_536,
    disk_gb: 1_000,
};

impl Default for FakeProvisionerBuilder {
    fn default() -> Self {
        FakeProvisionerBuilder {
            nodes: Vec::new(),
            capacity: DEFAULT_NODE_CAPACITY,
            fault_rate: None,
            latency: Duration::ZERO,
        }
    }
}

impl FakeProvisionerBuilder {
    /// Adds a node with the builder's default capacity.
    #[must_use]
    pub fn node(mut self, name: NodeName) -> Self {
        self.nodes.push((name, None));
        self
    }

    /// Adds several nodes with the builder's default capacity.
    #[must_use]
    pub fn nodes(mut self, names: impl IntoIterator<Item = NodeName>) -> Self {
        self.nodes.extend(names.into_iter().map(|n| (n, None)));
        self
    }

    /// Adds a node with its own capacity.
    #[must_use]
    pub fn node_with_capacity(mut self, name: NodeName, capacity: Capacity) -> Self {
        self.nodes.push((name, Some(capacity)));
        self
    }

    /// The capacity of every node added without one ([`DEFAULT_NODE_CAPACITY`] unless set).
    #[must_use]
    pub fn capacity(mut self, capacity: Capacity) -> Self {
        self.capacity = capacity;
        self
    }

    /// Fails each call with probability `rate` (0..=1) with a retryable `Unavailable` error,
    /// drawn from a generator seeded with `seed`: the same seed and calls fail the same way.
    #[must_use]
    pub fn fault_rate(mut self, seed: u64, rate: f64) -> Self {
        self.fault_rate = Some((seed, rate));
        self
    }

    /// Makes every port call take at least `latency` (slept outside the lock, so concurrent
    /// calls overlap as they would on a real backend). Default zero.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The cluster. Without any node it has three: `pve1`, `pve2`, `pve3`.
    pub fn build(self) -> FakeProvisioner {
        let mut nodes: Vec<NodeSlot> = Vec::new();
        for (name, capacity) in self.nodes {
            if nodes.iter().any(|n| n.name == name) {
                continue;
            }
            nodes.push(NodeSlot {
                name,
                capacity: capacity.unwrap_or(self.capacity),
                health: NodeHealth::Online,
            });
        }
        if nodes.is_empty() {
            nodes = ["pve1", "pve2", "pve3"]
                .iter()
                .filter_map(|n| n.parse::<NodeName>().ok())
                .map(|name| NodeSlot {
                    name,
                    capacity: self.capacity,
                    health: NodeHealth::Online,
                })
                .collect();
        }
        let mut faults = Faults::default();
        if let Some((seed, rate)) = self.fault_rate {
            faults.set_rate(seed, rate);
        }
        FakeProvisioner {
            latency: self.latency,
            cluster: Arc::new(Mutex::new(Cluster {
                nodes,
                guests: BTreeMap::new(),
                faults,
                volumes_made: 0,
            })),
        }
    }
}

impl Default for FakeProvisioner {
    fn default() -> Self {
        Self::new()
    }
}

fn not_found(guest: &GuestRef) -> Error {
    Error::not_found(format!(
        "guest {} ({:?}) does not exist on node {}: it was destroyed or never created",
        guest.vmid, guest.kind, guest.node
    ))
    .with_backend(BACKEND)
}

fn address_of(vmid: Vmid) -> IpAddr {
    let n = vmid.get();
    let x = ((n / 254) % 256) as u8;
    let y = (n % 254 + 1) as u8;
    IpAddr::V4(Ipv4Addr::new(10, 0, x, y))
}

impl Cluster {
    fn find(&self, r: &GuestRef) -> Option<&SimGuest> {
        self.guests
            .get(&r.vmid)
            .filter(|g| g.guest.guest.node == r.node && g.guest.guest.kind == r.kind)
    }

    fn find_mut(&mut self, r: &GuestRef) -> Option<&mut SimGuest> {
        self.guests
            .get_mut(&r.vmid)
            .filter(|g| g.guest.guest.node == r.node && g.guest.guest.kind == r.kind)
    }

    fn used(&self, node: &NodeName) -> Capacity {
        let mut used = Capacity::default();
        for g in self.guests.values() {
            if g.guest.guest.node == *node && !g.guest.template {
                used.cpu = used.cpu.saturating_add(g.guest.cores);
                used.memory_mb = used.memory_mb.saturating_add(g.guest.memory_mb);
                used.disk_gb = used.disk_gb.saturating_add(g.disk_gb);
            }
        }
        used
    }

    fn create(&mut self, spec: &GuestSpec) -> Result<GuestRef> {
        if let Some(existing) = self.guests.get(&spec.vmid) {
            let ours = app_from_tags(&spec.tags);
            if ours.is_some()
                && existing.guest.is_managed()
                && app_from_tags(&existing.guest.tags) == ours
            {
                return Ok(existing.guest.guest.clone());
            }
            return Err(Error::conflict(format!(
                "VMID {} is already taken by guest '{}' on node {}: allocate another VMID",
                spec.vmid, existing.guest.name, existing.guest.guest.node
            ))
            .with_backend(BACKEND));
        }
        let slot = self
            .nodes
            .iter()
            .find(|n| n.name == spec.node)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "cannot create guest {}: node {} is not part of the cluster",
                    spec.vmid, spec.node
                ))
                .with_backend(BACKEND)
            })?;
        if slot.health != NodeHealth::Online {
            return Err(Error::unavailable(format!(
                "cannot create guest {}: node {} is {:?}",
                spec.vmid, spec.node, slot.health
            ))
            .with_backend(BACKEND));
        }
        if spec.cores == 0 || spec.memory_mb == 0 {
            return Err(Error::invalid_input(format!(
                "cannot create guest {}: cores and memory must be at least 1",
                spec.vmid
            ))
            .with_backend(BACKEND));
        }
        let capacity = slot.capacity;
        let free = capacity
            .memory_mb
            .saturating_sub(self.used(&spec.node).memory_mb);
        if u64::from(spec.memory_mb) > free {
            return Err(Error::conflict(format!(
                "cannot create guest {}: it needs {} MiB but node {} has {free} MiB free; \
                 place it on another node",
                spec.vmid, spec.memory_mb, spec.node
            ))
            .with_backend(BACKEND));
        }
        let is_vm = matches!(spec.source, GuestSource::CloneVm { .. });
        if is_vm && (!spec.env.is_empty() || spec.data_volume.is_some()) {
            return Err(Error::invalid_input(format!(
                "cannot create VM {}: env and data volumes are for LXC guests only",
                spec.vmid
            ))
            .with_backend(BACKEND));
        }
        if spec.data_volume.as_ref().is_some_and(|v| v.size_gb == 0) {
            return Err(Error::invalid_input(format!(
                "cannot create guest {}: a data volume needs at least 1 GiB",
                spec.vmid
            ))
            .with_backend(BACKEND));
        }
        let kind = match &spec.source {
            GuestSource::LxcTemplate { template } => {
                if template.trim().is_empty() {
                    return Err(Error::invalid_input(format!(
                        "cannot create guest {}: the LXC template is empty",
                        spec.vmid
                    ))
                    .with_backend(BACKEND));
                }
                GuestKind::Lxc
            }
            GuestSource::CloneVm { template } => {
                let is_template = self
                    .guests
                    .get(template)
                    .is_some_and(|t| t.guest.template && t.guest.guest.kind == GuestKind::Vm);
                if !is_template {
                    return Err(Error::not_found(format!(
                        "cannot clone guest {}: VM template {template} does not exist",
                        spec.vmid
                    ))
                    .with_backend(BACKEND));
                }
                GuestKind::Vm
            }
        };
        let mut tags = spec.tags.clone();
        if !tags.iter().any(|t| t == MANAGED_TAG) {
            tags.push(MANAGED_TAG.to_owned());
        }
        let guest = GuestRef {
            node: spec.node.clone(),
            vmid: spec.vmid,
            kind,
        };
        let data_volume = match &spec.data_volume {
            Some(v) => {
                self.volumes_made += 1;
                Some(VolumeInfo {
                    volume: format!("fake:vol-{}", self.volumes_made),
                    size_gb: v.size_gb,
                    mount_path: v.mount_path.clone(),
                })
            }
            None => None,
        };
        self.guests.insert(
            spec.vmid,
            SimGuest {
                guest: Guest {
                    guest: guest.clone(),
                    name: spec.hostname.as_str().to_owned(),
                    state: GuestState::Stopped,
                    tags,
                    template: false,
                    lock: None,
                    memory_mb: u64::from(spec.memory_mb),
                    cores: spec.cores,
                    data_volume,
                },
                disk_gb: u64::from(spec.disk_gb),
                env: spec.env.clone(),
            },
        );
        Ok(guest)
    }
}

fn locked(g: &SimGuest) -> Result<()> {
    match &g.guest.lock {
        Some(lock) => Err(Error::backend_error(format!(
            "guest {} is locked ({lock}); try again when the lock is released",
            g.guest.guest.vmid
        ))
        .retryable(true)
        .with_backend(BACKEND)),
        None => Ok(()),
    }
}

impl FakeProvisioner {
    /// The default cluster: nodes `pve1`, `pve2`, `pve3` of [`DEFAULT_NODE_CAPACITY`].
    pub fn new() -> Self {
        FakeProvisionerBuilder::default().build()
    }

    /// A builder to choose nodes, capacity and faults.
    pub fn builder() -> FakeProvisionerBuilder {
        FakeProvisionerBuilder::default()
    }

    fn cluster(&self) -> MutexGuard<'_, Cluster> {
        // Every mutation completes before the guard drops, so a poisoned lock is still sound.
        self.cluster.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn pause(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    /// Makes the next call of `method` fail with `error` (queued: several calls fail in turn).
    pub fn fail_next(&self, method: ProvisionerCall, error: Error) {
        self.cluster().faults.push(method, error);
    }

    /// Fails each call with probability `rate` (0..=1) with a retryable `Unavailable` error,
    /// reproducibly from `seed`. A rate of 0 turns random faults off.
    #[must_use]
    pub fn with_fault_rate(self, seed: u64, rate: f64) -> Self {
        self.cluster().faults.set_rate(seed, rate);
        self
    }

    /// How many times `method` was called (failed calls included).
    pub fn calls(&self, method: ProvisionerCall) -> u64 {
        self.cluster().faults.calls(method)
    }

    /// Puts a guest on the cluster as given (an unmanaged one, a template, or a managed orphan
    /// for reconciler tests). `Conflict` if the VMID is taken, `NotFound` for an unknown node.
    pub fn add_guest(&self, guest: Guest) -> Result<()> {
        let mut c = self.cluster();
        if !c.nodes.iter().any(|n| n.name == guest.guest.node) {
            return Err(Error::not_found(format!(
                "cannot add guest {}: node {} is not part of the cluster",
                guest.guest.vmid, guest.guest.node
            )));
        }
        if c.guests.contains_key(&guest.guest.vmid) {
            return Err(Error::conflict(format!(
                "cannot add guest {}: the VMID is taken",
                guest.guest.vmid
            )));
        }
        c.guests.insert(
            guest.guest.vmid,
            SimGuest {
                guest,
                disk_gb: 0,
                env: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Adds a stopped LXC container the platform did not create (no [`MANAGED_TAG`]).
    pub fn add_unmanaged_guest(
        &self,
        node: NodeName,
        vmid: Vmid,
        name: &str,
        tags: Vec<String>,
    ) -> Result<()> {
        self.add_guest(Guest {
            guest: GuestRef {
                node,
                vmid,
                kind: GuestKind::Lxc,
            },
            name: name.to_owned(),
            state: GuestState::Stopped,
            tags: tags.into_iter().filter(|t| t != MANAGED_TAG).collect(),
            template: false,
            lock: None,
            memory_mb: 512,
            cores: 1,
            data_volume: None,
        })
    }

    /// Adds a VM template that specs can clone ([`GuestSource::CloneVm`]).
    pub fn add_vm_template(&self, node: NodeName, vmid: Vmid, name: &str) -> Result<()> {
        self.add_guest(Guest {
            guest: GuestRef {
                node,
                vmid,
                kind: GuestKind::Vm,
            },
            name: name.to_owned(),
            state: GuestState::Stopped,
            tags: Vec::new(),
            template: true,
            lock: None,
            memory_mb: 0,
            cores: 1,
            data_volume: None,
        })
    }

    /// Deletes a guest behind the platform's back; returns it if it existed.
    pub fn remove_guest(&self, vmid: Vmid) -> Option<Guest> {
        self.cluster().guests.remove(&vmid).map(|g| g.guest)
    }

    /// Changes a guest's state behind the platform's back (drift); false if it does not exist.
    pub fn set_state(&self, vmid: Vmid, state: GuestState) -> bool {
        match self.cluster().guests.get_mut(&vmid) {
            Some(g) => {
                g.guest.state = state;
                true
            }
            None => false,
        }
    }

    /// Sets or clears a config lock: while locked, start, stop and destroy fail with a
    /// retryable `Backend` error, as Proxmox does. False if the guest does not exist.
    pub fn set_lock(&self, vmid: Vmid, lock: Option<String>) -> bool {
        match self.cluster().guests.get_mut(&vmid) {
            Some(g) => {
                g.guest.lock = lock;
                true
            }
            None => false,
        }
    }

    /// Marks a node online, offline or unknown; false if there is no such node.
    pub fn set_node_health(&self, node: &NodeName, health: NodeHealth) -> bool {
        match self.cluster().nodes.iter_mut().find(|n| n.name == *node) {
            Some(n) => {
                n.health = health;
                true
            }
            None => false,
        }
    }

    /// The env a guest was created with (values in clear, for tests); `None` if it does not
    /// exist.
    pub fn env_of(&self, vmid: Vmid) -> Option<BTreeMap<EnvKey, Secret>> {
        self.cluster().guests.get(&vmid).map(|g| g.env.clone())
    }

    /// Every guest on the cluster now, by VMID, with its data volume.
    pub fn guests(&self) -> Vec<Guest> {
        self.cluster()
            .guests
            .values()
            .map(|g| g.guest.clone())
            .collect()
    }
}

#[async_trait]
impl Provisioner for FakeProvisioner {
    async fn nodes(&self) -> Result<Vec<Node>> {
        self.pause().await;
        let mut c = self.cluster();
        c.faults.enter(ProvisionerCall::Nodes, BACKEND)?;
        Ok(c.nodes
            .iter()
            .map(|n| Node {
                name: n.name.clone(),
                kind: NodeKind::Proxmox,
                capacity: n.capacity,
                used: c.used(&n.name),
                health: n.health,
            })
            .collect())
    }

    async fn create(&self, spec: &GuestSpec) -> Result<GuestRef> {
        self.pause().await;
        let mut c = self.cluster();
        c.faults.enter(ProvisionerCall::Create, BACKEND)?;
        c.create(spec)
    }

    async fn start(&self, guest: &GuestRef) -> Result<()> {
        self.pause().await;
        let mut c = self.cluster();
        c.faults.enter(ProvisionerCall::Start, BACKEND)?;
        let g = c.find_mut(guest).ok_or_else(|| not_found(guest))?;
        if g.guest.template {
            return Err(Error::invalid_input(format!(
                "guest {} is a template and cannot be started: clone it instead",
                guest.vmid
            ))
            .with_backend(BACKEND));
        }
        if g.guest.state != GuestState::Running {
            locked(g)?;
            g.guest.state = GuestState::Running;
        }
        Ok(())
    }

    async fn stop(&self, guest: &GuestRef, mode: StopMode) -> Result<()> {
        self.pause().await;
        // Both modes end with the guest off: the fake's guests always shut down in time.
        let _ = mode;
        let mut c = self.cluster();
        c.faults.enter(ProvisionerCall::Stop, BACKEND)?;
        let g = c.find_mut(guest).ok_or_else(|| not_found(guest))?;
        if g.guest.state != GuestState::Stopped {
            locked(g)?;
            g.guest.state = GuestState::Stopped;
        }
        Ok(())
    }

    async fn destroy(&self, guest: &GuestRef) -> Result<()> {
        self.pause().await;
        let mut c = self.cluster();
        c.faults.enter(ProvisionerCall::Destroy, BACKEND)?;
        match c.find(guest) {
            None => Ok(()),
            Some(g) => {
                locked(g)?;
                // A running guest is stopped first; in memory that is simply removing it.
                c.guests.remove(&guest.vmid);
                Ok(())
            }
        }
    }

    async fn status(&self, guest: &GuestRef) -> Result<Guest> {
        self.pause().await;
        let mut c = self.cluster();
        c.faults.enter(ProvisionerCall::Status, BACKEND)?;
        c.find(guest)
            .map(|g| g.guest.clone())
            .ok_or_else(|| not_found(guest))
    }

    async fn addresses(&self, guest: &GuestRef) -> Result<Vec<IpAddr>> {
        self.pause().await;
        let mut c = self.cluster();
        c.faults.enter(ProvisionerCall::Addresses, BACKEND)?;
        let g = c.find(guest).ok_or_else(|| not_found(guest))?;
        Ok(if g.guest.state == GuestState::Running {
            vec![address_of(guest.vmid)]
        } else {
            Vec::new()
        })
    }

    async fn list(&self) -> Result<Vec<Guest>> {
        self.pause().await;
        let mut c = self.cluster();
        c.faults.enter(ProvisionerCall::List, BACKEND)?;
        // As on Proxmox, the one-call listing does not carry the data volumes.
        Ok(c.guests
            .values()
            .map(|g| Guest {
                data_volume: None,
                ..g.guest.clone()
            })
            .collect())
    }

    async fn move_data_volume(&self, from: &GuestRef, to: &GuestRef) -> Result<()> {
        self.pause().await;
        let mut c = self.cluster();
        c.faults.enter(ProvisionerCall::MoveDataVolume, BACKEND)?;
        if from.kind != GuestKind::Lxc || to.kind != GuestKind::Lxc || from.node != to.node {
            return Err(Error::invalid_input(format!(
                "cannot move a data volume from {} to {}: both must be LXC guests on one node",
                from.vmid, to.vmid
            ))
            .with_backend(BACKEND));
        }
        let source = c.find(from).ok_or_else(|| not_found(from))?;
        let target = c.find(to).ok_or_else(|| not_found(to))?;
        for g in [source, target] {
            locked(g)?;
            if g.guest.state == GuestState::Running {
                return Err(Error::conflict(format!(
                    "cannot move a data volume while guest {} runs: stop it first",
                    g.guest.guest.vmid
                ))
                .with_backend(BACKEND));
            }
        }
        match (&source.guest.data_volume, &target.guest.data_volume) {
            (None, Some(_)) => Ok(()),
            (None, None) => Err(Error::not_found(format!(
                "neither guest {} nor {} holds a data volume",
                from.vmid, to.vmid
            ))
            .with_backend(BACKEND)),
            (Some(_), Some(_)) => Err(Error::conflict(format!(
                "guest {} already holds a data volume: it cannot take the one of {}",
                to.vmid, from.vmid
            ))
            .with_backend(BACKEND)),
            (Some(_), None) => {
                let volume = c.find_mut(from).and_then(|g| g.guest.data_volume.take());
                if let Some(g) = c.find_mut(to) {
                    g.guest.data_volume = volume;
                }
                Ok(())
            }
        }
    }
}
