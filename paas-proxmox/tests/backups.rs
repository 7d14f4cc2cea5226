//! Backups and restores through the typed client and the simulator: vzdump and its lock,
//! backup volumes, notes, protection, pruning, restore into new and (with force) existing
//! guests, and PVE's texts for each refusal.

mod client_support;
mod ops_support;

use std::time::Duration;

use client_support::*;
use ops_support::*;
use paas_core::ErrorKind;
use paas_proxmox::client::backup::{
    BackupMode, Compression, RestoreLxc, RestoreVm, Retention, Vzdump,
};
use paas_proxmox::client::guest::{ConfigUpdate, DeleteOptions, GuestType};
use paas_proxmox::client::snapshot::CreateSnapshot;
use paas_proxmox::sim::Faults;

const CT: GuestType = GuestType::Lxc;
const VM: GuestType = GuestType::Qemu;

fn job(vmid: u32) -> Vzdump {
    Vzdump {
        vmids: vec![vmid],
        storage: Some("local".into()),
        compress: Some(Compression::Zstd),
        ..Vzdump::default()
    }
}

async fn backup(c: &paas_proxmox::ProxmoxClient, p: &Vzdump) -> String {
    let t = c.vzdump(NODE, p).await.unwrap().expect("a task");
    assert_eq!(t.task_type(), "vzdump");
    done(c, &t).await;
    c.backups(NODE, "local", Some(p.vmids[0]))
        .await
        .unwrap()
        .last()
        .expect("a backup")
        .volid
        .clone()
}

#[tokio::test]
async fn ct_backup_is_listed_and_restores_into_a_new_container() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 200).await;
    start(&c, CT, 200).await;
    let p = Vzdump {
        notes_template: Some("{{guestname}} ({{vmid}}) on {{node}}".into()),
        ..job(200)
    };
    let t = c.vzdump(NODE, &p).await.unwrap().unwrap();
    assert_eq!(t.id(), "200");
    done(&c, &t).await;
    let log = log_of(&c, &t).await;
    assert!(
        log[0].starts_with("INFO: starting new backup job: vzdump 200"),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l == "INFO: backup mode: snapshot"),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l == "INFO: Backup job finished successfully"),
        "{log:?}"
    );

    let list = c.backups(NODE, "local", Some(200)).await.unwrap();
    assert_eq!(list.len(), 1);
    let b = &list[0];
    let name = b.volid.strip_prefix("local:backup/").unwrap();
    // vzdump-lxc-200-YYYY_MM_DD-HH_MM_SS.tar.zst
    assert!(
        name.starts_with("vzdump-lxc-200-") && name.ends_with(".tar.zst"),
        "{name}"
    );
    assert_eq!(
        name.len(),
        "vzdump-lxc-200-2025_01_30-14_05_12.tar.zst".len()
    );
    assert_eq!(b.format.as_deref(), Some("tar.zst"));
    assert_eq!(b.subtype.as_deref(), Some("lxc"));
    assert_eq!(b.vmid, Some(200));
    assert_eq!(b.notes.as_deref(), Some("ct200 (200) on pve1"));
    assert!(b.size.unwrap() > 0 && b.ctime.unwrap() > 1_600_000_000);
    assert!(!b.protected);
    // Listed with the templates under content=backup only, and per guest.
    assert!(
        c.backups(NODE, "local", Some(201))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        c.lxc_templates(NODE, "local")
            .await
            .unwrap()
            .iter()
            .all(|v| !v.volid.contains("backup/"))
    );

    // Restore into CT 201: the backed-up config, volumes made anew on the target storage.
    c.update_guest_config(CT, NODE, 200, &ConfigUpdate::default().set("memory", 2048))
        .await
        .unwrap();
    let r = RestoreLxc {
        vmid: 201,
        archive: b.volid.clone(),
        storage: Some("local-lvm".into()),
        ..RestoreLxc::default()
    };
    let t = c.restore_lxc(NODE, &r).await.unwrap();
    assert_eq!((t.task_type(), t.id()), ("vzrestore", "201"));
    done(&c, &t).await;
    let cfg = c.guest_config(CT, NODE, 201).await.unwrap();
    assert_eq!(cfg.get("hostname").as_deref(), Some("ct200"));
    assert_eq!(
        cfg.get("memory").as_deref(),
        Some("256"),
        "the backed-up value"
    );
    assert_eq!(cfg.get("tags").as_deref(), Some("paas-managed"));
    assert_eq!(
        cfg.get("rootfs").as_deref(),
        Some("local-lvm:vm-201-disk-0,size=2G")
    );
    assert_eq!(cfg.get("lock"), None);
    let net = cfg.get("net0").unwrap();
    let net200 = c
        .guest_config(CT, NODE, 200)
        .await
        .unwrap()
        .get("net0")
        .unwrap();
    assert_eq!(net, net200, "without unique the MAC address is kept");
    assert_eq!(
        c.guest_status(CT, NODE, 201).await.unwrap().status,
        "stopped"
    );

    // unique=1 gives new MAC addresses; start=1 starts it.
    let r = RestoreLxc {
        vmid: 202,
        unique: Some(true),
        start: Some(true),
        hostname: Some("copy".into()),
        ..r
    };
    done(&c, &c.restore_lxc(NODE, &r).await.unwrap()).await;
    let cfg = c.guest_config(CT, NODE, 202).await.unwrap();
    assert_ne!(cfg.get("net0").unwrap(), net200);
    assert_eq!(
        cfg.get("hostname").as_deref(),
        Some("copy"),
        "given parameters win"
    );
    assert_eq!(
        c.guest_status(CT, NODE, 202).await.unwrap().status,
        "running"
    );
}

#[tokio::test]
async fn restore_never_overwrites_an_existing_guest_without_force() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 210).await;
    let volid = backup(&c, &job(210)).await;
    done(
        &c,
        &c.create_snapshot(
            CT,
            NODE,
            210,
            &CreateSnapshot {
                snapname: "s1".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap(),
    )
    .await;
    c.update_guest_config(CT, NODE, 210, &ConfigUpdate::default().set("memory", 1024))
        .await
        .unwrap();

    // CT API2/LXC.pm:276-277: check_vmid_unused unless restore + force.
    let r = RestoreLxc {
        vmid: 210,
        archive: volid.clone(),
        storage: Some("local-lvm".into()),
        ..RestoreLxc::default()
    };
    let e = c.restore_lxc(NODE, &r).await.unwrap_err();
    assert!(
        e.message().contains("CT 210 already exists on node 'pve1'"),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Conflict);
    // Over a VMID a VM uses: also refused.
    clone_vm(&c, 310).await;
    let e = c
        .restore_lxc(
            NODE,
            &RestoreLxc {
                vmid: 310,
                ..r.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message().contains("VM 310 already exists on node 'pve1'"),
        "{e:?}"
    );
    // force, but running: "can't overwrite running container".
    start(&c, CT, 210).await;
    let forced = RestoreLxc {
        force: Some(true),
        ..r.clone()
    };
    let e = c.restore_lxc(NODE, &forced).await.unwrap_err();
    assert!(
        e.message().contains("can't overwrite running container"),
        "{e:?}"
    );
    // Nothing changed by the refusals.
    assert_eq!(
        c.guest_config(CT, NODE, 210)
            .await
            .unwrap()
            .get("memory")
            .as_deref(),
        Some("1024")
    );
    // Stopped + force: replaced by the backup, its snapshots gone with the old config.
    shutdown(&c, CT, 210).await;
    done(&c, &c.restore_lxc(NODE, &forced).await.unwrap()).await;
    let cfg = c.guest_config(CT, NODE, 210).await.unwrap();
    assert_eq!(cfg.get("memory").as_deref(), Some("256"));
    assert!(sim.snapshots(210).unwrap().is_empty());

    // QEMU: create_and_lock_config without force names the VM.
    start(&c, VM, 310).await;
    let vm_backup = backup(&c, &job(310)).await;
    let rv = RestoreVm {
        vmid: 310,
        archive: vm_backup.clone(),
        ..RestoreVm::default()
    };
    let e = c.restore_vm(NODE, &rv).await.unwrap_err();
    assert!(
        e.message()
            .contains("unable to restore VM 310 - VM 310 already exists on node 'pve1'"),
        "{e:?}"
    );
    // force over a running VM fails in the task, and the VM is left as it was.
    let t = c
        .restore_vm(
            NODE,
            &RestoreVm {
                force: Some(true),
                ..rv.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        failed(&c, &t).await,
        "unable to restore VM 310 - vm is running"
    );
    assert_eq!(lock_of(&c, VM, 310).await, None);
    assert_eq!(
        c.guest_status(VM, NODE, 310).await.unwrap().status,
        "running"
    );
}

#[tokio::test]
async fn vm_backup_restores_with_new_disks_and_macs() {
    let sim = sim().await;
    let c = http_client(&sim);
    clone_vm(&c, 320).await;
    let p = Vzdump {
        mode: Some(BackupMode::Stop),
        ..job(320)
    };
    let volid = backup(&c, &p).await;
    assert!(
        volid.starts_with("local:backup/vzdump-qemu-320-") && volid.ends_with(".vma.zst"),
        "{volid}"
    );
    let r = RestoreVm {
        vmid: 321,
        archive: volid.clone(),
        unique: Some(true),
        ..RestoreVm::default()
    };
    let t = c.restore_vm(NODE, &r).await.unwrap();
    assert_eq!((t.task_type(), t.id()), ("qmrestore", "321"));
    done(&c, &t).await;
    let src = c.guest_config(VM, NODE, 320).await.unwrap();
    let cfg = c.guest_config(VM, NODE, 321).await.unwrap();
    assert_eq!(
        cfg.get("scsi0").as_deref(),
        Some("local-lvm:vm-321-disk-0,size=8G")
    );
    assert_eq!(cfg.get("name"), src.get("name"));
    assert_ne!(cfg.get("net0"), src.get("net0"));
    // A drive parameter next to an archive is refused by qemu-server.
    let e = c
        .send::<serde_json::Value>(
            &paas_proxmox::client::backup::restore_vm_request(
                NODE,
                &RestoreVm {
                    vmid: 322,
                    ..r.clone()
                },
            )
            .param("scsi1", "local-lvm:4"),
        )
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("scsi1: option conflicts with option 'archive'"),
        "{e:?}"
    );
    // An archive that is not on this node's storage.
    let e = c
        .restore_vm(
            NODE,
            &RestoreVm {
                vmid: 323,
                archive: "local:backup/vzdump-qemu-320-2020_01_01-00_00_00.vma.zst".into(),
                ..RestoreVm::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("can't find file 'local:backup/vzdump-qemu-320-2020_01_01-00_00_00.vma.zst'"),
        "{e:?}"
    );
    // The container restore finds out in the task and leaves nothing behind.
    let t = c
        .restore_lxc(
            NODE,
            &RestoreLxc {
                vmid: 324,
                archive: "local:backup/vzdump-lxc-9-2020_01_01-00_00_00.tar.zst".into(),
                storage: Some("local-lvm".into()),
                ..RestoreLxc::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        failed(&c, &t).await,
        "unable to restore CT 324 - can't find file 'local:backup/vzdump-lxc-9-2020_01_01-00_00_00.tar.zst'"
    );
    assert!(sim.guest(324).is_none());
    // A template volume is no backup.
    let e = c
        .restore_lxc(
            NODE,
            &RestoreLxc {
                vmid: 325,
                archive: DEBIAN.into(),
                storage: Some("local-lvm".into()),
                ..RestoreLxc::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message().contains("content type needs to be 'backup'"),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_backup_lock_refuses_conflicts_and_always_goes_away() {
    let sim = sim_with_tasks(400).await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 230).await;
    let t = c.vzdump(NODE, &job(230)).await.unwrap().unwrap();
    wait_lock(&c, CT, 230, "backup").await;
    let res = c.vm_resources().await.unwrap();
    assert_eq!(
        res.iter()
            .find(|r| r.vmid == Some(230))
            .unwrap()
            .lock
            .as_deref(),
        Some("backup")
    );
    let s = c
        .create_snapshot(
            CT,
            NODE,
            230,
            &CreateSnapshot {
                snapname: "x1".into(),
                ..Default::default()
            },
        )
        .await;
    let again = c.vzdump(NODE, &job(230)).await.unwrap().unwrap();
    refused(
        &c,
        c.delete_guest(CT, NODE, 230, DeleteOptions::default())
            .await,
        "CT is locked (backup)",
    )
    .await;
    let e = c
        .update_guest_config(CT, NODE, 230, &ConfigUpdate::default().set("cores", 2))
        .await
        .unwrap_err();
    assert!(e.message().contains("CT is locked (backup)"), "{e:?}");
    refused(&c, s, "CT is locked (backup)").await;
    assert_eq!(failed(&c, &again).await, "job errors");
    assert!(
        log_of(&c, &again)
            .await
            .iter()
            .any(|l| l == "ERROR: Backup of VM 230 failed - CT is locked (backup)")
    );
    done(&c, &t).await;
    assert_eq!(lock_of(&c, CT, 230).await, None);

    // A restore holds `lock: create` on its new container while it runs.
    let volid = c.backups(NODE, "local", Some(230)).await.unwrap()[0]
        .volid
        .clone();
    let r = RestoreLxc {
        vmid: 231,
        archive: volid,
        storage: Some("local-lvm".into()),
        ..RestoreLxc::default()
    };
    let t = c.restore_lxc(NODE, &r).await.unwrap();
    assert_eq!(lock_of(&c, CT, 231).await.as_deref(), Some("create"));
    // A start would wait for the restore's file lock (held by the worker); a config change
    // is refused at once.
    let e = c
        .update_guest_config(CT, NODE, 231, &ConfigUpdate::default().set("cores", 2))
        .await
        .unwrap_err();
    assert!(e.message().contains("CT is locked (create)"), "{e:?}");
    done(&c, &t).await;
    assert_eq!(lock_of(&c, CT, 231).await, None);

    // A failing backup: no archive, and still no lock.
    sim.set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::default()
    });
    let before = sim.backups().len();
    let t = c.vzdump(NODE, &job(230)).await.unwrap().unwrap();
    wait_lock(&c, CT, 230, "backup").await;
    assert_eq!(failed(&c, &t).await, "job errors");
    assert!(
        log_of(&c, &t)
            .await
            .iter()
            .any(|l| l.starts_with("ERROR: Backup of VM 230 failed - command 'tar"))
    );
    assert_eq!(lock_of(&c, CT, 230).await, None);
    assert_eq!(sim.backups().len(), before);
    sim.set_faults(Faults::none());

    // A stop-mode backup of a running guest stops it for the backup and starts it again.
    start(&c, CT, 230).await;
    let t = c
        .vzdump(
            NODE,
            &Vzdump {
                mode: Some(BackupMode::Stop),
                ..job(230)
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.guest_status(CT, NODE, 230).await.unwrap().status,
        "stopped"
    );
    done(&c, &t).await;
    assert_eq!(
        c.guest_status(CT, NODE, 230).await.unwrap().status,
        "running"
    );
}

#[tokio::test]
async fn storages_and_jobs_pve_refuses() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 240).await;
    // PM VZDump.pm:202 via `new`: the job fails in the task.
    let t = c
        .vzdump(
            NODE,
            &Vzdump {
                storage: Some("local-lvm".into()),
                ..job(240)
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        failed(&c, &t).await,
        "could not get storage information for 'local-lvm': can't use storage 'local-lvm' for backups - wrong content type"
    );
    let t = c
        .vzdump(
            NODE,
            &Vzdump {
                storage: Some("nope".into()),
                ..job(240)
            },
        )
        .await
        .unwrap()
        .unwrap();
    // Two errors, one per line in PVE's message (the task status joins them).
    let exit = failed(&c, &t).await;
    assert!(
        exit.starts_with("could not activate storage 'nope': storage 'nope' does not exist"),
        "{exit}"
    );
    assert_eq!(lock_of(&c, CT, 240).await, None);
    // A VMID that does not exist fails visibly; one on another node is skipped with "OK".
    let t = c.vzdump(NODE, &job(999)).await.unwrap().unwrap();
    assert_eq!(failed(&c, &t).await, "job errors");
    assert!(
        log_of(&c, &t)
            .await
            .iter()
            .any(|l| l == "ERROR: Backup of VM 999 failed - unable to find VM '999'")
    );
    create_ct(&c, "pve2", 241).await;
    assert_eq!(c.vzdump(NODE, &job(241)).await.unwrap(), None);
    // Parameter checks of verify_vzdump_parameters.
    let e = c
        .vzdump(
            NODE,
            &Vzdump {
                vmids: vec![],
                ..job(240)
            },
        )
        .await
        .unwrap_err();
    assert!(e.message().contains("vmid: property is missing"), "{e:?}");
    let e = c
        .vzdump(
            NODE,
            &Vzdump {
                all: Some(true),
                ..job(240)
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("all: option conflicts with option 'vmid'"),
        "{e:?}"
    );
    let e = c
        .vzdump(
            NODE,
            &Vzdump {
                notes_template: Some("{{owner}}".into()),
                ..job(240)
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("found unknown: variable 'owner' at char 2"),
        "{e:?}"
    );
    let bad = Retention {
        keep_all: true,
        keep_last: Some(2),
        ..Retention::default()
    };
    let e = c
        .vzdump(
            NODE,
            &Vzdump {
                prune_backups: Some(bad),
                ..job(240)
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("keep-all cannot be set together with other options"),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn protected_backups_and_deletion() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 250).await;
    let volid = backup(&c, &job(250)).await;
    c.update_backup(NODE, "local", &volid, Some("golden"), Some(true))
        .await
        .unwrap();
    let b = &c.backups(NODE, "local", Some(250)).await.unwrap()[0];
    assert!(b.protected);
    assert_eq!(b.notes.as_deref(), Some("golden"));
    let t = c.delete_volume(NODE, "local", &volid).await.unwrap();
    assert_eq!((t.task_type(), t.id()), ("imgdel", "250@local"));
    let name = volid.strip_prefix("local:").unwrap();
    assert_eq!(
        failed(&c, &t).await,
        format!("cannot remove protected volume '{name}' on 'local'")
    );
    c.update_backup(NODE, "local", &volid, None, Some(false))
        .await
        .unwrap();
    // The volume may come unencoded, slash and all (ST API2/Storage/Status.pm:35
    // `fragmentDelimiter => ''`): proxmoxer sends it that way.
    let url = format!(
        "{}/api2/json/nodes/{NODE}/storage/local/content/{volid}",
        sim.http_url()
    );
    let r = reqwest::Client::new()
        .get(url)
        .header("Authorization", sim.token().header_value())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let attrs: serde_json::Value = r.json().await.unwrap();
    assert_eq!(attrs["data"]["notes"], "golden");
    assert_eq!(attrs["data"]["protected"], 0);
    done(&c, &c.delete_volume(NODE, "local", &volid).await.unwrap()).await;
    assert!(
        c.backups(NODE, "local", Some(250))
            .await
            .unwrap()
            .is_empty()
    );
    // Templates have attributes too.
    let tmpl: serde_json::Value = c
        .send(&paas_proxmox::client::ApiRequest::new(
            paas_proxmox::client::Method::Get,
            ["nodes", NODE, "storage", "local", "content", DEBIAN],
        ))
        .await
        .unwrap();
    assert_eq!(tmpl["format"], "tzst");
    // Deleting it again: PVE only warns that the file is gone.
    done(&c, &c.delete_volume(NODE, "local", &volid).await.unwrap()).await;
}

#[tokio::test]
async fn pruning_keeps_what_the_retention_says() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 260).await;
    let mut made = Vec::new();
    for _ in 0..4 {
        made.push(backup(&c, &job(260)).await);
        sim.advance_time(Duration::from_secs(3600));
    }
    c.update_backup(NODE, "local", &made[0], None, Some(true))
        .await
        .unwrap();
    let keep2 = Retention {
        keep_last: Some(2),
        ..Retention::default()
    };
    let preview = c
        .prune_preview(NODE, "local", &keep2, Some(260))
        .await
        .unwrap();
    let marks: Vec<(&str, &str)> = preview
        .iter()
        .map(|p| (p.volid.as_str(), p.mark.as_str()))
        .collect();
    assert_eq!(
        marks,
        [
            (made[0].as_str(), "protected"),
            (made[1].as_str(), "remove"),
            (made[2].as_str(), "keep"),
            (made[3].as_str(), "keep"),
        ]
    );
    assert_eq!(
        c.backups(NODE, "local", Some(260)).await.unwrap().len(),
        4,
        "a preview removes nothing"
    );
    let t = c
        .prune_backups(NODE, "local", &keep2, Some(260))
        .await
        .unwrap();
    assert_eq!((t.task_type(), t.id()), ("prunebackups", "260@local"));
    done(&c, &t).await;
    let left: Vec<String> = c
        .backups(NODE, "local", Some(260))
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.volid)
        .collect();
    assert_eq!(left, [made[0].clone(), made[2].clone(), made[3].clone()]);

    // vzdump prunes the guest's older backups itself (remove defaults to 1).
    let p = Vzdump {
        prune_backups: Some(Retention {
            keep_last: Some(1),
            ..Retention::default()
        }),
        ..job(260)
    };
    let t = c.vzdump(NODE, &p).await.unwrap().unwrap();
    done(&c, &t).await;
    let log = log_of(&c, &t).await;
    assert!(
        log.iter()
            .any(|l| l == "INFO: prune older backups with retention: keep-last=1"),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l == "INFO: pruned 2 backup(s) not covered by keep-retention policy"),
        "{log:?}"
    );
    assert_eq!(
        c.backups(NODE, "local", Some(260)).await.unwrap().len(),
        2,
        "the protected one and the new one"
    );
    // Without options the storage has none configured.
    let e = c
        .send::<serde_json::Value>(&paas_proxmox::client::backup::prune_request(
            paas_proxmox::client::Method::Get,
            NODE,
            "local",
            None,
            None,
        ))
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("no prune-backups options configured for storage 'local'"),
        "{e:?}"
    );
    // And a storage without backups refuses.
    let e = c
        .prune_preview(NODE, "local-lvm", &keep2, None)
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("storage 'local-lvm' does not support backups"),
        "{e:?}"
    );
}

#[tokio::test]
async fn plain_qemu_create_allocates_its_disks() {
    use paas_proxmox::client::{ApiRequest, Method};
    let sim = sim().await;
    let c = http_client(&sim);
    c.create_pool("vms", None).await.unwrap();
    let req = ApiRequest::new(Method::Post, ["nodes", NODE, "qemu"])
        .param("vmid", 400)
        .param("name", "blank")
        .param("memory", 1024)
        .param("cores", 2)
        .param("scsi0", "local-lvm:4,discard=on")
        .param("net0", "virtio,bridge=vmbr0")
        .param("pool", "vms");
    let upid: paas_proxmox::client::Upid = c.send(&req).await.unwrap();
    assert_eq!((upid.task_type(), upid.id()), ("qmcreate", "400"));
    done(&c, &upid).await;
    let cfg = c.guest_config(VM, NODE, 400).await.unwrap();
    assert_eq!(
        cfg.get("scsi0").as_deref(),
        Some("local-lvm:vm-400-disk-0,size=4G,discard=on")
    );
    let net = cfg.get("net0").unwrap();
    assert!(
        net.starts_with("virtio=BC:24:11:") && net.ends_with(",bridge=vmbr0"),
        "{net}"
    );
    assert_eq!(cfg.get("boot").as_deref(), Some("order=scsi0;net0"));
    assert_eq!(sim.pools()["vms"], vec![400]);
    // The VMID is taken now.
    let e = c.send::<serde_json::Value>(&req).await.unwrap_err();
    assert!(
        e.message()
            .contains("unable to create VM 400 - VM 400 already exists on node 'pve1'"),
        "{e:?}"
    );
    // A storage without images.
    let bad = ApiRequest::new(Method::Post, ["nodes", NODE, "qemu"])
        .param("vmid", 401)
        .param("scsi0", "local:4");
    if let Err(e) = c.send::<serde_json::Value>(&bad).await {
        assert!(e.message().contains("does not support vm images"), "{e:?}");
    }
}

#[tokio::test]
async fn racing_restores_into_one_vmid_never_overwrite_each_other() {
    let sim = sim_with_tasks(50).await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 270).await;
    let volid = backup(&c, &job(270)).await;
    let attempts = futures::future::join_all((0..8).map(|i| {
        let c = c.clone();
        let r = RestoreLxc {
            vmid: 500,
            archive: volid.clone(),
            storage: Some("local-lvm".into()),
            hostname: Some(format!("attempt{i}")),
            ..RestoreLxc::default()
        };
        async move { c.restore_lxc(NODE, &r).await }
    }))
    .await;
    let mut won = Vec::new();
    for (i, a) in attempts.into_iter().enumerate() {
        match a {
            Ok(t) => {
                done(&c, &t).await;
                won.push(i);
            }
            Err(e) => assert!(e.message().contains("already exists"), "{e:?}"),
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    let host = c
        .guest_config(CT, NODE, 500)
        .await
        .unwrap()
        .get("hostname")
        .unwrap();
    assert_eq!(host, format!("attempt{}", won[0]));
}
