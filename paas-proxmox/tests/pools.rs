//! Resource pools through the typed client: nesting, membership from create/clone/update,
//! `/cluster/resources` taking `pool` from membership, and PVE's texts.

mod client_support;
mod ops_support;

use client_support::*;
use ops_support::*;
use paas_core::ErrorKind;
use paas_proxmox::client::guest::{DeleteOptions, GuestType};
use paas_proxmox::client::lxc::CreateLxc;
use paas_proxmox::client::pools::PoolUpdate;
use paas_proxmox::client::qemu::CloneVm;

#[tokio::test]
async fn pools_nest_hold_guests_and_empty_before_deletion() {
    let sim = sim().await;
    let c = http_client(&sim);
    c.create_pool("tenant-a", Some("Acme")).await.unwrap();
    c.create_pool("tenant-a/web", None).await.unwrap();
    c.create_pool("tenant-a/web/blue", None).await.unwrap();
    // AC AccessControl.pm:1346 nesting limit, through the pve-poolid format: a 400.
    let e = c
        .create_pool("tenant-a/web/blue/x", None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.message()
            .contains("pool name 'tenant-a/web/blue/x' nested too deeply (max levels = 3)"),
        "{e:?}"
    );
    let e = c.create_pool("bad name", None).await.unwrap_err();
    assert!(
        e.message()
            .contains("pool name 'bad name' contains invalid characters"),
        "{e:?}"
    );
    // Handler texts (PM API2/Pool.pm:186-196), prefixed by lock_user_config's message.
    let e = c.create_pool("tenant-a", None).await.unwrap_err();
    assert!(
        e.message()
            .contains("create pool failed: pool 'tenant-a' already exists"),
        "{e:?}"
    );
    let e = c.create_pool("nope/child", None).await.unwrap_err();
    assert!(
        e.message()
            .contains("create pool failed: parent 'nope' of pool 'nope/child' does not exist"),
        "{e:?}"
    );
    let e = c.create_pool("9lives", None).await.unwrap_err();
    assert!(
        e.message()
            .contains("create pool failed: pool name must start with a letter"),
        "{e:?}"
    );
    let ids: Vec<String> = c
        .pools()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.poolid)
        .collect();
    assert_eq!(ids, ["tenant-a", "tenant-a/web", "tenant-a/web/blue"]);
    assert_eq!(c.pools().await.unwrap()[0].comment.as_deref(), Some("Acme"));

    // pool= on create and clone adds membership once the task succeeded.
    let p = CreateLxc {
        vmid: 200,
        ostemplate: DEBIAN.into(),
        rootfs: Some("local-lvm:2".into()),
        pool: Some("tenant-a".into()),
        ..CreateLxc::default()
    };
    done(&c, &c.create_lxc(NODE, &p).await.unwrap()).await;
    let clone = CloneVm {
        newid: 300,
        pool: Some("tenant-a/web".into()),
        ..CloneVm::default()
    };
    done(&c, &c.clone_vm(NODE, TEMPLATE_VM, &clone).await.unwrap()).await;
    let info = c.pool("tenant-a").await.unwrap();
    assert_eq!(info.comment.as_deref(), Some("Acme"));
    let members: Vec<&str> = info.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(members, ["lxc/200"]);
    assert_eq!(info.members[0].node.as_deref(), Some(NODE));
    // /cluster/resources: pool from user.cfg, and no `pool` key in the guest config.
    let res = c.vm_resources().await.unwrap();
    let pool_of = |vmid: u64| {
        res.iter()
            .find(|r| r.vmid == Some(vmid))
            .and_then(|r| r.pool.clone())
    };
    assert_eq!(pool_of(200).as_deref(), Some("tenant-a"));
    assert_eq!(pool_of(300).as_deref(), Some("tenant-a/web"));
    assert_eq!(pool_of(u64::from(TEMPLATE_VM)), None);
    assert_eq!(
        c.guest_config(GuestType::Lxc, NODE, 200)
            .await
            .unwrap()
            .get("pool"),
        None
    );
    assert_eq!(
        c.guest_config(GuestType::Qemu, NODE, 300)
            .await
            .unwrap()
            .get("pool"),
        None
    );

    // Storage members and removing members.
    let add = PoolUpdate {
        storage: vec!["local".into()],
        comment: Some("Acme Corp".into()),
        ..PoolUpdate::default()
    };
    c.update_pool("tenant-a", &add).await.unwrap();
    let info = c.pool("tenant-a").await.unwrap();
    assert!(
        info.members
            .iter()
            .any(|m| m.id == "storage/pve1/local" && m.kind == "storage")
    );
    assert_eq!(info.comment.as_deref(), Some("Acme Corp"));

    // Deletion needs an empty pool (PM API2/Pool.pm:514-529).
    let e = c.delete_pool("tenant-a").await.unwrap_err();
    assert!(
        e.message().contains(
            "delete pool failed: pool 'tenant-a' is not empty (contains pool 'tenant-a/web')"
        ),
        "{e:?}"
    );
    c.delete_pool("tenant-a/web/blue").await.unwrap();
    let e = c.delete_pool("tenant-a/web").await.unwrap_err();
    assert!(
        e.message().contains("is not empty (contains VM 300)"),
        "{e:?}"
    );
    // Destroying a guest takes it out of its pool (remove_vm_access).
    done(
        &c,
        &c.delete_guest(GuestType::Qemu, NODE, 300, DeleteOptions::default())
            .await
            .unwrap(),
    )
    .await;
    c.delete_pool("tenant-a/web").await.unwrap();
    let e = c.delete_pool("tenant-a").await.unwrap_err();
    assert!(
        e.message().contains("is not empty (contains VM 200)"),
        "{e:?}"
    );
    c.update_pool(
        "tenant-a",
        &PoolUpdate {
            vms: vec![200],
            storage: vec!["local".into()],
            delete: true,
            ..PoolUpdate::default()
        },
    )
    .await
    .unwrap();
    c.delete_pool("tenant-a").await.unwrap();
    assert!(c.pools().await.unwrap().is_empty());
    let e = c.delete_pool("tenant-a").await.unwrap_err();
    assert!(
        e.message()
            .contains("delete pool failed: pool 'tenant-a' does not exist"),
        "{e:?}"
    );
    let e = c.pool("tenant-a").await.unwrap_err();
    assert!(
        e.message().contains("pool 'tenant-a' does not exist"),
        "{e:?}"
    );
    assert_eq!(
        c.vm_resources()
            .await
            .unwrap()
            .iter()
            .find(|r| r.vmid == Some(200))
            .unwrap()
            .pool,
        None
    );
}

#[tokio::test]
async fn membership_rules_and_missing_pools() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 210).await;
    c.create_pool("a", None).await.unwrap();
    c.create_pool("b", None).await.unwrap();
    let add = |p: &str| {
        let c = c.clone();
        let p = p.to_string();
        async move {
            c.update_pool(
                &p,
                &PoolUpdate {
                    vms: vec![210],
                    ..PoolUpdate::default()
                },
            )
            .await
        }
    };
    add("a").await.unwrap();
    let e = add("a").await.unwrap_err();
    assert!(
        e.message()
            .contains("update pools failed: VM 210 is already a pool member"),
        "{e:?}"
    );
    let e = add("b").await.unwrap_err();
    assert!(
        e.message()
            .contains("VM 210 belongs already to pool 'a' and 'allow-move' is not set"),
        "{e:?}"
    );
    c.update_pool(
        "b",
        &PoolUpdate {
            vms: vec![210],
            allow_move: true,
            ..PoolUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(sim.pools()["a"], Vec::<u32>::new());
    assert_eq!(sim.pools()["b"], vec![210]);
    let e = c
        .update_pool(
            "a",
            &PoolUpdate {
                vms: vec![210],
                delete: true,
                ..PoolUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(e.message().contains("VM 210 is not a pool member"), "{e:?}");
    let e = c
        .update_pool("zzz", &PoolUpdate::default())
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("update pools failed: pool 'zzz' does not exist"),
        "{e:?}"
    );

    // A pool that does not exist: 403, even for root (AC RPCEnvironment.pm:385
    // check_pool_exist), checked after the VMID (CT API2/LXC.pm:277 then :289).
    let p = CreateLxc {
        vmid: 211,
        ostemplate: DEBIAN.into(),
        pool: Some("nope".into()),
        ..CreateLxc::default()
    };
    let e = c.create_lxc(NODE, &p).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e:?}");
    assert!(
        e.message()
            .contains("HTTP 403 Permission check failed (pool 'nope' does not exist)"),
        "{e:?}"
    );
    assert!(sim.guest(211).is_none());
    let e = c
        .create_lxc(
            NODE,
            &CreateLxc {
                vmid: 210,
                ..p.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message().contains("CT 210 already exists"),
        "the VMID is checked first: {e:?}"
    );
    let e = c
        .clone_vm(
            NODE,
            TEMPLATE_VM,
            &CloneVm {
                newid: 310,
                pool: Some("nope".into()),
                ..CloneVm::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (pool 'nope' does not exist)"),
        "{e:?}"
    );
    // A failed create adds nothing to the pool.
    sim.set_faults(paas_proxmox::sim::Faults {
        task_failure_rate: 1.0,
        ..Default::default()
    });
    let t = c
        .create_lxc(
            NODE,
            &CreateLxc {
                vmid: 212,
                rootfs: Some("local-lvm:2".into()),
                pool: Some("a".into()),
                ..p
            },
        )
        .await
        .unwrap();
    failed(&c, &t).await;
    assert!(sim.pools()["a"].is_empty());
}
