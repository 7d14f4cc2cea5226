//! Where VMIDs come from, and creating a guest under one when other clients race for the same.
//!
//! Proxmox VE's `/cluster/nextid` reserves nothing: two clients asking at once get the same
//! id and one of them fails at create with `already exists`. Two sources are offered:
//!
//! - [`create_with_allocator`]: a VMID from the platform's [`IdAllocator`] (pool `vmid`), which
//!   never hands the same id to two of its users, skipping every id the cluster already uses
//!   ([`cluster_vmids`]), so only clients outside the platform can still collide;
//! - [`create_with_nextid`]: for users without an allocator, `/cluster/nextid` with a jittered
//!   offset after each collision, so racing clients spread out instead of colliding again.
//!
//! Both retry with a new VMID when the create meets a guest that is not theirs.

use crate::client::error::{ErrorClass, class_of};
use crate::client::{BACKEND, ProxmoxClient};
use crate::provisioner::ProxmoxProvisioner;
use paas_core::model::Vmid;
use paas_core::ports::{GuestRef, GuestSpec, IdAllocator, POOL_VMID, Provisioner, app_from_tags};
use paas_core::{Error, Result};
use std::collections::BTreeSet;

/// How many VMIDs a create tries before giving up.
pub const MAX_VMID_ATTEMPTS: u32 = 64;

/// Every VMID the cluster uses (guests and templates, on every node).
pub async fn cluster_vmids(client: &ProxmoxClient) -> Result<BTreeSet<u64>> {
    Ok(client
        .vm_resources()
        .await?
        .iter()
        .filter_map(|r| r.vmid)
        .collect())
}

/// Whether `err` is a create that met a guest that is not ours (a VMID race we lost).
fn lost_race(err: &Error) -> bool {
    err.is_conflict() && !err.is_retryable() || class_of(err) == Some(ErrorClass::AlreadyExists)
}

/// Creates `spec` under a VMID from `allocator` (pool `vmid`, held by `owner`), retrying with a
/// new VMID when another client took it first. The lost VMID is released. Returns the guest.
///
/// The allocator is idempotent per owner, so a retried call (the same `owner`) gets the same
/// VMID back and the create finds its own guest.
///
/// ```no_run
/// # async fn demo(p: &paas_proxmox::provisioner::ProxmoxProvisioner,
/// #               ids: &dyn paas_core::ports::IdAllocator,
/// #               spec: paas_core::ports::GuestSpec) -> paas_core::Result<()> {
/// let guest = paas_proxmox::vmid::create_with_allocator(p, ids, "app-42/deploy-7", spec).await?;
/// println!("created {}", guest.vmid);
/// # Ok(()) }
/// ```
pub async fn create_with_allocator(
    provisioner: &ProxmoxProvisioner,
    allocator: &dyn IdAllocator,
    owner: &str,
    mut spec: GuestSpec,
) -> Result<GuestRef> {
    let mut lost: BTreeSet<u64> = BTreeSet::new();
    for _ in 0..MAX_VMID_ATTEMPTS {
        let mut avoid = provisioner
            .options()
            .retry
            .run("listing the cluster's VMIDs", || {
                cluster_vmids(provisioner.client())
            })
            .await?;
        avoid.extend(lost.iter().copied());
        let avoid: Vec<u64> = avoid.into_iter().collect();
        let id = allocator.allocate(POOL_VMID, owner, &avoid).await?;
        spec.vmid = Vmid::try_from(id).map_err(|e| {
            e.context(format!(
                "the IdAllocator's pool '{POOL_VMID}' handed out {id}"
            ))
        })?;
        match provisioner.create(&spec).await {
            Ok(g) => return Ok(g),
            Err(e) if lost_race(&e) => {
                tracing::debug!(
                    vmid = id,
                    "VMID taken by another client; allocating another"
                );
                lost.insert(id);
                allocator.release(POOL_VMID, id).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(exhausted())
}

/// Creates `spec` under a VMID from `/cluster/nextid`, retrying with another one whenever a
/// racing client took it first. `spec.vmid` is ignored.
///
/// If the spec carries an app tag and a guest with that tag already exists (a retried call),
/// that guest is returned and nothing is created.
pub async fn create_with_nextid(
    provisioner: &ProxmoxProvisioner,
    mut spec: GuestSpec,
) -> Result<GuestRef> {
    let client = provisioner.client();
    if let Some(app) = app_from_tags(&spec.tags) {
        let existing = provisioner.list().await?;
        if let Some(g) = existing
            .iter()
            .find(|g| app_from_tags(&g.tags) == Some(app))
        {
            return Ok(g.guest.clone());
        }
    }
    for attempt in 0..MAX_VMID_ATTEMPTS {
        let retry = provisioner.options().retry;
        let base = retry
            .run("asking for the next free VMID", || client.nextid(None))
            .await?;
        let candidate = if attempt == 0 {
            base
        } else {
            // Everyone who collided got the same `base`: spread out over a window that grows
            // with each collision, and check the pick is still free.
            let window = 1u32 << attempt.min(8);
            let pick = base.saturating_add(rand::random_range(0..window));
            match retry
                .run("checking a VMID", || client.nextid(Some(pick)))
                .await
            {
                Ok(id) => id,
                Err(e) if lost_race(&e) => continue,
                Err(e) => return Err(e),
            }
        };
        spec.vmid = Vmid::new(candidate)?;
        match provisioner.create(&spec).await {
            Ok(g) => return Ok(g),
            Err(e) if lost_race(&e) => {
                tracing::debug!(
                    vmid = candidate,
                    "VMID taken by another client; trying another"
                );
            }
            Err(e) => return Err(e),
        }
    }
    Err(exhausted())
}

fn exhausted() -> Error {
    Error::conflict(format!(
        "no free VMID after {MAX_VMID_ATTEMPTS} attempts: other clients took every candidate; \
         retry later or give this platform its own VMID range"
    ))
    .retryable(true)
    .with_backend(BACKEND)
}
