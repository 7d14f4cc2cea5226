//! VM clones through the Provisioner: grown to the spec's disk, never orphaned, and never a
//! burned VMID for a lock.
//!
//! The promises these tests try to break: a clone is never orphaned (every failure after it
//! leaves either nothing or a guest recognisable as ours), and only "VMID held by another
//! guest" burns a VMID; a lock never does.

mod client_support;

use client_support::*;
use paas_core::ErrorKind;
use paas_core::memory::MemoryIdAllocator;
use paas_core::model::AppId;
use paas_core::ports::{IdAllocator, POOL_VMID, Pools, Provisioner, app_tag};
use paas_proxmox::provisioner::ProxmoxProvisioner;
use paas_proxmox::sim::{Faults, PveSim};
use paas_proxmox::vmid::create_with_allocator;
use std::time::Duration;

fn prov(sim: &PveSim) -> ProxmoxProvisioner {
    ProxmoxProvisioner::new(http_client(sim))
}

fn scsi0_size(sim: &PveSim, vmid: u32) -> u64 {
    sim.volumes(vmid)
        .iter()
        .find(|v| v.key == "scsi0")
        .map(|v| v.size)
        .unwrap()
}

#[tokio::test]
async fn a_clone_is_grown_to_the_spec_disk_never_shrunk() {
    let sim = sim().await;
    let p = prov(&sim);
    let mut big = vm_spec(600, "pve1", vec![app_tag(AppId::new())]);
    big.disk_gb = 20;
    p.create(&big).await.unwrap();
    assert_eq!(scsi0_size(&sim, 600), 20 << 30);
    assert!(sim.guest_config(600).unwrap()["scsi0"].ends_with(",size=20G"));
    // The template's disk is 8 GB: a 4 GB spec leaves it.
    let small = vm_spec(601, "pve1", vec![app_tag(AppId::new())]);
    assert_eq!(small.disk_gb, 4);
    p.create(&small).await.unwrap();
    assert_eq!(scsi0_size(&sim, 601), 8 << 30);
    // A retried create (same spec) finds the clone, resizes nothing more, and is Ok.
    let g = p.create(&big).await.unwrap();
    assert_eq!(g.vmid.get(), 600);
    assert_eq!(scsi0_size(&sim, 600), 20 << 30);
}

/// Fails every call of `endpoints` with PVE's `cluster not ready - no quorum?`.
fn failing(endpoints: &[&str]) -> Faults {
    endpoints
        .iter()
        .fold(Faults::default(), |f, e| f.with_endpoint_error_rate(e, 1.0))
}

#[tokio::test]
async fn a_clone_whose_configuration_fails_leaves_nothing_behind() {
    let sim = sim().await;
    let p = prov(&sim);
    for (vmid, endpoint, disk_gb) in [
        (600, "PUT /nodes/{node}/qemu/{vmid}/config", 4),
        (601, "PUT /nodes/{node}/qemu/{vmid}/resize", 20),
    ] {
        sim.set_faults(failing(&[endpoint]));
        let mut spec = vm_spec(vmid, "pve1", vec![app_tag(AppId::new())]);
        spec.disk_gb = disk_gb;
        let e = p.create(&spec).await.unwrap_err();
        assert!(e.message().contains("no quorum"), "{endpoint}: {e}");
        assert!(e.is_retryable(), "{e:?}");
        sim.set_faults(Faults::default());
        assert!(
            sim.guest(vmid).is_none(),
            "{endpoint}: the clone was left behind"
        );
        assert!(
            !p.list()
                .await
                .unwrap()
                .iter()
                .any(|g| g.guest.vmid == spec.vmid),
            "the cluster still lists it"
        );
        // The caller's retry on the same VMID then succeeds.
        p.create(&spec).await.unwrap();
        assert!(
            p.status(&p.create(&spec).await.unwrap())
                .await
                .unwrap()
                .is_managed()
        );
    }
}

#[tokio::test]
async fn a_clone_that_cannot_be_configured_nor_destroyed_is_still_ours() {
    let sim = sim().await;
    let p = prov(&sim);
    let app = AppId::new();
    let spec = vm_spec(600, "pve1", vec![app_tag(app)]);
    sim.set_faults(failing(&[
        "PUT /nodes/{node}/qemu/{vmid}/config",
        "DELETE /nodes/{node}/qemu/{vmid}",
    ]));
    let e = p.create(&spec).await.unwrap_err();
    assert!(
        e.message().contains("destroying the unfinished clone"),
        "{e}"
    );
    sim.set_faults(Faults::default());
    // It is there, and status() reports the spec's tags from its description, so the caller's
    // cleanup (by the app's tag) finds it.
    let g = paas_core::ports::GuestRef {
        node: "pve1".parse().unwrap(),
        vmid: spec.vmid,
        kind: paas_core::ports::GuestKind::Vm,
    };
    let s = p.status(&g).await.unwrap();
    assert!(s.is_managed(), "{:?}", s.tags);
    assert_eq!(paas_core::ports::app_from_tags(&s.tags), Some(app));
    p.destroy(&g).await.unwrap();
    assert!(sim.guest(600).is_none());
}

#[tokio::test]
async fn a_locked_template_is_retryable_on_the_same_vmid() {
    let sim = sim().await;
    let p = prov(&sim);
    let spec = vm_spec(600, "pve1", vec![app_tag(AppId::new())]);
    // qemu-server API2/Qemu.pm:4374 `PVE::QemuConfig->check_lock($conf);` on the source.
    sim.set_guest_lock(TEMPLATE_VM, Some("backup")).unwrap();
    let e = p.create(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e:?}");
    assert!(e.is_retryable(), "a lock must not burn the VMID: {e:?}");
    assert!(e.message().contains("VM is locked (backup)"), "{e}");
    assert!(sim.guest(600).is_none());
    // Through an allocator: the error surfaces, the VMID stays leased to the same owner.
    let alloc = MemoryIdAllocator::new(Pools::default().with(POOL_VMID, 600, 700).unwrap());
    let e = create_with_allocator(&p, &alloc, "deploy-1", spec.clone())
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    let held = alloc.owned_by("deploy-1").await.unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    sim.set_guest_lock(TEMPLATE_VM, None).unwrap();
    let g = create_with_allocator(&p, &alloc, "deploy-1", spec)
        .await
        .unwrap();
    assert_eq!(u64::from(g.vmid.get()), held[0].value, "the same VMID");
    assert_eq!(alloc.usage(POOL_VMID).await.unwrap().used, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_retried_while_the_first_runs_finds_it() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(400))
        .start()
        .await
        .unwrap();
    let p = prov(&sim);
    let app = AppId::new();
    let spec = vm_spec(600, "pve1", vec![app_tag(app)]);
    let first = p.create(&spec);
    let second = async {
        // Wait until the first clone's worker has written only `lock: clone`.
        for _ in 0..200 {
            if sim.guest(600).and_then(|g| g.lock).as_deref() == Some("clone") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            sim.guest(600).and_then(|g| g.lock).as_deref(),
            Some("clone"),
            "the first clone did not start in time"
        );
        p.create(&spec).await
    };
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a.unwrap(), b.unwrap());
    let s = sim.guest(600).unwrap();
    assert!(s.lock.is_none());
    assert_eq!(paas_core::ports::app_from_tags(&s.tags), Some(app));
    assert_eq!(
        p.list()
            .await
            .unwrap()
            .iter()
            .filter(|g| g.is_managed())
            .count(),
        1
    );
}
