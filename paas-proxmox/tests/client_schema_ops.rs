//! Every snapshot, backup, restore, pool and access request the client can build passes the
//! simulator's validation against the PVE 9.1.3 schema (the companion of `client_schema`).

mod client_support;
mod ops_support;

use client_support::*;
use ops_support::{NODE, clone_vm, create_ct};
use paas_core::model::Secret;
use paas_proxmox::client::access::{self, AclUpdate, NewToken, NewUser};
use paas_proxmox::client::backup::{
    self, BackupMode, Compression, RestoreLxc, RestoreVm, Retention, Vzdump,
};
use paas_proxmox::client::error::{ErrorClass, class_of};
use paas_proxmox::client::guest::GuestType;
use paas_proxmox::client::pools::{self, PoolUpdate};
use paas_proxmox::client::snapshot::{self, CreateSnapshot};
use paas_proxmox::client::{ApiRequest, Method, ProxmoxClient, Upid, WaitOptions};

/// Sends `req`; fails the test if the schema refused it (or the route is unknown).
async fn accepted(c: &ProxmoxClient, req: &ApiRequest) -> Option<serde_json::Value> {
    match c.send::<serde_json::Value>(req).await {
        Ok(v) => Some(v),
        Err(e) => {
            assert!(
                !matches!(
                    class_of(&e),
                    Some(ErrorClass::InvalidParameters | ErrorClass::NotImplemented)
                ) && !e.message().contains("Parameter verification failed"),
                "{req:?} was refused by the schema: {e}"
            );
            None
        }
    }
}

/// Sends a task-returning request and waits for the task (its outcome is not the point).
async fn accepted_task(c: &ProxmoxClient, req: &ApiRequest) {
    if let Some(v) = accepted(c, req).await
        && let Some(upid) = v.as_str().and_then(|s| s.parse::<Upid>().ok())
    {
        let _ = c.wait_task(&upid, WaitOptions::default()).await;
    }
}

#[tokio::test]
async fn every_ops_request_passes_schema_validation() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, NODE, 100).await;
    clone_vm(&c, 200).await;

    // Snapshots, both kinds, every parameter.
    for (kind, vmid) in [(GuestType::Lxc, 100u32), (GuestType::Qemu, 200)] {
        let p = CreateSnapshot {
            snapname: "s1".into(),
            description: Some("before upgrade".into()),
            vmstate: (kind == GuestType::Qemu).then_some(true),
        };
        accepted_task(&c, &snapshot::create_request(kind, NODE, vmid, &p).unwrap()).await;
        accepted(&c, &snapshot::list_request(kind, NODE, vmid))
            .await
            .unwrap();
        accepted(&c, &snapshot::config_request(kind, NODE, vmid, "s1"))
            .await
            .unwrap();
        accepted(&c, &snapshot::update_request(kind, NODE, vmid, "s1", "v1"))
            .await
            .unwrap();
        accepted_task(
            &c,
            &snapshot::rollback_request(kind, NODE, vmid, "s1", Some(false)),
        )
        .await;
        accepted_task(
            &c,
            &snapshot::rollback_request(kind, NODE, vmid, "s1", None),
        )
        .await;
        accepted_task(
            &c,
            &snapshot::delete_request(kind, NODE, vmid, "s1", Some(true)),
        )
        .await;
        accepted_task(&c, &snapshot::delete_request(kind, NODE, vmid, "s1", None)).await;
    }

    // Backups with every option, then the volume calls, pruning and restores.
    let keep = Retention {
        keep_last: Some(3),
        keep_hourly: Some(1),
        keep_daily: Some(7),
        keep_weekly: Some(4),
        keep_monthly: Some(6),
        keep_yearly: Some(1),
        keep_all: false,
    };
    let full = Vzdump {
        vmids: vec![100, 200],
        storage: Some("local".into()),
        mode: Some(BackupMode::Snapshot),
        compress: Some(Compression::Zstd),
        remove: Some(true),
        prune_backups: Some(keep),
        notes_template: Some("{{guestname}}".into()),
        protected: Some(false),
        ..Vzdump::default()
    };
    accepted_task(&c, &backup::vzdump_request(NODE, &full)).await;
    for (mode, compress) in [
        (BackupMode::Stop, Compression::Gzip),
        (BackupMode::Suspend, Compression::Lzo),
        (BackupMode::Snapshot, Compression::None),
    ] {
        let p = Vzdump {
            vmids: vec![100],
            mode: Some(mode),
            compress: Some(compress),
            ..Vzdump::default()
        };
        accepted_task(&c, &backup::vzdump_request(NODE, &p)).await;
    }
    accepted_task(
        &c,
        &backup::vzdump_request(
            NODE,
            &Vzdump {
                all: Some(true),
                ..Vzdump::default()
            },
        ),
    )
    .await;
    c.create_pool("tenant", None).await.unwrap();
    accepted_task(
        &c,
        &backup::vzdump_request(
            NODE,
            &Vzdump {
                pool: Some("tenant".into()),
                ..Vzdump::default()
            },
        ),
    )
    .await;
    accepted(&c, &backup::list_request(NODE, "local", None))
        .await
        .unwrap();
    let list = c.backups(NODE, "local", Some(100)).await.unwrap();
    let ct_backup = list[0].volid.clone();
    let vm_backup = c.backups(NODE, "local", Some(200)).await.unwrap()[0]
        .volid
        .clone();
    accepted(
        &c,
        &backup::update_request(NODE, "local", &ct_backup, Some("notes"), Some(true)),
    )
    .await
    .unwrap();
    accepted(
        &c,
        &backup::update_request(NODE, "local", &ct_backup, None, Some(false)),
    )
    .await
    .unwrap();
    for retention in [Some(&keep), Some(&Retention::default()), None] {
        accepted(
            &c,
            &backup::prune_request(Method::Get, NODE, "local", retention, Some(100)),
        )
        .await;
        accepted(
            &c,
            &backup::prune_request(Method::Get, NODE, "local", retention, None),
        )
        .await;
    }
    let lxc = RestoreLxc {
        vmid: 300,
        archive: ct_backup.clone(),
        storage: Some("local-lvm".into()),
        force: Some(false),
        unique: Some(true),
        pool: Some("tenant".into()),
        start: Some(false),
        hostname: Some("restored".into()),
        rootfs: Some("local-lvm:4".into()),
    };
    accepted_task(&c, &backup::restore_lxc_request(NODE, &lxc)).await;
    accepted_task(
        &c,
        &backup::restore_lxc_request(
            NODE,
            &RestoreLxc {
                force: Some(true),
                ..lxc.clone()
            },
        ),
    )
    .await;
    let vm = RestoreVm {
        vmid: 301,
        archive: vm_backup.clone(),
        storage: Some("local-lvm".into()),
        force: Some(false),
        unique: Some(true),
        pool: Some("tenant".into()),
        start: Some(false),
        name: Some("restored".into()),
    };
    accepted_task(&c, &backup::restore_vm_request(NODE, &vm)).await;
    accepted_task(
        &c,
        &backup::prune_request(Method::Delete, NODE, "local", Some(&keep), Some(100)),
    )
    .await;
    accepted_task(
        &c,
        &backup::prune_request(Method::Delete, NODE, "local", Some(&keep), None),
    )
    .await;
    accepted_task(&c, &backup::delete_request(NODE, "local", &vm_backup)).await;

    // Pools.
    accepted(&c, &pools::create_request("tenant/web", Some("web tier")))
        .await
        .unwrap();
    accepted(&c, &pools::list_request()).await.unwrap();
    accepted(&c, &pools::get_request("tenant")).await.unwrap();
    let u = PoolUpdate {
        comment: Some("c".into()),
        vms: vec![100],
        storage: vec!["local".into()],
        delete: false,
        allow_move: true,
    };
    accepted(&c, &pools::update_request("tenant/web", &u))
        .await
        .unwrap();
    accepted(
        &c,
        &pools::update_request("tenant/web", &PoolUpdate { delete: true, ..u }),
    )
    .await
    .unwrap();
    accepted(&c, &pools::delete_request("tenant/web"))
        .await
        .unwrap();

    // Users, tokens, ACLs, roles, permissions.
    let user = NewUser {
        userid: "tenant@pve".into(),
        password: Some(Secret::new("long-enough-pw")),
        comment: Some("tenant".into()),
        email: Some("ops@example.com".into()),
        enable: Some(true),
        expire: Some(0),
    };
    accepted(&c, &access::create_user_request(&user))
        .await
        .unwrap();
    accepted(&c, &access::users_request()).await.unwrap();
    let t = NewToken {
        privsep: Some(true),
        expire: Some(0),
        comment: Some("ci".into()),
    };
    accepted(&c, &access::create_token_request("tenant@pve", "ci", &t))
        .await
        .unwrap();
    accepted(&c, &access::tokens_request("tenant@pve"))
        .await
        .unwrap();
    let acl = AclUpdate {
        path: "/pool/tenant".into(),
        roles: vec!["PVEVMAdmin".into(), "PVEAuditor".into()],
        users: vec!["tenant@pve".into()],
        tokens: vec!["tenant@pve!ci".into()],
        propagate: Some(true),
        delete: false,
    };
    accepted(&c, &access::update_acl_request(&acl))
        .await
        .unwrap();
    accepted(&c, &access::acl_request()).await.unwrap();
    accepted(&c, &access::roles_request()).await.unwrap();
    accepted(
        &c,
        &access::permissions_request(Some("/pool/tenant"), Some("tenant@pve!ci")),
    )
    .await
    .unwrap();
    accepted(&c, &access::permissions_request(None, None))
        .await
        .unwrap();
    accepted(
        &c,
        &access::update_acl_request(&AclUpdate {
            delete: true,
            propagate: None,
            ..acl
        }),
    )
    .await
    .unwrap();
    accepted(&c, &access::delete_token_request("tenant@pve", "ci"))
        .await
        .unwrap();
    accepted(&c, &access::delete_user_request("tenant@pve"))
        .await
        .unwrap();
}
