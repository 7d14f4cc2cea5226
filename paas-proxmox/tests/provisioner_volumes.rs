//! The Provisioner's data volumes on the simulator: created with the guest on the node's
//! container storage, reported by `status`, and moved between guests with `move_volume`.
//!
//! The promise these tests try to break: an app's data volume is never destroyed by a move or
//! a retried move, and always belongs to exactly one guest. The simulator's content ids (which
//! follow the data through a rename) are the witness: a recreated volume would get a new one.

mod client_support;

use client_support::*;
use paas_core::ErrorKind;
use paas_core::model::{AppId, Vmid};
use paas_core::ports::{DataVolume, GuestKind, GuestRef, Provisioner, StopMode, app_tag};
use paas_proxmox::client::WaitOptions;
use paas_proxmox::client::disks::MoveVolume;
use paas_proxmox::provisioner::{ProvisionerOptions, ProxmoxProvisioner, RetryPolicy};
use paas_proxmox::sim::{Faults, PveSim};
use std::sync::Arc;
use std::time::Duration;

fn prov(sim: &PveSim) -> ProxmoxProvisioner {
    ProxmoxProvisioner::new(http_client(sim))
}

fn volume() -> DataVolume {
    DataVolume {
        size_gb: 2,
        mount_path: "/srv/data".parse().unwrap(),
    }
}

/// An old guest of `app` holding the data volume and `n` new ones without, stopped, on pve1.
async fn guests(p: &ProxmoxProvisioner, first: u32, n: u32) -> (GuestRef, Vec<GuestRef>) {
    let app = AppId::new();
    let mut spec = lxc_spec(first, "pve1", vec![app_tag(app)]);
    spec.data_volume = Some(volume());
    let old = p.create(&spec).await.unwrap();
    let mut new = Vec::new();
    for i in 1..=n {
        new.push(
            p.create(&lxc_spec(first + i, "pve1", vec![app_tag(app)]))
                .await
                .unwrap(),
        );
    }
    (old, new)
}

/// The content id of the data volume of `g` (the simulator's witness).
fn content_of(sim: &PveSim, g: &GuestRef) -> u64 {
    let v = sim.volumes(g.vmid.get());
    v.iter()
        .find(|v| v.key == "mp0")
        .unwrap_or_else(|| panic!("guest {} holds no mp0: {v:?}", g.vmid))
        .content_id
}

/// Asserts that exactly one guest holds the data `content`, and that it is `holder`.
fn held_by(sim: &PveSim, content: u64, holder: &GuestRef) {
    let holders = sim.volumes_with_content(content);
    assert_eq!(holders.len(), 1, "the data volume is on {holders:?}");
    assert_eq!(holders[0].vmid, holder.vmid.get(), "{holders:?}");
    assert_eq!(holders[0].key, "mp0");
    assert_eq!(holders[0].size, 2 << 30, "{holders:?}");
}

#[tokio::test]
async fn the_data_volume_moves_back_and_forth_and_stays_the_same_volume() {
    let sim = sim().await;
    let p = prov(&sim);
    let (old, new) = guests(&p, 300, 1).await;
    let new = &new[0];
    let s = p.status(&old).await.unwrap();
    let v = s.data_volume.expect("status reports the data volume");
    assert_eq!(
        (v.volume.as_str(), v.size_gb, v.mount_path.as_str()),
        ("local-lvm:vm-300-disk-1", 2, "/srv/data")
    );
    // backup=1: vzdump backs up mount points only with it.
    assert!(sim.guest_config(300).unwrap()["mp0"].contains("backup=1"));
    let data = content_of(&sim, &old);
    // list() is one call for the cluster and does not carry volumes.
    assert!(
        p.list()
            .await
            .unwrap()
            .iter()
            .all(|g| g.data_volume.is_none())
    );

    p.move_data_volume(&old, new).await.unwrap();
    held_by(&sim, data, new);
    let v = p.status(new).await.unwrap().data_volume.unwrap();
    assert_eq!(
        v.volume, "local-lvm:vm-301-disk-1",
        "renamed to its new owner"
    );
    assert_eq!(p.status(&old).await.unwrap().data_volume, None);
    // A retried move is Ok and changes nothing.
    p.move_data_volume(&old, new).await.unwrap();
    held_by(&sim, data, new);
    // And back (an undo), twice.
    p.move_data_volume(new, &old).await.unwrap();
    p.move_data_volume(new, &old).await.unwrap();
    held_by(&sim, data, &old);
    // Destroying the guest that gave it away leaves it; destroying the holder frees it.
    p.destroy(new).await.unwrap();
    held_by(&sim, data, &old);
    p.destroy(&old).await.unwrap();
    assert!(sim.volumes_with_content(data).is_empty());
}

#[tokio::test]
async fn moves_refuse_what_would_break_the_volume_or_the_guests() {
    let sim = sim().await;
    let p = prov(&sim);
    let (old, new) = guests(&p, 300, 2).await;
    let data = content_of(&sim, &old);
    // A running target (PVE would hot-plug it) or source: Conflict, nothing moved.
    for running in [&new[0], &old] {
        p.start(running).await.unwrap();
        let e = p.move_data_volume(&old, &new[0]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e:?}");
        assert!(!e.is_retryable(), "stop first, then retry: {e:?}");
        held_by(&sim, data, &old);
        p.stop(running, StopMode::Force).await.unwrap();
    }
    // A locked guest: retryable.
    sim.set_guest_lock(301, Some("backup")).unwrap();
    let e = p.move_data_volume(&old, &new[0]).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Conflict, true),
        "{e:?}"
    );
    sim.set_guest_lock(301, None).unwrap();
    // Both hold one: Conflict; neither: NotFound.
    let mut other = lxc_spec(310, "pve1", vec![app_tag(AppId::new())]);
    other.data_volume = Some(volume());
    let other = p.create(&other).await.unwrap();
    let e = p.move_data_volume(&old, &other).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e:?}");
    let e = p.move_data_volume(&new[0], &new[1]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    // Not two containers of one node: refused before any call.
    let vm = GuestRef {
        kind: GuestKind::Vm,
        ..new[0].clone()
    };
    let e = p.move_data_volume(&old, &vm).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    let elsewhere = GuestRef {
        node: "pve2".parse().unwrap(),
        ..new[0].clone()
    };
    let e = p.move_data_volume(&old, &elsewhere).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    assert!(e.message().contains("one node"), "{e}");
    let e = p.move_data_volume(&old, &old).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    // An absent guest.
    let ghost = GuestRef {
        vmid: Vmid::new(399).unwrap(),
        ..new[0].clone()
    };
    let e = p.move_data_volume(&old, &ghost).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    held_by(&sim, data, &old);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_moves_leave_the_volume_on_exactly_one_guest() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(30))
        .start()
        .await
        .unwrap();
    let p = Arc::new(prov(&sim));
    let (old, new) = guests(&p, 300, 2).await;
    let data = content_of(&sim, &old);
    // The same move twice at once (a step and its retry): both Ok.
    let (a, b) = tokio::join!(
        p.move_data_volume(&old, &new[0]),
        p.move_data_volume(&old, &new[0])
    );
    a.unwrap();
    b.unwrap();
    held_by(&sim, data, &new[0]);
    // Two moves of one volume to two guests at once: one wins, the other is refused, and the
    // volume is on exactly one guest.
    let (a, b) = tokio::join!(
        p.move_data_volume(&new[0], &old),
        p.move_data_volume(&new[0], &new[1])
    );
    let holders = sim.volumes_with_content(data);
    assert_eq!(holders.len(), 1, "{holders:?}");
    let winner = holders[0].vmid;
    assert!(
        winner == old.vmid.get() || winner == new[1].vmid.get(),
        "{holders:?}"
    );
    for (res, target) in [(a, &old), (b, &new[1])] {
        match res {
            Ok(()) => assert_eq!(target.vmid.get(), winner, "an Ok move to a non-holder"),
            Err(e) => assert_ne!(target.vmid.get(), winner, "{e:?}"),
        }
    }
}

#[tokio::test]
async fn a_failed_move_leaves_the_volume_where_it_was() {
    let sim = sim().await;
    let p = ProxmoxProvisioner::with_options(
        http_client(&sim),
        ProvisionerOptions {
            retry: RetryPolicy::none(),
            ..ProvisionerOptions::default()
        },
    );
    let (old, new) = guests(&p, 300, 1).await;
    let data = content_of(&sim, &old);
    sim.set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::default()
    });
    let e = p.move_data_volume(&old, &new[0]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e:?}");
    assert!(e.message().contains("lvrename"), "{e}");
    held_by(&sim, data, &old);
    assert!(p.status(&old).await.unwrap().data_volume.is_some());
    sim.set_faults(Faults::default());
    p.move_data_volume(&old, &new[0]).await.unwrap();
    held_by(&sim, data, &new[0]);
}

#[tokio::test]
async fn moves_ride_out_transient_faults() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .seed(11)
        .start()
        .await
        .unwrap();
    let p = prov(&sim);
    let (old, new) = guests(&p, 300, 1).await;
    let data = content_of(&sim, &old);
    // A 596 before the move, or a lock timeout in its task: each attempt fails with p = 0.36,
    // so the adapter's 8 attempts all fail once in ~3,500 moves.
    sim.set_faults(Faults {
        timeout_rate: 0.2,
        lock_timeout_rate: 0.2,
        ..Faults::default()
    });
    for round in 0..6 {
        let (from, to) = if round % 2 == 0 {
            (&old, &new[0])
        } else {
            (&new[0], &old)
        };
        p.move_data_volume(from, to)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        sim.set_faults(Faults::default());
        held_by(&sim, data, to);
        sim.set_faults(Faults {
            timeout_rate: 0.2,
            lock_timeout_rate: 0.2,
            ..Faults::default()
        });
    }
}

#[tokio::test]
async fn a_move_whose_answer_was_lost_is_ok_when_retried() {
    let sim = sim().await;
    let p = prov(&sim);
    let (old, new) = guests(&p, 300, 1).await;
    let data = content_of(&sim, &old);
    // The first attempt went through, but its caller never heard (a crash, a lost reply).
    let c = http_client(&sim);
    let upid = c
        .move_volume(
            "pve1",
            300,
            &MoveVolume {
                volume: "mp0".into(),
                target_vmid: Some(301),
                ..MoveVolume::default()
            },
        )
        .await
        .unwrap();
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    p.move_data_volume(&old, &new[0]).await.unwrap();
    held_by(&sim, data, &new[0]);
}

#[tokio::test]
async fn container_disks_go_to_the_node_container_storage() {
    let sim = sim().await;
    // Discovered: the storage with `rootdir` content (local-lvm on a stock install).
    let p = prov(&sim);
    let mut spec = lxc_spec(300, "pve1", vec![app_tag(AppId::new())]);
    spec.data_volume = Some(volume());
    spec.disk_gb = 3;
    p.create(&spec).await.unwrap();
    let cfg = sim.guest_config(300).unwrap();
    assert_eq!(cfg["rootfs"], "local-lvm:vm-300-disk-0,size=3G");
    assert_eq!(
        cfg["mp0"],
        "local-lvm:vm-300-disk-1,mp=/srv/data,backup=1,size=2G"
    );
    // Configured: used as it is; `local` refuses container disks, and nothing is created.
    let p = ProxmoxProvisioner::with_options(
        http_client(&sim),
        ProvisionerOptions {
            rootfs_storage: Some("local".into()),
            ..ProvisionerOptions::default()
        },
    );
    let e = p
        .create(&lxc_spec(301, "pve1", vec![app_tag(AppId::new())]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    assert!(
        e.message()
            .contains("storage 'local' does not support container directories"),
        "{e}"
    );
    assert!(sim.guest(301).is_none());
    // A data volume of 0 GiB is refused before any call.
    let mut spec = lxc_spec(302, "pve1", vec![app_tag(AppId::new())]);
    spec.data_volume = Some(DataVolume {
        size_gb: 0,
        ..volume()
    });
    let e = prov(&sim).create(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    assert!(sim.guest(302).is_none());
}
