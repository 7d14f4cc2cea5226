//! Deploy steps on a Proxmox guest (LXC container or QEMU VM).

use super::{Run, guest_kind, guest_of};
use crate::engine::platform::{port_owner, vmid_owner};
use crate::model::{
    Application, EventLevel, Hostname, NodeHealth, NodeName, Placement, Plan, Release, Runtime,
    Vmid,
};
use crate::ports::{GuestRef, GuestSource, GuestSpec, POOL_PUBLIC_PORT, POOL_VMID, app_tag};
use crate::{Error, Result};
use std::time::Duration;

/// VMIDs tried when the cluster says ours is taken (another client created it meanwhile).
const VMID_TRIES: usize = 8;

pub(super) async fn deploy(
    run: &mut Run,
    app: &Application,
    release: &Release,
    plan: &Plan,
) -> Result<Placement> {
    let prov = run.platform.provisioner()?;
    let kind = guest_kind(&release.runtime);

    if !run.is_done("remove-old-guest") {
        let mut note = "no previous guest".to_owned();
        if let Some(old) = guest_of(app) {
            note = remove_if_ours(run, app, &old).await?;
            run.modify_app(|a| {
                a.placement = None;
                Ok(())
            })
            .await?;
        }
        run.mark("remove-old-guest", note).await?;
    }

    if !run.is_done("allocate-vmid") {
        let avoid: Vec<u64> = prov
            .list()
            .await?
            .iter()
            .map(|g| u64::from(g.guest.vmid.get()))
            .collect();
        let v = run
            .platform
            .inner
            .ids
            .allocate(POOL_VMID, &vmid_owner(app.id), &avoid)
            .await?;
        run.progress.vmid = Some(to_u32(v)?);
        run.mark("allocate-vmid", format!("allocated VMID {v}"))
            .await?;
    }

    if !run.is_done("place") {
        let nodes = prov.nodes().await?;
        let need = u64::from(plan.memory_mb);
        let best = nodes
            .iter()
            .filter(|n| n.health == NodeHealth::Online && n.free_memory_mb() >= need)
            .max_by_key(|n| n.free_memory_mb())
            .ok_or_else(|| {
                Error::unavailable(format!(
                    "no online node has {need} MiB of memory free for plan '{}' ({} node(s) \
                     known): add capacity or choose a smaller plan",
                    plan.name,
                    nodes.len()
                ))
                .retryable(false)
            })?;
        run.progress.node = Some(best.name.as_str().to_owned());
        let msg = format!(
            "placed on {} ({} MiB free)",
            best.name,
            best.free_memory_mb()
        );
        run.mark("place", msg).await?;
    }

    let node: NodeName = run
        .progress
        .node
        .clone()
        .ok_or_else(|| Error::internal("checkpoint lost the node"))?
        .parse()?;

    if !run.is_done("create-guest") {
        let hostname: Hostname = app.slug.as_str().parse()?;
        let source = match &release.runtime {
            Runtime::Lxc { template } => GuestSource::LxcTemplate {
                template: template.clone(),
            },
            Runtime::Vm { template_vmid } => GuestSource::CloneVm {
                template: *template_vmid,
            },
            Runtime::Container { .. } => {
                return Err(Error::internal(
                    "a Container release reached the guest deploy",
                ));
            }
        };
        let mut tried = Vec::new();
        let mut created = None;
        for _ in 0..VMID_TRIES {
            let vmid = current_vmid(run)?;
            let spec = GuestSpec {
                vmid,
                node: node.clone(),
                hostname: hostname.clone(),
                source: source.clone(),
                cores: plan.cpu,
                memory_mb: plan.memory_mb,
                disk_gb: plan.disk_gb,
                tags: vec![app_tag(app.id)],
                password: None,
                ssh_public_keys: None,
                env: Default::default(),
                data_volume: None,
            };
            match prov.create(&spec).await {
                Ok(guest) => {
                    created = Some(guest);
                    break;
                }
                Err(e) if e.is_conflict() => {
                    // Another client took the VMID between our check and the create.
                    tried.push(u64::from(vmid.get()));
                    let ids = run.platform.inner.ids.clone();
                    ids.release(POOL_VMID, u64::from(vmid.get())).await?;
                    let mut avoid: Vec<u64> = prov
                        .list()
                        .await?
                        .iter()
                        .map(|g| u64::from(g.guest.vmid.get()))
                        .collect();
                    avoid.extend(&tried);
                    let next = ids.allocate(POOL_VMID, &vmid_owner(app.id), &avoid).await?;
                    run.progress.vmid = Some(to_u32(next)?);
                    run.save_with_event(
                        EventLevel::Warn,
                        "create-guest",
                        format!("VMID {vmid} is taken on the cluster; trying {next}"),
                    )
                    .await?;
                }
                Err(e) => return Err(e),
            }
        }
        let guest = created.ok_or_else(|| {
            Error::conflict(format!(
                "every VMID tried ({tried:?}) was taken by another client: is something else \
                 creating guests in the platform's VMID range?"
            ))
        })?;
        run.progress.node = Some(guest.node.as_str().to_owned());
        run.progress.vmid = Some(guest.vmid.get());
        let msg = format!(
            "created {:?} guest {} on {}",
            guest.kind, guest.vmid, guest.node
        );
        run.mark("create-guest", msg).await?;
    }

    let guest = GuestRef {
        node: run
            .progress
            .node
            .clone()
            .ok_or_else(|| Error::internal("checkpoint lost the node"))?
            .parse()?,
        vmid: current_vmid(run)?,
        kind,
    };

    if !run.is_done("start-guest") {
        prov.start(&guest).await?;
        run.mark("start-guest", format!("started guest {}", guest.vmid))
            .await?;
    }

    if !run.is_done("learn-ip") {
        let deadline = tokio::time::Instant::now() + run.platform.tunables().ip_deadline;
        let mut addresses = Vec::new();
        loop {
            let found = prov.addresses(&guest).await?;
            if !found.is_empty() {
                addresses = found.iter().map(ToString::to_string).collect();
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let msg = if addresses.is_empty() {
            "no IP address reported before the deadline; the reconciler fills it in later"
                .to_owned()
        } else {
            format!("guest has IP {}", addresses.join(", "))
        };
        run.progress.addresses = addresses;
        run.mark("learn-ip", msg).await?;
    }

    if !run.is_done("allocate-port") {
        let p = run
            .platform
            .inner
            .ids
            .allocate(POOL_PUBLIC_PORT, &port_owner(app.id), &[])
            .await?;
        let port = u16::try_from(p)
            .map_err(|_| Error::internal(format!("the public-port pool handed out {p}")))?;
        run.progress.ports = vec![port];
        run.mark("allocate-port", format!("allocated public port {port}"))
            .await?;
    }

    Ok(Placement::Guest {
        node: guest.node,
        vmid: guest.vmid,
        addresses: run.progress.addresses.clone(),
    })
}

fn to_u32(v: u64) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::internal(format!("the VMID pool handed out {v}")))
}

fn current_vmid(run: &Run) -> Result<Vmid> {
    let v = run
        .progress
        .vmid
        .ok_or_else(|| Error::internal("checkpoint lost the VMID"))?;
    Vmid::new(v)
}

/// Destroys `guest` if it carries the app's tag; a guest the platform did not create (an
/// imported one) is left alone. Returns what was done, for the event.
pub(super) async fn remove_if_ours(
    run: &Run,
    app: &Application,
    guest: &GuestRef,
) -> Result<String> {
    let prov = run.platform.provisioner()?;
    match prov.status(guest).await {
        Ok(g) if g.tags.iter().any(|t| *t == app_tag(app.id)) => {
            prov.destroy(guest).await?;
            Ok(format!("destroyed guest {}", guest.vmid))
        }
        Ok(_) => Ok(format!(
            "left guest {} in place: the platform did not create it (imported)",
            guest.vmid
        )),
        Err(e) if e.is_not_found() => Ok(format!("guest {} was already gone", guest.vmid)),
        Err(e) => Err(e),
    }
}

/// Destroys every guest on the cluster that carries the app's tag; returns how many.
pub(super) async fn remove_all(run: &Run, app: &Application) -> Result<usize> {
    let prov = run.platform.provisioner()?;
    let tag = app_tag(app.id);
    let ours: Vec<GuestRef> = prov
        .list()
        .await?
        .into_iter()
        .filter(|g| g.is_managed() && g.tags.contains(&tag))
        .map(|g| g.guest)
        .collect();
    for g in &ours {
        prov.destroy(g).await?;
    }
    Ok(ours.len())
}
