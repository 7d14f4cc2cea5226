//! Fault injection (reproducible from a seed) and the test introspection API.

#[path = "sim_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use paas_proxmox::sim::{Faults, GuestKind, GuestStatus, NewGuest, PveSim, SimError};
use reqwest::Method;
use serde_json::Value;
use support::{Api, DEBIAN};

/// Status codes of `n` sequential calls of a mix of endpoints.
async fn outcomes(seed: u64, n: usize) -> Vec<u16> {
    let faults = Faults {
        error_rate: 0.3,
        timeout_rate: 0.2,
        ..Faults::default()
    };
    let sim = PveSim::builder()
        .seed(seed)
        .faults(faults)
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let mut out = Vec::new();
    for i in 0..n {
        let r = match i % 3 {
            0 => api.get("/version").await,
            1 => api.get("/nodes").await,
            _ => api.get("/cluster/nextid").await,
        };
        match r.status {
            500 => assert_eq!(r.message(), "cluster not ready - no quorum?\n"),
            // The proxy's pseudo status: reason only, no body.
            596 => assert_eq!(
                (r.reason.as_str(), &r.body),
                ("Connection timed out", &Value::Null)
            ),
            200 => {}
            other => panic!("unexpected status {other}"),
        }
        out.push(r.status);
    }
    out
}

#[tokio::test]
async fn same_seed_gives_the_same_outcomes() {
    let a = outcomes(7, 60).await;
    let b = outcomes(7, 60).await;
    let c = outcomes(8, 60).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(
        a.contains(&200) && a.contains(&500) && a.contains(&596),
        "{a:?}"
    );
}

#[tokio::test]
async fn per_endpoint_rates_timeouts_and_runtime_changes() {
    let sim = PveSim::builder()
        .faults(Faults::default().with_endpoint_error_rate("GET /version", 1.0))
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    assert_eq!(api.get("/version").await.status, 500);
    assert_eq!(api.get("/nodes").await.status, 200);
    sim.set_faults(Faults {
        timeout_rate: 1.0,
        ..Faults::default()
    });
    let r = api.get("/nodes").await;
    assert_eq!((r.status, r.reason.as_str()), (596, "Connection timed out"));
    sim.set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let t = Instant::now();
    assert_eq!(api.get("/version").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    sim.set_faults(Faults::none());
    assert_eq!(sim.faults(), Faults::none());
}

#[tokio::test]
async fn injected_lock_timeouts_on_mutating_guest_calls() {
    let sim = PveSim::builder()
        .task_duration(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    api.run_ok(
        Method::POST,
        "/nodes/pve1/lxc",
        &[("vmid", "100"), ("ostemplate", DEBIAN)],
    )
    .await;
    sim.set_faults(Faults {
        lock_timeout_rate: 1.0,
        ..Faults::default()
    });
    // A start takes the config lock in its worker (CT API2/LXC/Status.pm:184-214), so the
    // timeout is the task's exit status, not an HTTP 500 as this asserted before (FIDELITY.md
    // defect 2).
    let r = api.post("/nodes/pve1/lxc/100/status/start", &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let st = api.wait(r.data().as_str().unwrap()).await;
    assert_eq!(
        st["exitstatus"],
        "can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout"
    );
    assert_eq!(sim.guest(100).unwrap().status, GuestStatus::Stopped);
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[("vmid", "101"), ("ostemplate", DEBIAN)],
        )
        .await;
    assert_eq!(
        r.message(),
        "unable to create CT 101 - can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout\n"
    );
    let r = api
        .post("/nodes/pve1/qemu/9000/clone", &[("newid", "102")])
        .await;
    assert_eq!(
        r.message(),
        "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout\n"
    );
    // Reads are not affected.
    assert_eq!(
        api.get("/nodes/pve1/lxc/100/status/current").await.status,
        200
    );
    assert!(sim.guest(101).is_none() && sim.guest(102).is_none());
}

#[tokio::test]
async fn failed_tasks_are_undone() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(10))
        .faults(Faults {
            task_failure_rate: 1.0,
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);

    // A failed create leaves nothing behind.
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[("vmid", "100"), ("ostemplate", DEBIAN)],
        )
        .await;
    let upid = r.data().as_str().unwrap().to_string();
    let st = api.wait(&upid).await;
    let exit = st["exitstatus"].as_str().unwrap();
    assert!(exit.starts_with("unable to create CT 100 - "), "{exit}");
    let log = api.get(&format!("/nodes/pve1/tasks/{upid}/log")).await;
    let last = log.data().as_array().unwrap().last().unwrap()["t"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(last, format!("TASK ERROR: {exit}"));
    assert!(sim.guest(100).is_none());

    // A failed clone too.
    let r = api
        .post("/nodes/pve1/qemu/9000/clone", &[("newid", "101")])
        .await;
    let st = api.wait(r.data().as_str().unwrap()).await;
    assert!(
        st["exitstatus"]
            .as_str()
            .unwrap()
            .starts_with("clone failed: ")
    );
    assert!(sim.guest(101).is_none());

    // A failed start leaves the guest stopped; a failed destroy leaves it there, unlocked.
    sim.add_unmanaged_guest(NewGuest::new(102, "pve2", GuestKind::Lxc))
        .unwrap();
    let r = api.post("/nodes/pve2/lxc/102/status/start", &[]).await;
    let st = api.wait(r.data().as_str().unwrap()).await;
    assert_eq!(st["exitstatus"], "startup for container '102' failed");
    assert_eq!(sim.guest(102).unwrap().status, GuestStatus::Stopped);
    let r = api.delete("/nodes/pve2/lxc/102").await;
    let st = api.wait(r.data().as_str().unwrap()).await;
    assert_ne!(st["exitstatus"], "OK");
    let g = sim.guest(102).unwrap();
    assert_eq!(g.lock, None);
}

#[tokio::test]
async fn introspection_unmanaged_guests_removal_and_drift() {
    let sim = PveSim::builder()
        .nodes(2)
        .task_duration(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    assert_eq!(sim.nodes(), vec!["pve1", "pve2"]);
    sim.add_unmanaged_guest(
        NewGuest::new(150, "pve2", GuestKind::Lxc)
            .name("legacy")
            .tags(["web", "old"])
            .running(true),
    )
    .unwrap();
    assert!(matches!(
        sim.add_unmanaged_guest(NewGuest::new(150, "pve1", GuestKind::Qemu)),
        Err(SimError::AlreadyExists(_))
    ));
    assert!(matches!(
        sim.add_unmanaged_guest(NewGuest::new(151, "pve9", GuestKind::Lxc)),
        Err(SimError::NotFound(_))
    ));
    assert!(
        sim.add_unmanaged_guest(NewGuest::new(5, "pve1", GuestKind::Lxc))
            .is_err()
    );

    let res = api.get_q("/cluster/resources", &[("type", "vm")]).await;
    let ct = res
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vmid"] == 150)
        .unwrap()
        .clone();
    assert_eq!(ct["name"], "legacy");
    assert_eq!(ct["tags"], "old;web");
    assert_eq!(ct["status"], "running");

    sim.set_guest_status(150, GuestStatus::Stopped).unwrap();
    let cur = api.get("/nodes/pve2/lxc/150/status/current").await;
    assert_eq!(cur.data()["status"], "stopped");

    let gone = sim.remove_guest(150).unwrap();
    assert_eq!(gone.name, "legacy");
    assert!(matches!(sim.remove_guest(150), Err(SimError::NotFound(_))));
    let r = api.get("/nodes/pve2/lxc/150/status/current").await;
    assert_eq!(
        r.message(),
        "Configuration file 'nodes/pve2/lxc/150.conf' does not exist\n"
    );

    sim.set_guest_lock(9000, Some("backup")).unwrap();
    let r = api
        .post("/nodes/pve1/qemu/9000/clone", &[("newid", "160")])
        .await;
    assert_eq!(r.message(), "VM is locked (backup)\n");
    sim.set_guest_lock(9000, None).unwrap();

    sim.set_node_online("pve2", false).unwrap();
    let r = api.get("/nodes/pve2/status").await;
    assert_eq!(r.status, 595);
    let nodes = api.get("/nodes").await;
    assert_eq!(nodes.data()[1]["status"], "offline");
}

#[tokio::test]
async fn builder_rejects_bad_settings_and_debug_hides_secrets() {
    assert!(matches!(
        PveSim::builder().nodes(0).start().await,
        Err(SimError::InvalidConfig(_))
    ));
    assert!(matches!(
        PveSim::builder().node_memory_mb(10).start().await,
        Err(SimError::InvalidConfig(_))
    ));
    let sim = PveSim::start().await.unwrap();
    let dbg = format!("{sim:?}");
    assert!(!dbg.contains(&sim.token().secret));
    assert!(!dbg.contains(sim.password()));
    let http = sim.http_url();
    sim.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        reqwest::get(format!("{http}/api2/json/version"))
            .await
            .is_err()
    );
}
