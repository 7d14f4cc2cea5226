//! Concurrent creates racing for VMIDs: `/cluster/nextid` reserves nothing, so 50 clients asking
//! at once all get the same id. Every create must still end with its own guest, no error.

mod client_support;

use client_support::*;
use paas_core::memory::MemoryIdAllocator;
use paas_core::model::AppId;
use paas_core::ports::{GuestRef, IdAllocator, POOL_VMID, Pools, Provisioner, app_tag};
use paas_proxmox::provisioner::ProxmoxProvisioner;
use paas_proxmox::sim::{Faults, PveSim};
use paas_proxmox::vmid::{cluster_vmids, create_with_allocator, create_with_nextid};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const N: usize = 50;

async fn sim_with(faults: Faults) -> PveSim {
    PveSim::builder()
        .nodes(3)
        .seed(2024)
        .task_duration(Duration::from_millis(20))
        .faults(faults)
        .start()
        .await
        .unwrap()
}

/// Runs `N` concurrent nextid creates and checks the outcome.
async fn fifty_nextid_creates(sim: &PveSim) {
    let p = Arc::new(ProxmoxProvisioner::new(http_client(sim)));
    let before = cluster_vmids(p.client()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..N {
        let p = p.clone();
        let node = format!("pve{}", i % 3 + 1);
        tasks.push(tokio::spawn(async move {
            let spec = lxc_spec(100, &node, vec![app_tag(AppId::new())]);
            create_with_nextid(&p, spec).await
        }));
    }
    let mut made: Vec<GuestRef> = Vec::new();
    for t in tasks {
        made.push(t.await.unwrap().expect("a create surfaced an error"));
    }
    let vmids: BTreeSet<u32> = made.iter().map(|g| g.vmid.get()).collect();
    assert_eq!(vmids.len(), N, "VMIDs are not distinct: {made:?}");
    assert!(
        vmids.iter().all(|v| !before.contains(&u64::from(*v))),
        "a create reused a taken VMID"
    );
    sim.set_faults(Faults::default());
    let managed: Vec<_> = p
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.is_managed())
        .collect();
    assert_eq!(managed.len(), N, "guests on the cluster: {managed:?}");
    for g in &managed {
        assert!(vmids.contains(&g.guest.vmid.get()));
        assert!(g.lock.is_none(), "{g:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creates_with_nextid() {
    let sim = sim_with(Faults::default()).await;
    fifty_nextid_creates(&sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creates_with_20_percent_transient_faults() {
    // 10% of calls answer 596, and 10% of mutating guest calls meet a lock timeout.
    let sim = sim_with(Faults {
        timeout_rate: 0.10,
        lock_timeout_rate: 0.10,
        ..Faults::default()
    })
    .await;
    fifty_nextid_creates(&sim).await;
}

#[tokio::test]
async fn a_retried_nextid_create_finds_its_guest() {
    let sim = sim_with(Faults::default()).await;
    let p = ProxmoxProvisioner::new(http_client(&sim));
    let spec = lxc_spec(100, "pve1", vec![app_tag(AppId::new())]);
    let a = create_with_nextid(&p, spec.clone()).await.unwrap();
    let b = create_with_nextid(&p, spec).await.unwrap();
    assert_eq!(a, b);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_platforms_with_separate_allocators_race_and_both_win() {
    // Two allocators that do not share a store hand out the same VMIDs: the creates collide on
    // the cluster and the losers retry with new ids, releasing the lost ones.
    let sim = sim_with(Faults {
        timeout_rate: 0.05,
        lock_timeout_rate: 0.05,
        ..Faults::default()
    })
    .await;
    let p = Arc::new(ProxmoxProvisioner::new(http_client(&sim)));
    let pools = Pools::default().with(POOL_VMID, 100, 100_000).unwrap();
    let allocators = [
        Arc::new(MemoryIdAllocator::new(pools.clone())),
        Arc::new(MemoryIdAllocator::new(pools)),
    ];
    let mut tasks = Vec::new();
    for i in 0..20 {
        let p = p.clone();
        let alloc = allocators[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let spec = lxc_spec(100, "pve1", vec![app_tag(AppId::new())]);
            let owner = format!("deploy-{i}");
            let g = create_with_allocator(&p, &*alloc, &owner, spec).await?;
            Ok::<_, paas_core::Error>((i, owner, g))
        }));
    }
    let mut vmids = BTreeSet::new();
    for t in tasks {
        let (i, owner, g) = t.await.unwrap().expect("a create surfaced an error");
        assert!(vmids.insert(g.vmid.get()), "duplicate VMID {}", g.vmid);
        // The owner holds exactly the VMID it got: lost ones were released.
        let held = allocators[i % 2].owned_by(&owner).await.unwrap();
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0].value, u64::from(g.vmid.get()));
    }
    for a in &allocators {
        assert_eq!(a.usage(POOL_VMID).await.unwrap().used, 10);
    }
    sim.set_faults(Faults::default());
    assert_eq!(
        p.list()
            .await
            .unwrap()
            .iter()
            .filter(|g| g.is_managed())
            .count(),
        20
    );
}

#[tokio::test]
async fn the_allocator_avoids_every_vmid_the_cluster_uses() {
    let sim = sim_with(Faults::default()).await;
    let p = ProxmoxProvisioner::new(http_client(&sim));
    // Someone else's guests at 100 and 101, and the template at 9000.
    for vmid in [100, 101] {
        sim.add_unmanaged_guest(paas_proxmox::sim::NewGuest::new(
            vmid,
            "pve2",
            paas_proxmox::sim::GuestKind::Lxc,
        ))
        .unwrap();
    }
    let ids = cluster_vmids(p.client()).await.unwrap();
    assert!(
        ids.contains(&100) && ids.contains(&101) && ids.contains(&u64::from(TEMPLATE_VM)),
        "{ids:?}"
    );
    let alloc = MemoryIdAllocator::new(Pools::default());
    let spec = lxc_spec(100, "pve1", vec![app_tag(AppId::new())]);
    let g = create_with_allocator(&p, &alloc, "o", spec.clone())
        .await
        .unwrap();
    assert_eq!(g.vmid.get(), 102);
    // Idempotent per owner: a retried call gets the same VMID and finds its own guest.
    let again = create_with_allocator(&p, &alloc, "o", spec).await.unwrap();
    assert_eq!(again, g);
    assert_eq!(
        p.list()
            .await
            .unwrap()
            .iter()
            .filter(|x| x.is_managed())
            .count(),
        1
    );
}

/// PVE 9.x clones take the template's lock shared (qemu-server API2/Qemu.pm:4638
/// `return PVE::QemuConfig->lock_config_shared($vmid, 1, $lock_target_vm);`), so 20 clones of
/// one stopped template at once all succeed, with no lock failure reaching the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_clones_of_one_stopped_template_all_succeed() {
    let sim = sim_with(Faults::default()).await;
    let p = Arc::new(ProxmoxProvisioner::with_options(
        http_client(&sim),
        paas_proxmox::ProvisionerOptions {
            // No adapter retries: a lock failure would surface.
            retry: paas_proxmox::RetryPolicy::none(),
            ..paas_proxmox::ProvisionerOptions::default()
        },
    ));
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let mut spec = vm_spec(700 + i, "pve1", vec![app_tag(AppId::new())]);
            spec.disk_gb = 10;
            p.create(&spec).await
        }));
    }
    let mut made = BTreeSet::new();
    for t in tasks {
        let g = t.await.unwrap().expect("a clone surfaced an error");
        made.insert(g.vmid.get());
    }
    assert_eq!(made.len(), 20);
    let vms: Vec<_> = p
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.is_managed())
        .collect();
    assert_eq!(vms.len(), 20, "{vms:?}");
    assert!(vms.iter().all(|g| g.lock.is_none() && !g.template));
    let template = sim.guest(TEMPLATE_VM).unwrap();
    assert!(template.lock.is_none() && template.template);
}
