//! Proxmox-specific behaviour of the Provisioner beyond the conformance suite: clones get their
//! size and tags, a create retried while the first is still running finds it, addresses wait
//! for DHCP, transient faults stay inside the adapter.

mod client_support;

use client_support::*;
use paas_core::ErrorKind;
use paas_core::model::{AppId, NodeHealth, Vmid};
use paas_core::ports::{
    GuestKind, GuestRef, GuestSource, GuestState, MANAGED_TAG, Provisioner, StopMode, app_tag,
};
use paas_proxmox::provisioner::{ProvisionerOptions, ProxmoxProvisioner, RetryPolicy};
use paas_proxmox::sim::{Faults, NewGuest, PveSim};
use std::sync::Arc;
use std::time::Duration;

fn prov(sim: &PveSim) -> ProxmoxProvisioner {
    ProxmoxProvisioner::new(http_client(sim))
}

#[tokio::test]
async fn nodes_have_memory_cpu_and_disk() {
    let sim = sim().await;
    let p = prov(&sim);
    let nodes = p.nodes().await.unwrap();
    assert_eq!(nodes.len(), 3);
    for n in &nodes {
        assert_eq!(n.health, NodeHealth::Online);
        assert!(
            n.capacity.memory_mb >= 2048 && n.capacity.cpu > 0 && n.capacity.disk_gb > 0,
            "{n:?}"
        );
        assert!(n.free_memory_mb() <= n.capacity.memory_mb);
    }
    sim.set_node_online("pve3", false).unwrap();
    let nodes = p.nodes().await.unwrap();
    let n3 = nodes.iter().find(|n| n.name.as_str() == "pve3").unwrap();
    assert_eq!(n3.health, NodeHealth::Offline);
}

#[tokio::test]
async fn a_cloned_vm_gets_its_size_and_tags() {
    let sim = sim().await;
    let p = prov(&sim);
    let app = AppId::new();
    let mut spec = vm_spec(300, "pve1", vec![app_tag(app), "web".into()]);
    spec.cores = 2;
    spec.memory_mb = 2048;
    let g = p.create(&spec).await.unwrap();
    assert_eq!(
        g,
        GuestRef {
            node: "pve1".parse().unwrap(),
            vmid: Vmid::new(300).unwrap(),
            kind: GuestKind::Vm
        }
    );
    let s = p.status(&g).await.unwrap();
    assert_eq!(
        (s.cores, s.memory_mb, s.state),
        (2, 2048, GuestState::Stopped)
    );
    // PVE sorts tags; compare as sets.
    let mut tags = s.tags.clone();
    tags.sort();
    let mut want = vec![MANAGED_TAG.to_string(), app_tag(app), "web".into()];
    want.sort();
    assert_eq!(tags, want);
    assert_eq!(s.name, "vm300");
    // A clone onto another node: the template's disks are on local-lvm, which PVE refuses
    // (qemu-server API2/Qemu.pm:4398 `can't clone VM to node '$target' (VM uses local
    // storage)`; this test used to expect the clone on pve2, which FIDELITY.md defect 7 showed
    // to be wrong). A placement error, not worth a retry, and nothing is left behind.
    let e = p
        .create(&vm_spec(301, "pve2", vec![app_tag(AppId::new())]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    assert!(!e.is_retryable());
    assert!(
        e.message()
            .contains("can't clone VM to node 'pve2' (VM uses local storage)"),
        "{e}"
    );
    assert!(sim.guest(301).is_none());
    // Addresses: none while stopped, the agent's once running.
    assert!(p.addresses(&g).await.unwrap().is_empty());
    p.start(&g).await.unwrap();
    let mut ips = Vec::new();
    for _ in 0..200 {
        ips = p.addresses(&g).await.unwrap();
        if !ips.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !ips.is_empty() && ips.iter().all(|ip| !ip.is_loopback()),
        "{ips:?}"
    );
    p.stop(
        &g,
        StopMode::Graceful {
            timeout: Duration::from_secs(5),
        },
    )
    .await
    .unwrap();
    p.start(&g).await.unwrap();
    p.destroy(&g).await.unwrap();
    assert_eq!(p.status(&g).await.unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn cloning_a_missing_template_is_not_found() {
    let sim = sim().await;
    let p = prov(&sim);
    let mut spec = vm_spec(310, "pve1", vec![]);
    spec.source = GuestSource::CloneVm {
        template: Vmid::new(9999).unwrap(),
    };
    let e = p.create(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    assert!(e.message().contains("9999"));
}

#[tokio::test]
async fn a_create_retried_while_the_first_still_runs_finds_it() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let p = Arc::new(prov(&sim));
    for spec in [
        lxc_spec(320, "pve1", vec![app_tag(AppId::new())]),
        vm_spec(321, "pve1", vec![app_tag(AppId::new())]),
    ] {
        let first = {
            let p = p.clone();
            let spec = spec.clone();
            tokio::spawn(async move { p.create(&spec).await })
        };
        tokio::time::sleep(Duration::from_millis(80)).await;
        let second = p.create(&spec).await.unwrap();
        let first = first.await.unwrap().unwrap();
        assert_eq!(first, second);
        let s = p.status(&first).await.unwrap();
        assert_eq!(s.lock, None);
        assert!(
            s.tags.contains(&app_tag(
                paas_core::ports::app_from_tags(&spec.tags).unwrap()
            )),
            "{s:?}"
        );
    }
}

#[tokio::test]
async fn a_create_on_someone_elses_vmid_is_conflict() {
    let sim = sim().await;
    let p = prov(&sim);
    sim.add_unmanaged_guest(NewGuest::new(
        330,
        "pve2",
        paas_proxmox::sim::GuestKind::Lxc,
    ))
    .unwrap();
    let e = p
        .create(&lxc_spec(330, "pve1", vec![app_tag(AppId::new())]))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Conflict, false),
        "{e:?}"
    );
    assert!(e.message().contains("allocate another VMID"), "{e:?}");
    // Without an app tag, a guest that carries other tags is not ours either.
    let e = p
        .create(&lxc_spec(330, "pve1", vec!["x".into()]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn lxc_addresses_wait_for_dhcp_and_skip_loopback() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .ip_delay(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let p = prov(&sim);
    let g = p.create(&lxc_spec(340, "pve1", vec![])).await.unwrap();
    assert!(
        p.addresses(&g).await.unwrap().is_empty(),
        "stopped: no addresses"
    );
    p.start(&g).await.unwrap();
    assert!(
        p.addresses(&g).await.unwrap().is_empty(),
        "DHCP still pending"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ips = p.addresses(&g).await.unwrap();
    assert!(!ips.is_empty(), "{ips:?}");
    assert!(ips.iter().all(|ip| !ip.is_loopback()));
    let absent = GuestRef {
        vmid: Vmid::new(341).unwrap(),
        ..g.clone()
    };
    assert_eq!(
        p.addresses(&absent).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let absent_vm = GuestRef {
        kind: GuestKind::Vm,
        ..absent
    };
    assert_eq!(
        p.addresses(&absent_vm).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn graceful_stop_uses_shutdown_with_force_after_the_timeout() {
    let sim = sim().await;
    let p = prov(&sim);
    let g = p.create(&lxc_spec(350, "pve1", vec![])).await.unwrap();
    p.start(&g).await.unwrap();
    // With the hard-stop endpoint failing, a graceful stop still works: it is a shutdown.
    sim.set_faults(
        Faults::default()
            .with_endpoint_error_rate("POST /nodes/{node}/lxc/{vmid}/status/stop", 1.0),
    );
    p.stop(
        &g,
        StopMode::Graceful {
            timeout: Duration::from_millis(1200),
        },
    )
    .await
    .unwrap();
    assert_eq!(p.status(&g).await.unwrap().state, GuestState::Stopped);
    // And a forced stop is a stop, not a shutdown.
    p.start(&g).await.unwrap();
    let e = p.stop(&g, StopMode::Force).await.unwrap_err();
    assert!(e.message().contains("no quorum"), "{e:?}");
    sim.set_faults(
        Faults::default()
            .with_endpoint_error_rate("POST /nodes/{node}/lxc/{vmid}/status/shutdown", 1.0),
    );
    p.stop(&g, StopMode::Force).await.unwrap();
    assert_eq!(p.status(&g).await.unwrap().state, GuestState::Stopped);
}

#[tokio::test]
async fn transient_faults_stay_inside_the_adapter() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .seed(99)
        .faults(Faults {
            timeout_rate: 0.2,
            lock_timeout_rate: 0.2,
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let p = prov(&sim);
    for vmid in 360..365 {
        let g = p
            .create(&lxc_spec(vmid, "pve1", vec![app_tag(AppId::new())]))
            .await
            .unwrap();
        p.start(&g).await.unwrap();
        p.start(&g).await.unwrap();
        p.status(&g).await.unwrap();
        p.addresses(&g).await.unwrap();
        p.stop(&g, StopMode::Force).await.unwrap();
        p.destroy(&g).await.unwrap();
        p.list().await.unwrap();
    }
}

#[tokio::test]
async fn without_retries_transient_faults_surface_as_retryable() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .faults(Faults {
            timeout_rate: 1.0,
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let opts = ProvisionerOptions {
        retry: RetryPolicy::none(),
        ..ProvisionerOptions::default()
    };
    let p = ProxmoxProvisioner::with_options(http_client(&sim), opts);
    let e = p.list().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Unavailable, true),
        "{e:?}"
    );
    let e = p.create(&lxc_spec(370, "pve1", vec![])).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
}

#[tokio::test]
async fn a_failed_task_surfaces_as_a_backend_error() {
    let sim = sim().await;
    let p = prov(&sim);
    let g = p.create(&lxc_spec(380, "pve1", vec![])).await.unwrap();
    sim.set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::default()
    });
    let e = p.start(&g).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e:?}");
    assert!(e.message().contains("starting container 380"), "{e:?}");
    assert!(e.message().contains("TASK ERROR"), "{e:?}");
    sim.set_faults(Faults::default());
    assert_eq!(p.status(&g).await.unwrap().state, GuestState::Stopped);
}
