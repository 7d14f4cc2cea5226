//! QEMU clone as PVE 9.x does it (lock-free request checks, locks in the task), VM reboot and
//! the asynchronous config update, over raw HTTP. Texts from qemu-server 4dbb6e4437fc
//! `API2/Qemu.pm`.

mod sim_support;

use std::time::Duration;

use paas_proxmox::sim::{Faults, GuestKind, NewGuest, PveSim};
use reqwest::Method;
use sim_support::Api;

async fn sim(task: Duration) -> PveSim {
    PveSim::builder().task_duration(task).start().await.unwrap()
}

#[tokio::test]
async fn clone_request_checks_answer_at_once() {
    let sim = sim(Duration::from_millis(5)).await;
    let api = Api::new(&sim);
    let clone = |form: Vec<(&'static str, &'static str)>| {
        let api = &api;
        async move { api.post("/nodes/pve1/qemu/9000/clone", &form).await }
    };
    // :4380 `raise_param_exc({ storage => "storage '$storage' does not support vm images" })`.
    let r = clone(vec![("newid", "600"), ("full", "1"), ("storage", "local")]).await;
    assert_eq!(
        (r.status, r.error("storage")),
        (400, "storage 'local' does not support vm images")
    );
    let r = clone(vec![("newid", "600"), ("storage", "nope")]).await;
    assert_eq!(r.message(), "storage 'nope' does not exist\n");
    // :4366 `die "can't clone to non-shared storage '$storage'\n" if !$scfg->{shared};`.
    let r = clone(vec![
        ("newid", "600"),
        ("full", "1"),
        ("storage", "local-lvm"),
        ("target", "pve2"),
    ])
    .await;
    assert_eq!(
        r.message(),
        "can't clone to non-shared storage 'local-lvm'\n"
    );
    // :4384 (a template clones linked by default).
    let r = clone(vec![("newid", "600"), ("storage", "local-lvm")]).await;
    assert_eq!(
        r.message(),
        "parameter 'storage' not allowed for linked clones\n"
    );
    let r = clone(vec![("newid", "600"), ("target", "pve3")]).await;
    assert_eq!(
        r.message(),
        "can't clone VM to node 'pve3' (VM uses local storage)\n"
    );
    let r = clone(vec![("newid", "600"), ("target", "pve9")]).await;
    assert_eq!(r.message(), "no such cluster node 'pve9'\n");
    // :4402 `die "unable to create VM $newid: config file already exists\n" if -f $conffile;`.
    let r = clone(vec![("newid", "9000")]).await;
    assert_eq!(
        (r.status, r.message()),
        (
            500,
            "unable to create VM 9000: config file already exists\n"
        )
    );
    // :4374 `PVE::QemuConfig->check_lock($conf);` on the source.
    sim.set_guest_lock(9000, Some("backup")).unwrap();
    let r = clone(vec![("newid", "600")]).await;
    assert_eq!(r.message(), "VM is locked (backup)\n");
    sim.set_guest_lock(9000, None).unwrap();
    let r = api
        .post("/nodes/pve1/qemu/9999/clone", &[("newid", "600")])
        .await;
    assert_eq!(
        r.message(),
        "Configuration file 'nodes/pve1/qemu-server/9999.conf' does not exist\n"
    );

    // A linked clone by default, named after the template (:4503).
    let upid = api
        .run_ok(
            Method::POST,
            "/nodes/pve1/qemu/9000/clone",
            &[("newid", "600")],
        )
        .await;
    assert!(upid.contains(":qmclone:9000:"), "{upid}");
    let cfg = sim.guest_config(600).unwrap();
    assert_eq!(cfg["name"], "Copy-of-VM-debian-12-cloud");
    assert_eq!(
        cfg["scsi0"],
        "local-lvm:base-9000-disk-0/vm-600-disk-0,size=8G"
    );
    assert!(!cfg.contains_key("template") && !cfg.contains_key("lock"));
    // A linked clone of a clone is refused: its disk is no base volume.
    let r = api
        .post(
            "/nodes/pve1/qemu/600/clone",
            &[("newid", "601"), ("full", "0")],
        )
        .await;
    assert_eq!(
        r.message(),
        "Linked clone feature is not supported for 'local-lvm:base-9000-disk-0/vm-600-disk-0' (scsi0)\n"
    );
}

#[tokio::test]
async fn a_clone_waits_for_its_locks_in_the_task_and_its_config_appears_only_then() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(1500))
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    // An asynchronous config update of the template holds its lock for its whole task.
    let r = api
        .post("/nodes/pve1/qemu/9000/config", &[("description", "golden")])
        .await;
    let update = r.data().as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = api
        .post("/nodes/pve1/qemu/9000/clone", &[("newid", "600")])
        .await;
    assert_eq!(r.status, 200, "the request takes no lock: {:?}", r.body);
    let upid = r.data().as_str().unwrap().to_string();
    // No config for the new VMID while the worker waits: nextid may still offer it.
    assert!(sim.guest(600).is_none());
    let next = api.get_q("/cluster/nextid", &[("vmid", "600")]).await;
    assert_eq!(next.data(), "600");
    // :4638 `lock_config_shared($vmid, 1, ...)`: after 1 s the task gives up.
    let st = api.wait(&upid).await;
    assert_eq!(
        st["exitstatus"],
        "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
    );
    assert!(sim.guest(600).is_none());
    assert_eq!(api.wait(&update).await["exitstatus"], "OK");
}

#[tokio::test]
async fn two_clones_to_one_vmid_and_a_vmid_a_container_holds() {
    let sim = sim(Duration::from_millis(400)).await;
    let api = Api::new(&sim);
    let r = api
        .post("/nodes/pve1/qemu/9000/clone", &[("newid", "600")])
        .await;
    let first = r.data().as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The first worker wrote `# qmclone temporary file\nlock: clone\n`.
    let g = sim.guest(600).unwrap();
    assert_eq!(g.lock.as_deref(), Some("clone"));
    assert_eq!(sim.guest_config(600).unwrap().len(), 1);
    let r = api
        .post("/nodes/pve1/qemu/9000/clone", &[("newid", "600")])
        .await;
    assert_eq!(
        r.message(),
        "unable to create VM 600: config file already exists\n"
    );
    assert_eq!(api.wait(&first).await["exitstatus"], "OK");

    // The request checks only this node's VM configs; the worker's config write fails for a
    // VMID a container holds (pmxcfs), outside the clone's eval: no "clone failed: ".
    sim.add_unmanaged_guest(NewGuest::new(700, "pve2", GuestKind::Lxc))
        .unwrap();
    let r = api
        .post("/nodes/pve1/qemu/9000/clone", &[("newid", "700")])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let st = api.wait(r.data().as_str().unwrap()).await;
    assert_eq!(
        st["exitstatus"],
        "close (rename) atomic file '/etc/pve/nodes/pve1/qemu-server/700.conf' failed: File exists"
    );
    assert_eq!(sim.guest(700).unwrap().kind, GuestKind::Lxc);
}

#[tokio::test]
async fn a_failed_clone_frees_what_it_made() {
    let sim = sim(Duration::from_millis(5)).await;
    let api = Api::new(&sim);
    let before = sim.storage_usage("pve1", "local-lvm").unwrap().0;
    sim.set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::default()
    });
    let r = api
        .post(
            "/nodes/pve1/qemu/9000/clone",
            &[("newid", "600"), ("full", "1")],
        )
        .await;
    let st = api.wait(r.data().as_str().unwrap()).await;
    // :4622 `die "clone failed: $err";`.
    assert!(
        st["exitstatus"]
            .as_str()
            .unwrap()
            .starts_with("clone failed: "),
        "{st}"
    );
    assert!(sim.guest(600).is_none());
    assert_eq!(sim.storage_usage("pve1", "local-lvm").unwrap().0, before);
}

#[tokio::test]
async fn vm_reboot_and_async_config() {
    let sim = sim(Duration::from_millis(5)).await;
    let api = Api::new(&sim);
    api.run_ok(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[("newid", "600"), ("full", "1")],
    )
    .await;
    // :3921 `die "VM $vmid not running\n" if !PVE::QemuServer::check_running($vmid);`.
    let r = api.post("/nodes/pve1/qemu/600/status/reboot", &[]).await;
    assert_eq!((r.status, r.message()), (500, "VM 600 not running\n"));
    api.run_ok(Method::POST, "/nodes/pve1/qemu/600/status/start", &[])
        .await;
    let upid = api
        .run_ok(
            Method::POST,
            "/nodes/pve1/qemu/600/status/reboot",
            &[("timeout", "30")],
        )
        .await;
    assert!(upid.contains(":qmreboot:600:"), "{upid}");
    assert_eq!(
        sim.guest(600).unwrap().status,
        paas_proxmox::sim::GuestStatus::Running
    );

    // POST .../config answers with a `qmconfig` task.
    let upid = api
        .run_ok(
            Method::POST,
            "/nodes/pve1/qemu/600/config",
            &[("cores", "4"), ("tags", "b;a")],
        )
        .await;
    assert!(upid.contains(":qmconfig:600:"), "{upid}");
    let cfg = sim.guest_config(600).unwrap();
    assert_eq!((cfg["cores"].as_str(), cfg["tags"].as_str()), ("4", "a;b"));
    // With background_delay PVE waits for the task and answers null when it ended OK.
    let r = api
        .post(
            "/nodes/pve1/qemu/600/config",
            &[("memory", "4096"), ("background_delay", "5")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.data().is_null(), "{:?}", r.body);
    assert_eq!(sim.guest_config(600).unwrap()["memory"], "4096");
    // :2061 and the digest check.
    let r = api.post("/nodes/pve1/qemu/600/config", &[]).await;
    assert_eq!(r.message(), "no options specified\n");
    let r = api
        .post(
            "/nodes/pve1/qemu/600/config",
            &[
                ("cores", "2"),
                ("digest", "0000000000000000000000000000000000000000"),
            ],
        )
        .await;
    assert_eq!(
        r.message(),
        "detected modified configuration - file changed by other user? Try again.\n"
    );
    let r = api
        .post(
            "/nodes/pve1/qemu/600/config",
            &[("cores", "2"), ("delete", "cores")],
        )
        .await;
    assert_eq!(
        r.error("delete"),
        "you can't use '-cores' and -delete cores' at the same time"
    );
}

/// A running source is locked exclusively (:4633-4636 `if ($running) { return
/// PVE::QemuConfig->lock_config_full($vmid, 1, $lock_target_vm); }`): a second clone of it
/// waits for the first one's task and gives up after 1 s, in its own task.
#[tokio::test]
async fn clones_of_a_running_vm_take_turns() {
    let sim = sim(Duration::from_millis(1500)).await;
    let api = Api::new(&sim);
    api.run_ok(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[("newid", "600"), ("full", "1")],
    )
    .await;
    api.run_ok(Method::POST, "/nodes/pve1/qemu/600/status/start", &[])
        .await;
    let a = api
        .post("/nodes/pve1/qemu/600/clone", &[("newid", "601")])
        .await;
    let b = api
        .post("/nodes/pve1/qemu/600/clone", &[("newid", "602")])
        .await;
    let (a, b) = tokio::join!(
        api.wait(a.data().as_str().unwrap()),
        api.wait(b.data().as_str().unwrap())
    );
    assert_eq!(a["exitstatus"], "OK", "{a}");
    assert_eq!(
        b["exitstatus"],
        "can't lock file '/var/lock/qemu-server/lock-600.conf' - got timeout"
    );
    assert!(sim.guest(601).is_some() && sim.guest(602).is_none());
}
