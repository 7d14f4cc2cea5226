//! The simulator's storages and container volumes over raw HTTP: the stock LVM-thin layout
//! and its space accounting, mount points on create and config update, `env` and `resize`
//! (`move_volume` is in sim_move_volume.rs), each with PVE's texts (quoted from pve-container 963730e937c5, pve-storage
//! 6f49432acc6d and qemu-server 4dbb6e4437fc).

mod sim_support;

use std::time::Duration;

use paas_proxmox::sim::PveSim;
use reqwest::Method;
use sim_support::{Api, DEBIAN};

const GIB: u64 = 1 << 30;

async fn sim() -> PveSim {
    PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .start()
        .await
        .unwrap()
}

/// Creates container `vmid` on pve1 with an 8 GB rootfs and the extra parameters.
async fn ct(api: &Api, vmid: &str, extra: &[(&str, &str)]) {
    let mut form = vec![
        ("vmid", vmid),
        ("ostemplate", DEBIAN),
        ("rootfs", "local-lvm:8"),
    ];
    form.extend_from_slice(extra);
    api.run_ok(Method::POST, "/nodes/pve1/lxc", &form).await;
}

fn used(sim: &PveSim, storage: &str) -> u64 {
    sim.storage_usage("pve1", storage).unwrap().0
}

#[tokio::test]
async fn the_stock_lvm_thin_layout_and_its_space() {
    let sim = sim().await;
    let api = Api::new(&sim);
    // pve-installer StorageConfig.pm: `local` is `content iso,vztmpl,backup,import`,
    // `local-lvm` is `content rootdir,images`.
    let r = api.get("/storage").await;
    let list = r.data().as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["storage"], "local");
    assert_eq!(list[0]["type"], "dir");
    assert_eq!(list[0]["content"], "iso,vztmpl,backup,import");
    assert_eq!(list[1]["storage"], "local-lvm");
    assert_eq!(list[1]["type"], "lvmthin");
    assert_eq!(list[1]["content"], "rootdir,images");
    let r = api.get_q("/storage", &[("type", "lvmthin")]).await;
    assert_eq!(r.data().as_array().unwrap().len(), 1);

    let r = api
        .get_q(
            "/nodes/pve1/storage",
            &[("content", "rootdir"), ("enabled", "1")],
        )
        .await;
    let list = r.data().as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["storage"], "local-lvm");
    assert_eq!(list[0]["active"], 1);
    let total = list[0]["total"].as_u64().unwrap();
    assert_eq!(
        total,
        list[0]["used"].as_u64().unwrap() + list[0]["avail"].as_u64().unwrap()
    );
    let r = api
        .get_q("/nodes/pve1/storage", &[("content", "vztmpl,iso")])
        .await;
    assert_eq!(r.data()[0]["storage"], "local");
    // Only shared storages are listed for another target node: none here.
    let r = api
        .get_q("/nodes/pve1/storage", &[("target", "pve2")])
        .await;
    assert_eq!(r.data().as_array().unwrap().len(), 0);
    // Status.pm: `raise_param_exc({ storage => "No such storage." })`.
    let r = api
        .get_q("/nodes/pve1/storage", &[("storage", "nope")])
        .await;
    assert_eq!((r.status, r.error("storage")), (400, "No such storage."));
    let r = api.get("/nodes/pve1/storage/nope/status").await;
    assert_eq!((r.status, r.error("storage")), (400, "No such storage."));

    // The space changes as disks are created, grown and destroyed.
    let before = used(&sim, "local-lvm");
    let local_before = used(&sim, "local");
    ct(&api, "100", &[("mp0", "local-lvm:2,mp=/srv/data")]).await;
    assert_eq!(used(&sim, "local-lvm"), before + 10 * GIB);
    assert_eq!(
        used(&sim, "local"),
        local_before,
        "no container disk on local"
    );
    let st = api.get("/nodes/pve1/storage/local-lvm/status").await;
    assert_eq!(st.data()["used"].as_u64(), Some(before + 10 * GIB));
    assert_eq!(st.data()["type"], "lvmthin");
    api.run_ok(
        Method::PUT,
        "/nodes/pve1/lxc/100/resize",
        &[("disk", "mp0"), ("size", "+1G")],
    )
    .await;
    assert_eq!(used(&sim, "local-lvm"), before + 11 * GIB);
    assert_eq!(
        used(&sim, "local-lvm"),
        sim.storage_usage("pve1", "local-lvm").unwrap().0
    );
    // Another node's storage is its own (pve2 holds no guest).
    assert_eq!(sim.storage_usage("pve2", "local-lvm").unwrap().0, 0);
    api.run_ok(Method::DELETE, "/nodes/pve1/lxc/100", &[]).await;
    assert_eq!(used(&sim, "local-lvm"), before);
}

#[tokio::test]
async fn container_disks_go_where_pve_puts_them() {
    let sim = sim().await;
    let api = Api::new(&sim);
    // No rootfs, no storage: the default storage is `local` (CT API2/LXC.pm:322
    // `my $storage = extract_param($param, 'storage') // 'local';`), which refuses (:349).
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[("vmid", "100"), ("ostemplate", DEBIAN)],
        )
        .await;
    assert_eq!(
        (r.status, r.error("storage")),
        (
            400,
            "storage 'local' does not support container directories"
        )
    );
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("rootfs", "local:8"),
            ],
        )
        .await;
    assert_eq!(
        r.error("storage"),
        "storage 'local' does not support container directories"
    );
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("rootfs", "nope:8"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.message()),
        (500, "storage 'nope' does not exist\n")
    );
    // :380 `die "mount points configured, but 'rootfs' not set - aborting\n"`.
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("storage", "local-lvm"),
                ("mp0", "local-lvm:1,mp=/d"),
            ],
        )
        .await;
    assert_eq!(
        r.message(),
        "mount points configured, but 'rootfs' not set - aborting\n"
    );
    // The mount point format: `mp` is required, `size` is a disk size.
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("rootfs", "local-lvm:8"),
                ("mp0", "local-lvm:1"),
            ],
        )
        .await;
    assert!(
        r.error("mp0")
            .contains("mp0.mp: property is missing and it is not optional"),
        "{:?}",
        r.body
    );
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("rootfs", "local-lvm:8,size=abc"),
            ],
        )
        .await;
    assert!(
        r.error("rootfs").contains(
            "rootfs.size: invalid format - value does not look like a valid disk size: abc"
        ),
        "{:?}",
        r.body
    );
    // `rootfs=8` means 8 GB on `storage` (:369-370).
    ct(
        &api,
        "101",
        &[
            ("mp0", "local-lvm:2,mp=/srv/data,backup=1"),
            ("mp1", "local-lvm:0.5,mp=/srv/cache"),
        ],
    )
    .await;
    api.run_ok(
        Method::POST,
        "/nodes/pve1/lxc",
        &[
            ("vmid", "102"),
            ("ostemplate", DEBIAN),
            ("storage", "local-lvm"),
            ("rootfs", "8"),
        ],
    )
    .await;
    let cfg = sim.guest_config(102).unwrap();
    assert_eq!(cfg["rootfs"], "local-lvm:vm-102-disk-0,size=8G");
    // Disks are numbered in PVE's order: rootfs, mp0, mp1.
    let cfg = sim.guest_config(101).unwrap();
    assert_eq!(cfg["rootfs"], "local-lvm:vm-101-disk-0,size=8G");
    assert_eq!(
        cfg["mp0"],
        "local-lvm:vm-101-disk-1,mp=/srv/data,backup=1,size=2G"
    );
    assert_eq!(
        cfg["mp1"],
        "local-lvm:vm-101-disk-2,mp=/srv/cache,size=512M"
    );
    let r = api.get("/nodes/pve1/lxc/101/config").await;
    assert_eq!(r.data()["mp0"], cfg["mp0"].as_str());
    let vols = sim.volumes(101);
    assert_eq!(vols.len(), 3);
    let ids: std::collections::BTreeSet<u64> = vols.iter().map(|v| v.content_id).collect();
    assert_eq!(ids.len(), 3, "every new volume holds new data: {vols:?}");
    // The disks of a container are listed in the storage's content.
    let r = api
        .get_q("/nodes/pve1/storage/local-lvm/content", &[("vmid", "101")])
        .await;
    assert!(
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["volid"] == "local-lvm:vm-101-disk-1"),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn mount_points_by_config_update() {
    let sim = sim().await;
    let api = Api::new(&sim);
    ct(&api, "100", &[]).await;
    // LXC/Config.pm:1290 `storage '$sid' does not allow content type 'rootdir' (Container)`.
    let r = api
        .put("/nodes/pve1/lxc/100/config", &[("mp0", "local:1,mp=/d")])
        .await;
    assert_eq!(
        (r.status, r.message()),
        (
            500,
            "storage 'local' does not allow content type 'rootdir' (Container)\n"
        )
    );
    let r = api
        .put(
            "/nodes/pve1/lxc/100/config",
            &[("mp0", "local-lvm:1,mp=/d")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let cfg = sim.guest_config(100).unwrap();
    assert_eq!(cfg["mp0"], "local-lvm:vm-100-disk-1,mp=/d,size=1G");
    let content = sim.volumes(100)[1].content_id;
    // Deleting a volume mount point keeps the volume as unusedN (vmconfig_apply_pending ->
    // add_unused_volume); deleting the unusedN destroys it.
    let r = api
        .put("/nodes/pve1/lxc/100/config", &[("delete", "mp0")])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let cfg = sim.guest_config(100).unwrap();
    assert!(!cfg.contains_key("mp0"));
    assert_eq!(cfg["unused0"], "local-lvm:vm-100-disk-1");
    assert_eq!(sim.volumes_with_content(content).len(), 1);
    let before = used(&sim, "local-lvm");
    api.put("/nodes/pve1/lxc/100/config", &[("delete", "unused0")])
        .await;
    assert!(sim.volumes_with_content(content).is_empty());
    assert_eq!(used(&sim, "local-lvm"), before - GIB);
}

#[tokio::test]
async fn env_and_entrypoint_are_stored_as_pve_reads_them_back() {
    let sim = sim().await;
    let api = Api::new(&sim);
    ct(
        &api,
        "100",
        &[
            ("env", "TOKEN=s3cret value\0MODE=prod"),
            ("entrypoint", "/usr/bin/app --serve"),
        ],
    )
    .await;
    let r = api.get("/nodes/pve1/lxc/100/config").await;
    assert_eq!(r.data()["env"], "TOKEN=s3cret value\u{0}MODE=prod");
    assert_eq!(r.data()["entrypoint"], "/usr/bin/app --serve");
    // The schema's pattern refuses most control characters (LXC/Config.pm:676).
    let r = api
        .put("/nodes/pve1/lxc/100/config", &[("env", "A=\u{1}")])
        .await;
    assert_eq!(
        (r.status, r.error("env")),
        (400, "value does not match the regex pattern")
    );
    let r = api
        .put("/nodes/pve1/lxc/100/config", &[("env", "not an entry")])
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    // One config line per entry: trailing white space is trimmed when PVE reads the file
    // back, and a line feed ends the entry.
    let r = api
        .put(
            "/nodes/pve1/lxc/100/config",
            &[("env", "A=x  \0B=first\nsecond")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(sim.guest_config(100).unwrap()["env"], "A=x\u{0}B=first");
}

#[tokio::test]
async fn resize_grows_and_never_shrinks() {
    let sim = sim().await;
    let api = Api::new(&sim);
    ct(&api, "100", &[]).await;
    let upid = api
        .run_ok(
            Method::PUT,
            "/nodes/pve1/lxc/100/resize",
            &[("disk", "rootfs"), ("size", "+2G")],
        )
        .await;
    assert!(upid.contains(":resize:100:"), "{upid}");
    assert_eq!(
        sim.guest_config(100).unwrap()["rootfs"],
        "local-lvm:vm-100-disk-0,size=10G"
    );
    api.run_ok(
        Method::PUT,
        "/nodes/pve1/lxc/100/resize",
        &[("disk", "rootfs"), ("size", "12G")],
    )
    .await;
    assert_eq!(sim.volumes(100)[0].size, 12 * GIB);
    // Early checks at request time (CT API2/LXC.pm:2353-2355).
    let r = api
        .put(
            "/nodes/pve1/lxc/100/resize",
            &[("disk", "rootfs"), ("size", "4G")],
        )
        .await;
    assert_eq!(
        (r.status, r.message()),
        (500, "unable to shrink disk size\n")
    );
    let r = api
        .put(
            "/nodes/pve1/lxc/100/resize",
            &[("disk", "rootfs"), ("size", "12G")],
        )
        .await;
    assert_eq!(r.message(), "disk is already at specified size\n");
    let r = api
        .put(
            "/nodes/pve1/lxc/100/resize",
            &[("disk", "rootfs"), ("size", "12X")],
        )
        .await;
    assert_eq!(
        (r.status, r.error("size")),
        (400, "value does not match the regex pattern")
    );
    let r = api
        .put(
            "/nodes/pve1/lxc/999/resize",
            &[("disk", "rootfs"), ("size", "+1G")],
        )
        .await;
    assert_eq!(
        r.message(),
        "Configuration file 'nodes/pve1/lxc/999.conf' does not exist\n"
    );

    // QEMU checks everything in the task (QS API2/Qemu.pm:5860-5915).
    api.run_ok(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[("newid", "600"), ("full", "1")],
    )
    .await;
    let upid = api
        .run_ok(
            Method::PUT,
            "/nodes/pve1/qemu/600/resize",
            &[("disk", "scsi0"), ("size", "20G")],
        )
        .await;
    assert!(upid.contains(":resize:600:"), "{upid}");
    assert_eq!(
        sim.guest_config(600).unwrap()["scsi0"],
        "local-lvm:vm-600-disk-0,size=20G"
    );
    // The same size again changes nothing and ends OK.
    api.run_ok(
        Method::PUT,
        "/nodes/pve1/qemu/600/resize",
        &[("disk", "scsi0"), ("size", "20G")],
    )
    .await;
    for (disk, size, text) in [
        ("scsi0", "8G", "shrinking disks is not supported"),
        ("scsi5", "+1G", "disk 'scsi5' does not exist"),
        ("ide2", "+1G", "you can't resize a cdrom"),
    ] {
        let r = api
            .put(
                "/nodes/pve1/qemu/600/resize",
                &[("disk", disk), ("size", size)],
            )
            .await;
        assert_eq!(r.status, 200, "{disk}: {:?}", r.body);
        let st = api.wait(r.data().as_str().unwrap()).await;
        assert_eq!(st["exitstatus"], text, "{disk}");
    }
    let r = api
        .put(
            "/nodes/pve1/qemu/999/resize",
            &[("disk", "scsi0"), ("size", "+1G")],
        )
        .await;
    let st = api.wait(r.data().as_str().unwrap()).await;
    assert_eq!(
        st["exitstatus"],
        "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist"
    );
}
