//! Conformance suite for the [`Provisioner`] port.
//!
//! Real backends need real templates and a node to use, so every check takes a
//! [`ProvisionerFixture`]. The suite works on a shared cluster (a simulator reused across
//! checks, a lab Proxmox): each check picks free VMIDs from [`ProvisionerFixture::first_vmid`]
//! up (per `list()`), and destroys every guest it created, pass or fail.
//!
//! ```
//! use paas_core::memory::FakeProvisioner;
//! use paas_core::ports::Provisioner;
//! use paas_core::testkit::provisioner::{self, ProvisionerFixture};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let fixture = ProvisionerFixture::new("pve1".parse().unwrap(), "local:vztmpl/debian.tar.zst");
//! let report = provisioner::run_all(
//!     || async { Arc::new(FakeProvisioner::new()) as Arc<dyn Provisioner> },
//!     &fixture,
//! )
//! .await;
//! report.assert_all_passed();
//! # });
//! ```

use super::check::{CheckResult, Failure, OrFail, SuiteReport, SuiteRunner, expect_err};
use crate::model::{AppId, NodeName, Secret, Vmid};
use crate::ports::{
    DataVolume, GuestKind, GuestRef, GuestSource, GuestSpec, GuestState, MANAGED_TAG, Provisioner,
    StopMode, app_tag,
};
use crate::{ErrorKind, ensure, ensure_eq};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What the suite needs to know about the cluster under test.
#[derive(Clone, Debug)]
pub struct ProvisionerFixture {
    /// The node to create guests on.
    pub node: NodeName,
    /// An LXC template volume that exists on the node (`local:vztmpl/...`).
    pub lxc_template: String,
    /// A template VM to clone, if the cluster has one (the clone check passes without).
    pub vm_template: Option<Vmid>,
    /// A guest the platform did not create, known to exist (the list check looks for it).
    pub unmanaged_guest: Option<Vmid>,
    /// Where the suite starts looking for free VMIDs (default 90000).
    pub first_vmid: u32,
    /// Memory of the test guests, MiB (default 256).
    pub memory_mb: u32,
    /// Whether a running test guest gets an address (default true; false on a cluster
    /// without DHCP for its guests).
    pub expect_addresses: bool,
    /// How long to wait for something the backend does asynchronously (an address).
    pub deadline: Duration,
}

impl ProvisionerFixture {
    /// A fixture creating LXC guests from `lxc_template` on `node`, with the defaults above.
    pub fn new(node: NodeName, lxc_template: impl Into<String>) -> Self {
        ProvisionerFixture {
            node,
            lxc_template: lxc_template.into(),
            vm_template: None,
            unmanaged_guest: None,
            first_vmid: 90_000,
            memory_mb: 256,
            expect_addresses: true,
            deadline: Duration::from_secs(60),
        }
    }

    fn spec(&self, c: &'static str, vmid: Vmid, app: AppId) -> Result<GuestSpec, Failure> {
        Ok(GuestSpec {
            vmid,
            node: self.node.clone(),
            hostname: format!("paas-suite-{vmid}")
                .parse()
                .or_fail(c, "making a hostname")?,
            source: GuestSource::LxcTemplate {
                template: self.lxc_template.clone(),
            },
            cores: 1,
            memory_mb: self.memory_mb,
            disk_gb: 2,
            tags: vec![app_tag(app)],
            password: None,
            ssh_public_keys: None,
            env: Default::default(),
            data_volume: None,
        })
    }
}

/// The guests a check created, destroyed when it ends.
struct Made<'a> {
    p: &'a dyn Provisioner,
    guests: Vec<GuestRef>,
}

impl<'a> Made<'a> {
    async fn create(&mut self, c: &'static str, spec: &GuestSpec) -> Result<GuestRef, Failure> {
        let g = self
            .p
            .create(spec)
            .await
            .or_fail(c, format!("creating guest {}", spec.vmid))?;
        if !self.guests.contains(&g) {
            self.guests.push(g.clone());
        }
        Ok(g)
    }

    async fn cleanup(self, c: &'static str, result: CheckResult) -> CheckResult {
        let mut left = Vec::new();
        for g in &self.guests {
            let mut last = None;
            for _ in 0..3 {
                // NotFound is the destroy check's business; here only a guest left behind
                // counts.
                match self.p.destroy(g).await {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) if e.is_not_found() => {
                        last = None;
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = last {
                left.push(format!("{} ({e})", g.vmid));
            }
        }
        match result {
            Ok(()) if !left.is_empty() => Err(Failure::new(
                c,
                format!("cleanup could not destroy guests: {}", left.join(", ")),
            )),
            other => other,
        }
    }
}

/// `n` VMIDs from `fixture.first_vmid` up that no guest holds.
async fn free_vmids(
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    c: &'static str,
    n: usize,
) -> Result<Vec<Vmid>, Failure> {
    let taken: BTreeSet<u32> = p
        .list()
        .await
        .or_fail(c, "listing guests to find free VMIDs")?
        .iter()
        .map(|g| g.guest.vmid.get())
        .collect();
    let mut out = Vec::with_capacity(n);
    let mut candidate = fx.first_vmid.max(Vmid::MIN);
    while out.len() < n {
        if !taken.contains(&candidate) {
            out.push(Vmid::new(candidate).or_fail(c, "picking a VMID")?);
        }
        candidate = candidate
            .checked_add(1)
            .ok_or_else(|| Failure::new(c, "no free VMID above first_vmid"))?;
    }
    Ok(out)
}

async fn state(p: &dyn Provisioner, c: &'static str, g: &GuestRef) -> Result<GuestState, Failure> {
    Ok(p.status(g)
        .await
        .or_fail(c, format!("status of {}", g.vmid))?
        .state)
}

macro_rules! checks {
    ($($(#[$doc:meta])* $name:ident => $body:ident;)*) => {
        /// Runs every check, each on a provisioner from `fresh()` (which may return the same
        /// shared cluster every time: checks clean up after themselves).
        pub async fn run_all<F, Fut>(mut fresh: F, fixture: &ProvisionerFixture) -> SuiteReport
        where
            F: FnMut() -> Fut,
            Fut: Future<Output = Arc<dyn Provisioner>>,
        {
            // Creating guests from templates takes a while on a real cluster.
            let mut runner = SuiteRunner::new().with_limit(fixture.deadline.saturating_mul(5));
            $(
                let p = fresh().await;
                runner.run(stringify!($name), $name(&*p, fixture)).await;
            )*
            runner.finish()
        }

        $(
            $(#[$doc])*
            pub async fn $name(p: &dyn Provisioner, fixture: &ProvisionerFixture) -> CheckResult {
                const C: &str = stringify!($name);
                let mut made = Made { p, guests: Vec::new() };
                let result = $body(C, p, fixture, &mut made).await;
                made.cleanup(C, result).await
            }
        )*
    };
}

checks! {
    /// `nodes` lists the cluster's nodes, the fixture's among them, each with a capacity.
    nodes_report_capacity => nodes_report_capacity_;
    /// `create` makes a stopped guest carrying `MANAGED_TAG` and its tags; the same create
    /// again returns the same guest.
    create_is_idempotent => create_is_idempotent_;
    /// `create` on a VMID held by another guest is a non-retryable `Conflict`.
    create_on_a_taken_vmid_is_conflict => create_on_a_taken_vmid_is_conflict_;
    /// `start` of a running guest and `stop` of a stopped one are `Ok`.
    start_and_stop_are_idempotent => start_and_stop_are_idempotent_;
    /// Both stop modes leave a running guest stopped.
    stop_modes_stop_the_guest => stop_modes_stop_the_guest_;
    /// `destroy` removes a guest (a running one too); `destroy` of an absent guest is `Ok`.
    destroy_is_idempotent => destroy_is_idempotent_;
    /// `status` and `addresses` of an absent guest are `NotFound`.
    absent_guest_is_not_found => absent_guest_is_not_found_;
    /// A running guest reports its addresses (within the fixture's deadline).
    running_guest_has_addresses => running_guest_has_addresses_;
    /// `list` returns every guest, managed or not, with its tags.
    list_shows_every_guest_with_tags => list_shows_every_guest_with_tags_;
    /// A VM cloned from the fixture's template is a stopped VM (skipped without a template).
    clone_vm_from_template => clone_vm_from_template_;
    /// A VM spec with env or a data volume is `InvalidInput` and creates nothing (skipped
    /// without a template).
    vm_refuses_env_and_volumes => vm_refuses_env_and_volumes_;
    /// An LXC guest created with a data volume reports it through `status` (size and mount
    /// path); one created without reports none.
    data_volume_is_created_with_the_guest => data_volume_is_created_with_the_guest_;
    /// `move_data_volume` moves the volume to the other guest, a repeat is `Ok`, a running
    /// guest is `Conflict`, and destroying the guest that gave it away leaves it to the other.
    data_volume_moves_between_guests => data_volume_moves_between_guests_;
}

async fn nodes_report_capacity_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    _: &mut Made<'_>,
) -> CheckResult {
    let nodes = p.nodes().await.or_fail(c, "listing nodes")?;
    ensure!(
        c,
        nodes.iter().any(|n| n.name == fx.node),
        "node {} is not among {:?}",
        fx.node,
        nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>()
    );
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    ensure_eq!(c, names.len(), nodes.len(), "distinct node names");
    for n in &nodes {
        ensure!(
            c,
            n.capacity.memory_mb > 0 && n.capacity.cpu > 0,
            "node {} reports no capacity: {:?}",
            n.name,
            n.capacity
        );
    }
    Ok(())
}

async fn create_is_idempotent_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let vmid = free_vmids(p, fx, c, 1).await?[0];
    let app = AppId::new();
    let spec = fx.spec(c, vmid, app)?;
    let g = made.create(c, &spec).await?;
    ensure_eq!(
        c,
        g,
        GuestRef {
            node: fx.node.clone(),
            vmid,
            kind: GuestKind::Lxc
        },
        "created guest"
    );
    let guest = p.status(&g).await.or_fail(c, "status of the new guest")?;
    ensure_eq!(c, guest.state, GuestState::Stopped, "state of a new guest");
    ensure!(
        c,
        guest.is_managed(),
        "a created guest lacks {MANAGED_TAG}: {:?}",
        guest.tags
    );
    ensure!(
        c,
        guest.tags.contains(&app_tag(app)),
        "a created guest lost its app tag: {:?}",
        guest.tags
    );
    ensure_eq!(c, guest.name, spec.hostname.as_str(), "guest name");
    let again = made.create(c, &spec).await?;
    ensure_eq!(c, again, g, "creating the same guest again");
    let count = p
        .list()
        .await
        .or_fail(c, "listing")?
        .iter()
        .filter(|x| x.guest.vmid == vmid)
        .count();
    ensure_eq!(
        c,
        count,
        1,
        "guests with VMID {vmid} after a repeated create"
    );
    Ok(())
}

async fn create_on_a_taken_vmid_is_conflict_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let vmid = free_vmids(p, fx, c, 1).await?[0];
    let mine = AppId::new();
    let g = made.create(c, &fx.spec(c, vmid, mine)?).await?;
    let other = fx.spec(c, vmid, AppId::new())?;
    let err = expect_err(
        c,
        "creating another app's guest on a taken VMID",
        p.create(&other).await,
        ErrorKind::Conflict,
    )?;
    ensure!(
        c,
        !err.is_retryable(),
        "a taken VMID is reported retryable: {err}"
    );
    let guest = p.status(&g).await.or_fail(c, "status of the first guest")?;
    ensure!(
        c,
        guest.tags.contains(&app_tag(mine)),
        "the conflicting create changed the guest: {:?}",
        guest.tags
    );
    Ok(())
}

async fn start_and_stop_are_idempotent_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let vmid = free_vmids(p, fx, c, 1).await?[0];
    let g = made.create(c, &fx.spec(c, vmid, AppId::new())?).await?;
    p.stop(&g, StopMode::Force)
        .await
        .or_fail(c, "stopping a stopped guest")?;
    p.start(&g).await.or_fail(c, "starting")?;
    ensure_eq!(
        c,
        state(p, c, &g).await?,
        GuestState::Running,
        "state after start"
    );
    p.start(&g).await.or_fail(c, "starting a running guest")?;
    ensure_eq!(
        c,
        state(p, c, &g).await?,
        GuestState::Running,
        "state after a second start"
    );
    p.stop(&g, StopMode::Force).await.or_fail(c, "stopping")?;
    ensure_eq!(
        c,
        state(p, c, &g).await?,
        GuestState::Stopped,
        "state after stop"
    );
    p.stop(&g, StopMode::Force)
        .await
        .or_fail(c, "stopping a stopped guest")?;
    ensure_eq!(
        c,
        state(p, c, &g).await?,
        GuestState::Stopped,
        "state after a second stop"
    );
    Ok(())
}

async fn stop_modes_stop_the_guest_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let vmid = free_vmids(p, fx, c, 1).await?[0];
    let g = made.create(c, &fx.spec(c, vmid, AppId::new())?).await?;
    let modes = [
        StopMode::Graceful {
            timeout: Duration::from_secs(10),
        },
        StopMode::Force,
    ];
    for mode in modes {
        p.start(&g).await.or_fail(c, "starting")?;
        p.stop(&g, mode)
            .await
            .or_fail(c, format!("stopping with {mode:?}"))?;
        ensure_eq!(
            c,
            state(p, c, &g).await?,
            GuestState::Stopped,
            "state after stop with {mode:?}"
        );
    }
    Ok(())
}

async fn destroy_is_idempotent_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let ids = free_vmids(p, fx, c, 3).await?;
    let stopped = made.create(c, &fx.spec(c, ids[0], AppId::new())?).await?;
    let running = made.create(c, &fx.spec(c, ids[1], AppId::new())?).await?;
    p.start(&running).await.or_fail(c, "starting")?;
    for g in [&stopped, &running] {
        p.destroy(g)
            .await
            .or_fail(c, format!("destroying guest {}", g.vmid))?;
        expect_err(
            c,
            "status of a destroyed guest",
            p.status(g).await,
            ErrorKind::NotFound,
        )?;
        p.destroy(g)
            .await
            .or_fail(c, "destroying a destroyed guest")?;
    }
    let listed = p.list().await.or_fail(c, "listing")?;
    ensure!(
        c,
        !listed
            .iter()
            .any(|x| x.guest.vmid == ids[0] || x.guest.vmid == ids[1]),
        "destroyed guests are still listed"
    );
    let never = GuestRef {
        node: fx.node.clone(),
        vmid: ids[2],
        kind: GuestKind::Lxc,
    };
    p.destroy(&never)
        .await
        .or_fail(c, "destroying a guest that never existed")?;
    Ok(())
}

async fn absent_guest_is_not_found_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    _: &mut Made<'_>,
) -> CheckResult {
    let vmid = free_vmids(p, fx, c, 1).await?[0];
    let absent = GuestRef {
        node: fx.node.clone(),
        vmid,
        kind: GuestKind::Lxc,
    };
    expect_err(
        c,
        "status of an absent guest",
        p.status(&absent).await,
        ErrorKind::NotFound,
    )?;
    expect_err(
        c,
        "addresses of an absent guest",
        p.addresses(&absent).await,
        ErrorKind::NotFound,
    )?;
    Ok(())
}

async fn running_guest_has_addresses_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let vmid = free_vmids(p, fx, c, 1).await?[0];
    let g = made.create(c, &fx.spec(c, vmid, AppId::new())?).await?;
    p.start(&g).await.or_fail(c, "starting")?;
    let started = Instant::now();
    loop {
        let found = p
            .addresses(&g)
            .await
            .or_fail(c, "addresses of a running guest")?;
        if !found.is_empty() || !fx.expect_addresses {
            ensure!(
                c,
                found.iter().all(|ip| !ip.is_unspecified()),
                "unspecified address among {found:?}"
            );
            return Ok(());
        }
        ensure!(
            c,
            started.elapsed() < fx.deadline,
            "a running guest had no address within {:?}",
            fx.deadline
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn list_shows_every_guest_with_tags_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let vmid = free_vmids(p, fx, c, 1).await?[0];
    let app = AppId::new();
    let mut spec = fx.spec(c, vmid, app)?;
    spec.tags.push("suite-extra".into());
    made.create(c, &spec).await?;
    let listed = p.list().await.or_fail(c, "listing")?;
    let Some(ours) = listed.iter().find(|g| g.guest.vmid == vmid) else {
        return Err(Failure::new(
            c,
            format!("created guest {vmid} is not listed"),
        ));
    };
    ensure!(
        c,
        ours.is_managed(),
        "listed guest lacks {MANAGED_TAG}: {:?}",
        ours.tags
    );
    ensure!(
        c,
        ours.tags.contains(&app_tag(app)) && ours.tags.iter().any(|t| t == "suite-extra"),
        "listed guest lost tags: {:?}",
        ours.tags
    );
    if let Some(other) = fx.unmanaged_guest {
        let Some(theirs) = listed.iter().find(|g| g.guest.vmid == other) else {
            return Err(Failure::new(
                c,
                format!("unmanaged guest {other} is not listed"),
            ));
        };
        ensure!(
            c,
            !theirs.is_managed(),
            "unmanaged guest {other} is reported managed: {:?}",
            theirs.tags
        );
    }
    Ok(())
}

async fn clone_vm_from_template_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let Some(template) = fx.vm_template else {
        return Ok(());
    };
    let vmid = free_vmids(p, fx, c, 1).await?[0];
    let mut spec = fx.spec(c, vmid, AppId::new())?;
    spec.source = GuestSource::CloneVm { template };
    let g = made.create(c, &spec).await?;
    ensure_eq!(c, g.kind, GuestKind::Vm, "kind of a cloned guest");
    let guest = p.status(&g).await.or_fail(c, "status of the clone")?;
    ensure_eq!(c, guest.state, GuestState::Stopped, "state of a new clone");
    ensure!(
        c,
        guest.is_managed() && !guest.template,
        "clone is unmanaged or a template: {guest:?}"
    );
    Ok(())
}

async fn vm_refuses_env_and_volumes_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let Some(template) = fx.vm_template else {
        return Ok(());
    };
    let vmid = free_vmids(p, fx, c, 1).await?[0];
    let mut with_env = fx.spec(c, vmid, AppId::new())?;
    with_env.source = GuestSource::CloneVm { template };
    with_env.env.insert(
        "TOKEN".parse().or_fail(c, "an env key")?,
        Secret::new("s3cret"),
    );
    let mut with_volume = with_env.clone();
    with_volume.env.clear();
    with_volume.data_volume = Some(suite_volume(c)?);
    for (what, spec) in [("env", &with_env), ("a data volume", &with_volume)] {
        let result = p.create(spec).await;
        if let Ok(g) = &result {
            made.guests.push(g.clone());
        }
        expect_err(
            c,
            format!("creating a VM with {what}"),
            result,
            ErrorKind::InvalidInput,
        )?;
    }
    let listed = p.list().await.or_fail(c, "listing")?;
    ensure!(
        c,
        !listed.iter().any(|g| g.guest.vmid == vmid),
        "a refused VM create left guest {vmid} behind"
    );
    Ok(())
}

fn suite_volume(c: &'static str) -> Result<DataVolume, Failure> {
    Ok(DataVolume {
        size_gb: 1,
        mount_path: "/srv/data".parse().or_fail(c, "a mount path")?,
    })
}

async fn data_volume_is_created_with_the_guest_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let ids = free_vmids(p, fx, c, 2).await?;
    let mut spec = fx.spec(c, ids[0], AppId::new())?;
    spec.data_volume = Some(suite_volume(c)?);
    let with = made.create(c, &spec).await?;
    let plain = made.create(c, &fx.spec(c, ids[1], AppId::new())?).await?;
    let guest = p.status(&with).await.or_fail(c, "status of the guest")?;
    let Some(volume) = guest.data_volume else {
        return Err(Failure::new(
            c,
            format!(
                "guest {} was created with a data volume but reports none",
                with.vmid
            ),
        ));
    };
    ensure_eq!(c, volume.size_gb, 1, "data volume size");
    ensure_eq!(
        c,
        volume.mount_path.as_str(),
        "/srv/data",
        "data volume mount path"
    );
    ensure!(c, !volume.volume.is_empty(), "the data volume has no id");
    let guest = p
        .status(&plain)
        .await
        .or_fail(c, "status of the plain guest")?;
    ensure_eq!(
        c,
        guest.data_volume,
        None,
        "data volume of a guest created without"
    );
    Ok(())
}

async fn data_volume_moves_between_guests_(
    c: &'static str,
    p: &dyn Provisioner,
    fx: &ProvisionerFixture,
    made: &mut Made<'_>,
) -> CheckResult {
    let ids = free_vmids(p, fx, c, 2).await?;
    let app = AppId::new();
    let mut spec = fx.spec(c, ids[0], app)?;
    spec.data_volume = Some(suite_volume(c)?);
    let old = made.create(c, &spec).await?;
    let new = made.create(c, &fx.spec(c, ids[1], app)?).await?;
    p.start(&new)
        .await
        .or_fail(c, "starting the receiving guest")?;
    expect_err(
        c,
        "moving a data volume to a running guest",
        p.move_data_volume(&old, &new).await,
        ErrorKind::Conflict,
    )?;
    p.stop(&new, StopMode::Force)
        .await
        .or_fail(c, "stopping the receiving guest")?;
    p.move_data_volume(&old, &new)
        .await
        .or_fail(c, "moving the data volume")?;
    let moved = p
        .status(&new)
        .await
        .or_fail(c, "status of the receiving guest")?;
    ensure!(
        c,
        moved
            .data_volume
            .as_ref()
            .is_some_and(|v| v.mount_path.as_str() == "/srv/data" && v.size_gb == 1),
        "the receiving guest does not hold the volume at /srv/data: {:?}",
        moved.data_volume
    );
    let gave = p
        .status(&old)
        .await
        .or_fail(c, "status of the giving guest")?;
    ensure_eq!(
        c,
        gave.data_volume,
        None,
        "data volume left on the giving guest"
    );
    p.move_data_volume(&old, &new)
        .await
        .or_fail(c, "repeating the move (a retried step)")?;
    p.destroy(&old)
        .await
        .or_fail(c, "destroying the giving guest")?;
    let kept = p
        .status(&new)
        .await
        .or_fail(c, "status after the destroy")?;
    ensure!(
        c,
        kept.data_volume.is_some(),
        "destroying the guest that gave the volume away destroyed it"
    );
    p.move_data_volume(&new, &old)
        .await
        .err()
        .ok_or_else(|| Failure::new(c, "moving to a destroyed guest succeeded"))?;
    Ok(())
}
