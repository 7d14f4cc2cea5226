//! The client's storage, volume and VM-config endpoints through the simulator, with their
//! error paths: storage listing and status, create with mount points, env and entrypoint,
//! move_volume, resize, VM reboot and the asynchronous VM config update.

mod client_support;

use client_support::*;
use paas_core::ErrorKind;
use paas_core::model::Secret;
use paas_proxmox::client::disks::MoveVolume;
use paas_proxmox::client::error::{ErrorClass, class_of};
use paas_proxmox::client::guest::{ConfigUpdate, GuestType};
use paas_proxmox::client::lxc::{CreateLxc, encode_env};
use paas_proxmox::client::qemu::CloneVm;
use paas_proxmox::client::storage::StorageFilter;
use paas_proxmox::client::{ProxmoxClient, TaskOutcome, WaitOptions};

const NODE: &str = "pve1";

async fn create(c: &ProxmoxClient, vmid: u32, mount_points: Vec<(u32, String)>) {
    let p = CreateLxc {
        vmid,
        ostemplate: DEBIAN.into(),
        rootfs: Some("local-lvm:4".into()),
        mount_points,
        ..CreateLxc::default()
    };
    let upid = c.create_lxc(NODE, &p).await.unwrap();
    assert_eq!(
        c.wait_task(&upid, WaitOptions::default()).await.unwrap(),
        TaskOutcome::Ok
    );
}

#[tokio::test]
async fn storages_their_status_and_filters() {
    let sim = sim().await;
    let c = https_client(&sim);
    let all = c.storages().await.unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.storage.as_str()).collect();
    assert_eq!(names, ["local", "local-lvm"]);
    assert_eq!(all[1].kind, "lvmthin");
    assert!(!all[1].shared);
    let ct = c
        .node_storages(
            NODE,
            &StorageFilter {
                content: Some("rootdir".into()),
                enabled: Some(true),
                ..StorageFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ct.len(), 1);
    assert!(ct[0].holds("rootdir") && ct[0].active && ct[0].enabled);
    let before = ct[0].used.unwrap();
    create(&c, 100, vec![(0, "local-lvm:3,mp=/srv".into())]).await;
    let st = c.storage_status(NODE, "local-lvm").await.unwrap();
    assert_eq!(st.storage, "local-lvm");
    assert_eq!(st.used.unwrap(), before + (7 << 30));
    assert_eq!(st.total, Some(st.used.unwrap() + st.avail.unwrap()));
    // Unknown storage: PVE's 400 `errors.storage = "No such storage."`.
    let e = c.storage_status(NODE, "nope").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    let e = c
        .node_storages(
            NODE,
            &StorageFilter {
                storage: Some("nope".into()),
                ..StorageFilter::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    let e = c.storage_status("nosuchnode", "local").await.unwrap_err();
    assert!(!e.is_retryable(), "{e:?}");
}

#[tokio::test]
async fn create_with_mount_points_env_and_entrypoint() {
    let sim = sim().await;
    let c = http_client(&sim);
    let env = encode_env([
        (
            "DATABASE_URL",
            Secret::new("postgres://app:pw@db:5432/app?sslmode=require"),
        ),
        ("MODE", Secret::new("a=b;c&d")),
    ])
    .unwrap();
    let p = CreateLxc {
        vmid: 100,
        ostemplate: DEBIAN.into(),
        rootfs: Some("local-lvm:4".into()),
        mount_points: vec![(0, "local-lvm:2,mp=/srv/data,backup=1".into())],
        env,
        entrypoint: Some("/usr/bin/app".into()),
        ..CreateLxc::default()
    };
    assert!(!format!("{p:?}").contains("sslmode"), "Debug shows env");
    let upid = c.create_lxc(NODE, &p).await.unwrap();
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    let cfg = c.guest_config(GuestType::Lxc, NODE, 100).await.unwrap();
    assert_eq!(
        cfg.get("env").as_deref(),
        Some("DATABASE_URL=postgres://app:pw@db:5432/app?sslmode=require\0MODE=a=b;c&d")
    );
    assert_eq!(cfg.get("entrypoint").as_deref(), Some("/usr/bin/app"));
    assert_eq!(
        cfg.get("mp0").as_deref(),
        Some("local-lvm:vm-100-disk-1,mp=/srv/data,backup=1,size=2G")
    );
    // A container on `local` is refused as PVE does: a validation error naming `storage`.
    let e = c
        .create_lxc(
            NODE,
            &CreateLxc {
                vmid: 101,
                ostemplate: DEBIAN.into(),
                ..CreateLxc::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    assert!(
        e.message()
            .contains("storage: storage 'local' does not support container directories"),
        "{e}"
    );
    // encode_env refuses what PVE's config file cannot give back, naming the key only.
    for bad in ["two\nlines", "trailing ", "bell\u{7}"] {
        let e = encode_env([("K", Secret::new(bad))]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("'K'"), "{e}");
        assert!(!e.message().contains(bad.trim()), "{e}");
    }
    assert!(encode_env([("BAD-KEY", Secret::new("x"))]).is_err());
    assert_eq!(
        encode_env(Vec::<(&str, Secret)>::new()).unwrap(),
        None,
        "no env at all"
    );
}

#[tokio::test]
async fn move_volume_and_its_errors() {
    let sim = sim().await;
    let c = http_client(&sim);
    create(&c, 100, vec![(0, "local-lvm:1,mp=/srv/data".into())]).await;
    create(&c, 101, vec![]).await;
    let content = sim.volumes(100)[1].content_id;
    let params = MoveVolume {
        volume: "mp0".into(),
        target_vmid: Some(101),
        target_digest: c
            .guest_config(GuestType::Lxc, NODE, 101)
            .await
            .unwrap()
            .digest(),
        ..MoveVolume::default()
    };
    let upid = c.move_volume(NODE, 100, &params).await.unwrap();
    assert_eq!(upid.task_type(), "move_volume");
    assert_eq!(upid.id(), "100-mp0>101-mp0");
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    let cfg = c.guest_config(GuestType::Lxc, NODE, 101).await.unwrap();
    assert_eq!(
        cfg.get("mp0").as_deref(),
        Some("local-lvm:vm-101-disk-1,mp=/srv/data,size=1G")
    );
    assert_eq!(sim.volumes_with_content(content)[0].vmid, 101);
    // The same move with the digest read before it: 101 changed, a conflict the same call
    // cannot get past (PVE checks the digests before what the volume is).
    let e = c.move_volume(NODE, 100, &params).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Conflict, false),
        "{e:?}"
    );
    assert_eq!(class_of(&e), Some(ErrorClass::Modified));
    // Again without it: nothing to move; a stale digest; a running source.
    let params = MoveVolume {
        target_digest: None,
        ..params
    };
    let e = c.move_volume(NODE, 100, &params).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    assert!(
        e.message()
            .contains("volume 'mp0' for container '100' does not exist"),
        "{e}"
    );
    let back = MoveVolume {
        volume: "mp0".into(),
        target_vmid: Some(100),
        digest: Some("0000000000000000000000000000000000000000".into()),
        ..MoveVolume::default()
    };
    let e = c.move_volume(NODE, 101, &back).await.unwrap_err();
    assert!(
        e.message()
            .contains("Container 101: detected modified configuration"),
        "{e}"
    );
    let upid = c.start_guest(GuestType::Lxc, NODE, 101).await.unwrap();
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    let e = c
        .move_volume(
            NODE,
            101,
            &MoveVolume {
                digest: None,
                ..back.clone()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e:?}");
    assert_eq!(class_of(&e), Some(ErrorClass::Running));
    // Neither a target nor a storage: a validation error on both.
    let e = c
        .move_volume(
            NODE,
            101,
            &MoveVolume {
                volume: "mp0".into(),
                ..MoveVolume::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
}

#[tokio::test]
async fn resize_of_containers_and_vms() {
    let sim = sim().await;
    let c = http_client(&sim);
    create(&c, 100, vec![]).await;
    let upid = c
        .resize_disk(GuestType::Lxc, NODE, 100, "rootfs", "+2G")
        .await
        .unwrap();
    assert_eq!(upid.task_type(), "resize");
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    assert_eq!(sim.volumes(100)[0].size, 6 << 30);
    let e = c
        .resize_disk(GuestType::Lxc, NODE, 100, "rootfs", "1G")
        .await
        .unwrap_err();
    assert!(e.message().contains("unable to shrink disk size"), "{e}");
    assert!(!e.is_retryable());
    let e = c
        .resize_disk(GuestType::Lxc, NODE, 100, "rootfs", "-1G")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");

    let upid = c
        .clone_vm(
            NODE,
            TEMPLATE_VM,
            &CloneVm {
                newid: 600,
                full: Some(true),
                ..CloneVm::default()
            },
        )
        .await
        .unwrap();
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    let upid = c
        .resize_disk(GuestType::Qemu, NODE, 600, "scsi0", "16G")
        .await
        .unwrap();
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    assert_eq!(sim.volumes(600)[0].size, 16 << 30);
    // A VM refuses from the task: a Backend error carrying PVE's text.
    let upid = c
        .resize_disk(GuestType::Qemu, NODE, 600, "scsi0", "8G")
        .await
        .unwrap();
    let e = c
        .wait_task(&upid, WaitOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e:?}");
    assert!(
        e.message().contains("shrinking disks is not supported"),
        "{e}"
    );
}

#[tokio::test]
async fn vm_reboot_and_async_config_update() {
    let sim = sim().await;
    let c = password_client(&sim);
    let upid = c
        .clone_vm(
            NODE,
            TEMPLATE_VM,
            &CloneVm {
                newid: 600,
                ..CloneVm::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(upid.task_type(), "qmclone");
    assert_eq!(upid.id(), TEMPLATE_VM.to_string());
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    let e = c.reboot_vm(NODE, 600, None).await.unwrap_err();
    assert_eq!(class_of(&e), Some(ErrorClass::NotRunning), "{e:?}");
    let upid = c.start_guest(GuestType::Qemu, NODE, 600).await.unwrap();
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    let upid = c.reboot_vm(NODE, 600, Some(30)).await.unwrap();
    assert_eq!(upid.task_type(), "qmreboot");
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();

    let update = ConfigUpdate::default().set("cores", 3).set("tags", "x;y");
    let upid = c
        .update_vm_config_async(NODE, 600, &update, None)
        .await
        .unwrap()
        .expect("a task without background_delay");
    assert_eq!(upid.task_type(), "qmconfig");
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    assert_eq!(sim.guest_config(600).unwrap()["cores"], "3");
    let done = c
        .update_vm_config_async(
            NODE,
            600,
            &ConfigUpdate::default().set("memory", 1024),
            Some(5),
        )
        .await
        .unwrap();
    assert_eq!(done, None, "ended within background_delay");
    let e = c
        .update_vm_config_async(
            NODE,
            600,
            &ConfigUpdate::default().set("cores", 1).digest("00"),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        e.message().contains("detected modified configuration"),
        "{e}"
    );
}
