//! Snapshots of containers and VMs through the typed client and the simulator: the
//! snapshot tree, rollback of the whole config, PVE's texts, and the locks while tasks run.

mod client_support;
mod ops_support;

use client_support::*;
use ops_support::*;
use paas_core::ErrorKind;
use paas_proxmox::client::backup::Vzdump;
use paas_proxmox::client::guest::{ConfigUpdate, GuestType};
use paas_proxmox::client::snapshot::CreateSnapshot;
use paas_proxmox::sim::Faults;

const CT: GuestType = GuestType::Lxc;
const VM: GuestType = GuestType::Qemu;

fn snap(name: &str, description: Option<&str>) -> CreateSnapshot {
    CreateSnapshot {
        snapname: name.into(),
        description: description.map(Into::into),
        vmstate: None,
    }
}

#[tokio::test]
async fn ct_snapshot_tree_rollback_and_delete() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 200).await;
    c.update_guest_config(
        CT,
        NODE,
        200,
        &ConfigUpdate::default().set("description", "app v1"),
    )
    .await
    .unwrap();

    let t = c
        .create_snapshot(CT, NODE, 200, &snap("s1", Some("before upgrade")))
        .await
        .unwrap();
    assert_eq!(t.task_type(), "vzsnapshot");
    assert_eq!(t.id(), "200");
    done(&c, &t).await;
    // The current config points at its snapshot (PVE writes `parent` into it).
    assert_eq!(
        c.guest_config(CT, NODE, 200)
            .await
            .unwrap()
            .get("parent")
            .as_deref(),
        Some("s1")
    );

    // Change the config, snapshot again: s2's parent is s1.
    c.update_guest_config(
        CT,
        NODE,
        200,
        &ConfigUpdate::default()
            .set("memory", 1024)
            .set("tags", "paas-managed;v2")
            .set("description", "app v2"),
    )
    .await
    .unwrap();
    done(
        &c,
        &c.create_snapshot(CT, NODE, 200, &snap("s2", None))
            .await
            .unwrap(),
    )
    .await;
    let list = c.snapshots(CT, NODE, 200).await.unwrap();
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["s1", "s2", "current"]);
    assert_eq!(list[0].description.as_deref(), Some("before upgrade"));
    assert_eq!(list[0].parent, None);
    assert_eq!(list[1].parent.as_deref(), Some("s1"));
    assert_eq!(list[1].description.as_deref(), Some(""));
    assert!(list[2].is_current());
    assert_eq!(list[2].parent.as_deref(), Some("s2"));
    assert_eq!(list[2].description.as_deref(), Some("You are here!"));
    assert!(list[0].snaptime.unwrap() > 0);
    // The snapshot's config is the config as it was.
    let s1 = c.snapshot_config(CT, NODE, 200, "s1").await.unwrap();
    assert_eq!(s1.get("memory").as_deref(), Some("256"));
    assert_eq!(s1.get("description").as_deref(), Some("before upgrade"));
    c.set_snapshot_description(CT, NODE, 200, "s1", "v1 baseline")
        .await
        .unwrap();

    // Roll back a running container to s1: stopped, config of s1, own description kept.
    start(&c, CT, 200).await;
    let t = c
        .rollback_snapshot(CT, NODE, 200, "s1", None)
        .await
        .unwrap();
    assert_eq!(t.task_type(), "vzrollback");
    done(&c, &t).await;
    let cfg = c.guest_config(CT, NODE, 200).await.unwrap();
    assert_eq!(cfg.get("memory").as_deref(), Some("256"));
    assert_eq!(cfg.get("tags").as_deref(), Some("paas-managed"));
    assert_eq!(
        cfg.get("description").as_deref(),
        Some("app v2"),
        "PVE keeps the description"
    );
    assert_eq!(cfg.get("parent").as_deref(), Some("s1"));
    assert_eq!(cfg.get("lock"), None);
    assert_eq!(
        c.guest_status(CT, NODE, 200).await.unwrap().status,
        "stopped"
    );
    // start=1 starts it again.
    done(
        &c,
        &c.rollback_snapshot(CT, NODE, 200, "s2", Some(true))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        c.guest_status(CT, NODE, 200).await.unwrap().status,
        "running"
    );
    assert_eq!(
        c.guest_config(CT, NODE, 200)
            .await
            .unwrap()
            .get("memory")
            .as_deref(),
        Some("1024")
    );

    // Deleting s1 relinks s2 (and the current config) to s1's parent: none.
    shutdown(&c, CT, 200).await;
    done(
        &c,
        &c.rollback_snapshot(CT, NODE, 200, "s1", None)
            .await
            .unwrap(),
    )
    .await;
    let t = c.delete_snapshot(CT, NODE, 200, "s1", None).await.unwrap();
    assert_eq!(t.task_type(), "vzdelsnapshot");
    done(&c, &t).await;
    let list = c.snapshots(CT, NODE, 200).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].name, "s2");
    assert_eq!(list[0].parent, None);
    assert_eq!(list[1].parent, None, "current's parent was s1");
    assert_eq!(
        c.guest_config(CT, NODE, 200).await.unwrap().get("parent"),
        None
    );
}

#[tokio::test]
async fn snapshot_errors_use_pves_texts() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 210).await;
    done(
        &c,
        &c.create_snapshot(CT, NODE, 210, &snap("s1", None))
            .await
            .unwrap(),
    )
    .await;

    // Checks PVE runs in the worker end the task.
    let t = c
        .create_snapshot(CT, NODE, 210, &snap("s1", None))
        .await
        .unwrap();
    assert_eq!(failed(&c, &t).await, "snapshot name 's1' already used");
    let t = c
        .delete_snapshot(CT, NODE, 210, "nope", None)
        .await
        .unwrap();
    assert_eq!(failed(&c, &t).await, "snapshot 'nope' does not exist");
    let t = c
        .rollback_snapshot(CT, NODE, 210, "nope", None)
        .await
        .unwrap();
    assert_eq!(failed(&c, &t).await, "snapshot 'nope' does not exist");
    // A container that is not there: the LXC API forks before it reads the config.
    let t = c
        .create_snapshot(CT, NODE, 999, &snap("s1", None))
        .await
        .unwrap();
    assert_eq!(
        failed(&c, &t).await,
        "Configuration file 'nodes/pve1/lxc/999.conf' does not exist"
    );
    // qemu-server reads it first: a 500 at once.
    let e = c
        .create_snapshot(VM, NODE, 999, &snap("s1", None))
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist"),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // Reserved names are refused before a task starts.
    for (kind, name) in [
        (CT, "current"),
        (CT, "vzdump"),
        (VM, "current"),
        (VM, "pending"),
    ] {
        let e = c
            .create_snapshot(kind, NODE, 210, &snap(name, None))
            .await
            .unwrap_err();
        assert!(
            e.message().contains(&format!(
                "unable to use snapshot name '{name}' (reserved name)"
            )),
            "{e:?}"
        );
    }
    // Templates cannot be snapshotted.
    let t = c
        .create_snapshot(VM, NODE, TEMPLATE_VM, &snap("s1", None))
        .await
        .unwrap();
    assert_eq!(
        failed(&c, &t).await,
        "you can't take a snapshot if it's a template"
    );
    // Raw images on a directory storage have no snapshots.
    let p = paas_proxmox::client::lxc::CreateLxc {
        vmid: 211,
        ostemplate: DEBIAN.into(),
        rootfs: Some("local:2".into()),
        ..Default::default()
    };
    if let Ok(t) = c.create_lxc(NODE, &p).await
        && c.wait_task(&t, Default::default()).await.is_ok()
    {
        let t = c
            .create_snapshot(CT, NODE, 211, &snap("s1", None))
            .await
            .unwrap();
        assert_eq!(failed(&c, &t).await, "snapshot feature is not available");
    }
    // An invalid name is a 400 from the schema (pve-configid, 40 characters).
    let e = c
        .create_snapshot(CT, NODE, 210, &snap("1abc", None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    // The config of a snapshot that is not there.
    let e = c.snapshot_config(CT, NODE, 210, "nope").await.unwrap_err();
    assert!(
        e.message().contains("snapshot 'nope' does not exist"),
        "{e:?}"
    );
    // Containers have no vmstate: the client refuses before sending.
    let e = c
        .create_snapshot(
            CT,
            NODE,
            210,
            &CreateSnapshot {
                vmstate: Some(true),
                ..snap("s9", None)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_snapshot_in_progress_locks_the_guest_and_the_lock_always_goes() {
    let sim = sim_with_tasks(400).await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 220).await;

    let t = c
        .create_snapshot(CT, NODE, 220, &snap("s1", None))
        .await
        .unwrap();
    wait_lock(&c, CT, 220, "snapshot").await;
    let list = c.snapshots(CT, NODE, 220).await.unwrap();
    assert_eq!(list[0].snapstate.as_deref(), Some("prepare"));
    // Everything that needs the config refuses with PVE's text.
    let e = c
        .update_guest_config(CT, NODE, 220, &ConfigUpdate::default().set("memory", 512))
        .await
        .unwrap_err();
    assert!(e.message().contains("CT is locked (snapshot)"), "{e:?}");
    // Both start while s1 still runs; their tasks fail as PVE's workers do.
    let s2 = c.create_snapshot(CT, NODE, 220, &snap("s2", None)).await;
    let job = Vzdump {
        vmids: vec![220],
        ..Vzdump::default()
    };
    let b = c.vzdump(NODE, &job).await.unwrap().unwrap();
    refused(
        &c,
        c.start_guest(CT, NODE, 220).await,
        "CT is locked (snapshot)",
    )
    .await;
    refused(&c, s2, "CT is locked (snapshot)").await;
    assert_eq!(failed(&c, &b).await, "job errors");
    assert!(
        log_of(&c, &b)
            .await
            .iter()
            .any(|l| l == "ERROR: Backup of VM 220 failed - CT is locked (snapshot)"),
        "{:?}",
        log_of(&c, &b).await
    );
    done(&c, &t).await;
    assert_eq!(lock_of(&c, CT, 220).await, None);
    assert_eq!(c.snapshots(CT, NODE, 220).await.unwrap()[0].snapstate, None);

    // A failed snapshot task cleans up: no lock, no half snapshot (GC AbstractConfig.pm:873
    // "snapshot create failed: starting cleanup").
    sim.set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::default()
    });
    let t = c
        .create_snapshot(CT, NODE, 220, &snap("s3", None))
        .await
        .unwrap();
    assert!(failed(&c, &t).await.contains("lvcreate snapshot"));
    sim.set_faults(Faults::none());
    assert_eq!(lock_of(&c, CT, 220).await, None);
    assert!(!sim.snapshots(220).unwrap().contains(&"s3".to_string()));
}

#[tokio::test]
async fn racing_snapshots_of_one_guest_one_wins() {
    let sim = sim_with_tasks(100).await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 230).await;
    let tasks = futures::future::join_all((0..8).map(|i| {
        let c = c.clone();
        async move {
            c.create_snapshot(CT, NODE, 230, &snap(&format!("s{i}"), None))
                .await
                .unwrap()
        }
    }))
    .await;
    let mut ok = 0;
    for t in &tasks {
        match c.wait_task(t, Default::default()).await {
            Ok(_) => ok += 1,
            Err(e) => assert!(e.message().contains("CT is locked (snapshot)"), "{e:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one snapshot may hold the lock");
    assert_eq!(sim.snapshots(230).unwrap().len(), 1);
    assert_eq!(lock_of(&c, CT, 230).await, None);
}

#[tokio::test]
async fn failed_delete_and_rollback_leave_pves_locks_behind() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 240).await;
    done(
        &c,
        &c.create_snapshot(CT, NODE, 240, &snap("s1", None))
            .await
            .unwrap(),
    )
    .await;
    sim.set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::default()
    });
    // GC AbstractConfig.pm:1063 `die $err if !$force;` after `set_lock('snapshot-delete')`:
    // nothing removes the lock, the snapshot stays `snapstate: delete`.
    let t = c.delete_snapshot(CT, NODE, 240, "s1", None).await.unwrap();
    assert!(failed(&c, &t).await.contains("lvremove"));
    assert_eq!(
        lock_of(&c, CT, 240).await.as_deref(),
        Some("snapshot-delete")
    );
    assert_eq!(
        c.snapshots(CT, NODE, 240).await.unwrap()[0]
            .snapstate
            .as_deref(),
        Some("delete")
    );
    refused(
        &c,
        c.delete_snapshot(CT, NODE, 240, "s1", Some(true)).await,
        "CT is locked (snapshot-delete)",
    )
    .await;
    // `pct unlock`, then a forced delete removes it even though the volume step fails.
    sim.set_guest_lock(240, None).unwrap();
    done(
        &c,
        &c.delete_snapshot(CT, NODE, 240, "s1", Some(true))
            .await
            .unwrap(),
    )
    .await;
    assert!(sim.snapshots(240).unwrap().is_empty());

    sim.set_faults(Faults::none());
    done(
        &c,
        &c.create_snapshot(CT, NODE, 240, &snap("s2", None))
            .await
            .unwrap(),
    )
    .await;
    sim.set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::default()
    });
    let t = c
        .rollback_snapshot(CT, NODE, 240, "s2", None)
        .await
        .unwrap();
    assert!(failed(&c, &t).await.contains("lvconvert"));
    assert_eq!(lock_of(&c, CT, 240).await.as_deref(), Some("rollback"));
}

#[tokio::test]
async fn vm_snapshots_with_and_without_ram() {
    let sim = sim().await;
    let c = http_client(&sim);
    clone_vm(&c, 300).await;
    start(&c, VM, 300).await;
    let p = CreateSnapshot {
        vmstate: Some(true),
        ..snap("live", Some("with RAM"))
    };
    let t = c.create_snapshot(VM, NODE, 300, &p).await.unwrap();
    assert_eq!(t.task_type(), "qmsnapshot");
    done(&c, &t).await;
    done(
        &c,
        &c.create_snapshot(VM, NODE, 300, &snap("disk", None))
            .await
            .unwrap(),
    )
    .await;
    let list = c.snapshots(VM, NODE, 300).await.unwrap();
    let live = list.iter().find(|s| s.name == "live").unwrap();
    assert!(live.vmstate);
    assert!(!list.iter().find(|s| s.name == "disk").unwrap().vmstate);
    assert!(list.last().unwrap().running);
    let cfg = c.snapshot_config(VM, NODE, 300, "live").await.unwrap();
    assert_eq!(
        cfg.get("vmstate").as_deref(),
        Some("local-lvm:vm-300-state-live")
    );

    // Rollback to a RAM snapshot resumes the VM running; to a disk-only one leaves it off.
    let t = c
        .rollback_snapshot(VM, NODE, 300, "disk", None)
        .await
        .unwrap();
    assert_eq!(t.task_type(), "qmrollback");
    done(&c, &t).await;
    assert_eq!(
        c.guest_status(VM, NODE, 300).await.unwrap().status,
        "stopped"
    );
    done(
        &c,
        &c.rollback_snapshot(VM, NODE, 300, "live", None)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        c.guest_status(VM, NODE, 300).await.unwrap().status,
        "running"
    );
    // A stopped VM saves no RAM even when asked.
    shutdown(&c, VM, 300).await;
    let p = CreateSnapshot {
        vmstate: Some(true),
        ..snap("cold", None)
    };
    done(&c, &c.create_snapshot(VM, NODE, 300, &p).await.unwrap()).await;
    let cold = c
        .snapshots(VM, NODE, 300)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == "cold")
        .unwrap();
    assert!(!cold.vmstate);
    let t = c
        .delete_snapshot(VM, NODE, 300, "cold", None)
        .await
        .unwrap();
    assert_eq!(t.task_type(), "qmdelsnapshot");
    done(&c, &t).await;
}
