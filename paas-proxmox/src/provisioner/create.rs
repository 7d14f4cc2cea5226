//! Creating guests: an LXC container from a template, or a VM cloned from a template VM.
//!
//! Idempotency: a create that meets `already exists` looks at the guest holding the VMID. If it
//! carries the spec's app tag (for a VM being cloned: the marker in its description, since tags
//! are set after the clone) it is our own earlier attempt: wait for its task to release the
//! config lock and return it. A guest still locked by its create or clone whose config says
//! nothing yet (PVE writes `lock: create` / `lock: clone` first) is waited for, then judged.
//! Otherwise it is someone else's: `Conflict`, allocate another VMID.
//!
//! A VM clone is marked as ours from the start (its description carries the tags), is grown to
//! the spec's disk and then configured; if a step after the clone fails, the clone this call
//! made is destroyed before the error is returned.

use super::query::guest_from_resource;
use super::volumes::disk_size;
use super::{ProxmoxProvisioner, guest_type};
use crate::client::BACKEND;
use crate::client::error::{ErrorClass, class_of};
use crate::client::guest::{ConfigUpdate, GuestConfig, GuestType, split_tags};
use crate::client::lxc::{CreateLxc, encode_env};
use crate::client::qemu::CloneVm;
use paas_core::model::{Secret, Vmid};
use paas_core::ports::{
    Guest, GuestKind, GuestRef, GuestSource, GuestSpec, MANAGED_TAG, app_from_tags,
};
use paas_core::{Error, Result};
use tokio::time::Instant;

/// Prefix of the description line that records a cloned VM's tags until they are set.
const TAGS_MARKER: &str = "paas-tags: ";

/// How many times a create is re-run after its earlier attempt vanished (a failed task undone).
const MAX_ROUNDS: u32 = 4;

/// The tags a new guest gets: [`MANAGED_TAG`] and the spec's, once each, in order.
pub(crate) fn managed_tags(spec: &GuestSpec) -> Vec<String> {
    let mut tags = vec![MANAGED_TAG.to_owned()];
    for t in &spec.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    tags
}

/// Whether a guest with `tags` and `name` is the one `spec` describes.
fn is_ours(spec: &GuestSpec, wanted: &[String], tags: &[String], name: &str) -> bool {
    match app_from_tags(&spec.tags) {
        Some(app) => app_from_tags(tags) == Some(app),
        // Without an app tag, only an exact match of every tag and the name counts.
        None => wanted.iter().all(|t| tags.contains(t)) && name == spec.hostname.as_str(),
    }
}

enum Existing {
    /// Our own guest from an earlier attempt.
    Ours(Guest),
    /// A guest whose create or clone still runs and whose config does not tell yet.
    Undecided(Guest),
    /// Someone else's guest.
    Other(Guest),
    /// Nothing there any more.
    Gone,
}

impl ProxmoxProvisioner {
    pub(crate) async fn create_guest(&self, spec: &GuestSpec) -> Result<GuestRef> {
        let tags = managed_tags(spec);
        let what = match &spec.source {
            GuestSource::LxcTemplate { template } => {
                format!(
                    "creating container {} on node '{}' from template '{template}'",
                    spec.vmid, spec.node
                )
            }
            GuestSource::CloneVm { template } => {
                format!(
                    "cloning VM {template} into VM {} on node '{}'",
                    spec.vmid, spec.node
                )
            }
        };
        // Everything that can be refused without asking the cluster is refused first.
        let env = check_spec(spec).map_err(|e| e.context(&what))?;
        for _ in 0..MAX_ROUNDS {
            let attempt = match &spec.source {
                GuestSource::LxcTemplate { template } => {
                    self.opts
                        .retry
                        .run(&what, || {
                            self.create_lxc_once(spec, template, &tags, env.as_ref())
                        })
                        .await
                }
                GuestSource::CloneVm { template } => {
                    self.opts
                        .retry
                        .run(&what, || self.clone_vm_once(spec, *template, &tags))
                        .await
                }
            };
            let (guest, made_here) = match attempt {
                Ok(()) => (
                    GuestRef {
                        node: spec.node.clone(),
                        vmid: spec.vmid,
                        kind: kind_of(spec),
                    },
                    true,
                ),
                Err(e) if class_of(&e) == Some(ErrorClass::AlreadyExists) => {
                    let mut found = self.existing(spec, &tags).await?;
                    if let Existing::Undecided(g) = &found {
                        if self.wait_unlocked(&g.guest).await?.is_none() {
                            continue;
                        }
                        found = self.existing(spec, &tags).await?;
                    }
                    match found {
                        Existing::Ours(g) => match self.wait_unlocked(&g.guest).await? {
                            Some(()) => (g.guest, false),
                            None => continue,
                        },
                        Existing::Other(g) | Existing::Undecided(g) => {
                            return Err(taken(spec, &g).with_source(e));
                        }
                        Existing::Gone => continue,
                    }
                }
                Err(e) => {
                    if e.message().contains("storage '") {
                        self.forget_container_storage(&spec.node);
                    }
                    return Err(e.context(&what));
                }
            };
            if guest.kind == GuestKind::Vm
                && let Err(e) = self.finish_clone(&guest, spec, &tags).await
            {
                let e = e.context(&what);
                return Err(if made_here {
                    self.undo_clone(&guest, e).await
                } else {
                    e
                });
            }
            return Ok(guest);
        }
        Err(Error::conflict(format!(
            "{what}: VMID {} kept appearing and vanishing (its create tasks failed); \
             check the task log in Proxmox VE, then retry",
            spec.vmid
        ))
        .retryable(true)
        .with_backend(BACKEND))
    }

    /// Destroys a clone whose configuration failed; returns the error to report.
    async fn undo_clone(&self, g: &GuestRef, err: Error) -> Error {
        match self.destroy_guest(g).await {
            Ok(()) => err,
            Err(d) => {
                let msg = format!(
                    "{}; destroying the unfinished clone VM {} failed too ({d}): it carries the \
                     spec's tags in its description, so status() reports them and cleanup by \
                     tags finds it",
                    err.message(),
                    g.vmid
                );
                Error::new(err.kind(), msg)
                    .retryable(err.is_retryable())
                    .with_backend(BACKEND)
                    .with_source(err)
            }
        }
    }

    async fn create_lxc_once(
        &self,
        spec: &GuestSpec,
        template: &str,
        tags: &[String],
        env: Option<&Secret>,
    ) -> Result<()> {
        let storage = self.container_storage(&spec.node).await?;
        let mut mount_points = Vec::new();
        if let Some(v) = &spec.data_volume {
            // backup=1: vzdump skips mount points without it, and this is the app's data.
            mount_points.push((
                0,
                format!("{storage}:{},mp={},backup=1", v.size_gb, v.mount_path),
            ));
        }
        let params = CreateLxc {
            vmid: spec.vmid.get(),
            ostemplate: template.to_owned(),
            hostname: Some(spec.hostname.as_str().to_owned()),
            cores: Some(spec.cores.max(1)),
            memory: Some(spec.memory_mb.max(16)),
            rootfs: Some(format!("{storage}:{}", spec.disk_gb.max(1))),
            net0: Some(format!("name=eth0,bridge={},ip=dhcp", self.opts.bridge)),
            password: spec.password.clone(),
            ssh_public_keys: spec.ssh_public_keys.clone(),
            unprivileged: Some(self.opts.unprivileged),
            pool: self.opts.pool.clone(),
            tags: Some(tags.join(";")),
            mount_points,
            env: env.cloned(),
            ..CreateLxc::default()
        };
        let upid = self.client.create_lxc(spec.node.as_str(), &params).await?;
        self.client.wait_task(&upid, self.wait_opts()).await?;
        Ok(())
    }

    async fn clone_vm_once(&self, spec: &GuestSpec, template: Vmid, tags: &[String]) -> Result<()> {
        let source = self.find_guest(template).await?.ok_or_else(|| {
            Error::not_found(format!(
                "template VM {template} does not exist on the cluster: create it or pick another template"
            ))
            .with_backend(BACKEND)
        })?;
        if source.guest.kind != GuestKind::Vm {
            return Err(Error::invalid_input(format!(
                "guest {template} is a container, not a VM: clone sources must be QEMU VMs"
            ))
            .with_backend(BACKEND));
        }
        let params = CloneVm {
            newid: spec.vmid.get(),
            name: Some(spec.hostname.as_str().to_owned()),
            full: Some(self.opts.full_clone),
            storage: if self.opts.full_clone {
                self.opts.clone_storage.clone()
            } else {
                None
            },
            target: (source.guest.node != spec.node).then(|| spec.node.as_str().to_owned()),
            pool: self.opts.pool.clone(),
            description: Some(format!("{TAGS_MARKER}{}", tags.join(";"))),
        };
        let upid = self
            .client
            .clone_vm(source.guest.node.as_str(), template.get(), &params)
            .await
            .map_err(|e| {
                if e.message().contains("(VM uses local storage)")
                    || e.message().contains("can't clone to non-shared storage")
                {
                    // A placement PVE cannot do: retrying will not help.
                    Error::invalid_input(format!(
                        "{}: template VM {template} is on node '{}' and its disks are on \
                         storage local to that node, so Proxmox VE clones it only there: place \
                         the VM on '{}', or move the template's disks to shared storage",
                        e.message(),
                        source.guest.node,
                        source.guest.node
                    ))
                    .with_backend(BACKEND)
                    .with_source(e)
                } else {
                    e
                }
            })?;
        self.client.wait_task(&upid, self.wait_opts()).await?;
        Ok(())
    }

    /// What a clone needs after its task: a disk of at least the spec's size, then the spec's
    /// cores, memory and tags.
    async fn finish_clone(&self, g: &GuestRef, spec: &GuestSpec, tags: &[String]) -> Result<()> {
        self.grow_clone_disk(g, spec).await?;
        self.configure_clone(g, spec, tags).await
    }

    /// Grows the clone's boot disk to `spec.disk_gb` when the template's is smaller (PVE's
    /// resize never shrinks, and an absolute size makes a repeated resize a no-op).
    async fn grow_clone_disk(&self, g: &GuestRef, spec: &GuestSpec) -> Result<()> {
        let node = g.node.as_str();
        let vmid = g.vmid.get();
        let config = self
            .opts
            .retry
            .run("reading the clone's config", || {
                self.client.guest_config(GuestType::Qemu, node, vmid)
            })
            .await?;
        let Some((disk, size)) = boot_disk(&config) else {
            return Ok(());
        };
        let wanted = u64::from(spec.disk_gb) << 30;
        if size >= wanted {
            return Ok(());
        }
        let size_arg = format!("{}G", spec.disk_gb);
        self.opts
            .retry
            .run("growing the clone's disk", || async {
                let upid = self
                    .client
                    .resize_disk(GuestType::Qemu, node, vmid, &disk, &size_arg)
                    .await?;
                self.client.wait_task(&upid, self.wait_opts()).await?;
                Ok(())
            })
            .await
            .map_err(|e| e.context(format!("growing disk {disk} of VM {vmid} to {size_arg}")))
    }

    /// Sets a fresh clone's size and tags (the clone copied the template's).
    async fn configure_clone(&self, g: &GuestRef, spec: &GuestSpec, tags: &[String]) -> Result<()> {
        let update = ConfigUpdate::default()
            .set("cores", spec.cores.max(1))
            .set("memory", spec.memory_mb.max(16))
            .set("tags", tags.join(";"));
        self.opts
            .retry
            .run("configuring the clone", || {
                self.client.update_guest_config(
                    GuestType::Qemu,
                    g.node.as_str(),
                    g.vmid.get(),
                    &update,
                )
            })
            .await
    }

    /// The guest holding `vmid` anywhere on the cluster.
    pub(crate) async fn find_guest(&self, vmid: Vmid) -> Result<Option<Guest>> {
        let resources = self
            .opts
            .retry
            .run("listing guests", || self.client.vm_resources())
            .await?;
        Ok(resources
            .iter()
            .filter(|r| r.vmid == Some(u64::from(vmid.get())))
            .find_map(guest_from_resource))
    }

    async fn existing(&self, spec: &GuestSpec, wanted: &[String]) -> Result<Existing> {
        let Some(g) = self.find_guest(spec.vmid).await? else {
            return Ok(Existing::Gone);
        };
        let mut tags = g.tags.clone();
        let mut said_nothing = tags.is_empty();
        if g.guest.kind == GuestKind::Vm && g.guest.kind == kind_of(spec) {
            // A clone gets its tags only after its task; until then they are in the description.
            let kind = guest_type(g.guest.kind);
            let node = g.guest.node.as_str();
            match self
                .opts
                .retry
                .run("reading the VM config", || {
                    self.client.guest_config(kind, node, g.guest.vmid.get())
                })
                .await
            {
                Ok(cfg) => {
                    let marked = marker_tags(&cfg);
                    said_nothing = said_nothing && marked.is_empty();
                    tags.extend(marked);
                }
                Err(e) if e.is_not_found() => return Ok(Existing::Gone),
                Err(e) => return Err(e),
            }
        }
        if g.guest.kind == kind_of(spec) && is_ours(spec, wanted, &tags, &g.name) {
            Ok(Existing::Ours(g))
        } else if said_nothing && matches!(g.lock.as_deref(), Some("create" | "clone")) {
            // PVE writes only `lock: create` / `lock: clone` until the task writes the config.
            Ok(Existing::Undecided(g))
        } else {
            Ok(Existing::Other(g))
        }
    }

    /// Waits until an earlier attempt's task released the config lock. `None` if the guest
    /// vanished meanwhile (its task failed and was undone).
    async fn wait_unlocked(&self, g: &GuestRef) -> Result<Option<()>> {
        let deadline = Instant::now() + self.opts.task_timeout;
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            match self.guest_status(g).await {
                Ok(s) if s.lock.is_none() => return Ok(Some(())),
                Ok(_) => {}
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(Error::timeout(format!(
                    "guest {} on node '{}' is still locked after {:?}: an earlier create is still running",
                    g.vmid, g.node, self.opts.task_timeout
                ))
                .with_backend(BACKEND));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(1));
        }
    }
}

/// The checks of a spec that need no call; returns the encoded `env` of a container.
fn check_spec(spec: &GuestSpec) -> Result<Option<Secret>> {
    let is_vm = matches!(spec.source, GuestSource::CloneVm { .. });
    if is_vm && !spec.env.is_empty() {
        return Err(Error::invalid_input(
            "env is delivered to LXC containers only (Proxmox VE's `env` key); a VM gets its \
             configuration by cloud-init or its image: remove env from the spec",
        )
        .with_backend(BACKEND));
    }
    if is_vm && spec.data_volume.is_some() {
        return Err(Error::invalid_input(
            "data volumes are LXC mount points (mp0); a VM keeps its data on its own disks: \
             remove data_volume from the spec",
        )
        .with_backend(BACKEND));
    }
    if spec.data_volume.as_ref().is_some_and(|v| v.size_gb == 0) {
        return Err(
            Error::invalid_input("a data volume needs at least 1 GiB: set size_gb")
                .with_backend(BACKEND),
        );
    }
    encode_env(spec.env.iter().map(|(k, v)| (k.as_str(), v.clone())))
}

/// The tags a VM's description carries (`paas-tags: a;b` lines), written at clone time.
pub(crate) fn marker_tags(config: &GuestConfig) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(desc) = config.get("description") {
        for line in desc.lines() {
            if let Some(rest) = line.trim().strip_prefix(TAGS_MARKER) {
                tags.extend(split_tags(Some(rest)));
            }
        }
    }
    tags
}

/// A VM's boot disk and its size: the first disk of `boot: order=...`, else `bootdisk`, else
/// the first of scsi0, virtio0, sata0, ide0; CD-ROMs never.
fn boot_disk(config: &GuestConfig) -> Option<(String, u64)> {
    let is_disk = |k: &str| {
        config
            .get(k)
            .filter(|v| !v.split(',').any(|p| p == "media=cdrom"))
            .and_then(|v| disk_size(&v))
    };
    let mut candidates: Vec<String> = Vec::new();
    if let Some(boot) = config.get("boot") {
        let order = boot
            .split(',')
            .find_map(|p| p.strip_prefix("order="))
            .unwrap_or_default();
        candidates.extend(order.split(';').map(str::to_owned));
    }
    candidates.extend(config.get("bootdisk"));
    candidates.extend(["scsi0", "virtio0", "sata0", "ide0"].map(str::to_owned));
    candidates
        .into_iter()
        .find_map(|k| is_disk(&k).map(|size| (k, size)))
}

fn kind_of(spec: &GuestSpec) -> GuestKind {
    match spec.source {
        GuestSource::LxcTemplate { .. } => GuestKind::Lxc,
        GuestSource::CloneVm { .. } => GuestKind::Vm,
    }
}

fn taken(spec: &GuestSpec, g: &Guest) -> Error {
    let kind = match g.guest.kind {
        GuestKind::Lxc => "container",
        GuestKind::Vm => "VM",
    };
    Error::conflict(format!(
        "VMID {} is already taken by {kind} '{}' on node '{}' (tags: [{}]), which is not this \
         guest: allocate another VMID",
        spec.vmid,
        g.name,
        g.guest.node,
        g.tags.join(", ")
    ))
    .retryable(false)
    .with_backend(BACKEND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paas_core::model::AppId;
    use paas_core::ports::app_tag;

    fn spec(tags: Vec<String>) -> GuestSpec {
        GuestSpec {
            vmid: Vmid::new(100).unwrap(),
            node: "pve1".parse().unwrap(),
            hostname: "web".parse().unwrap(),
            source: GuestSource::LxcTemplate {
                template: "local:vztmpl/x".into(),
            },
            cores: 1,
            memory_mb: 512,
            disk_gb: 4,
            tags,
            password: None,
            ssh_public_keys: None,
            env: Default::default(),
            data_volume: None,
        }
    }

    #[test]
    fn tags_start_with_managed_and_are_unique() {
        let s = spec(vec!["a".into(), MANAGED_TAG.into(), "a".into()]);
        assert_eq!(
            managed_tags(&s),
            vec![MANAGED_TAG.to_owned(), "a".to_owned()]
        );
    }

    #[test]
    fn ours_by_app_tag_or_by_all_tags_and_name() {
        let app = AppId::new();
        let s = spec(vec![app_tag(app)]);
        let w = managed_tags(&s);
        assert!(is_ours(
            &s,
            &w,
            &[MANAGED_TAG.into(), app_tag(app)],
            "other-name"
        ));
        assert!(!is_ours(
            &s,
            &w,
            &[MANAGED_TAG.into(), app_tag(AppId::new())],
            "web"
        ));
        let s = spec(vec!["x".into()]);
        let w = managed_tags(&s);
        assert!(is_ours(&s, &w, &w, "web"));
        assert!(!is_ours(&s, &w, &w, "db"));
        assert!(!is_ours(&s, &w, &["x".into()], "web"));
    }
}
