//! Users, privilege-separated API tokens and ACLs: a token never does more than its ACLs
//! and its user's allow, on any route the simulator serves (including tasks of others and
//! resource listings), with PVE's 403 texts.

mod client_support;
mod ops_support;
mod sim_support;

use std::collections::BTreeMap;

use client_support::*;
use ops_support::*;
use paas_core::ErrorKind;
use paas_core::model::Secret;
use paas_proxmox::client::access::{AclUpdate, NewToken, NewUser};
use paas_proxmox::client::backup::Vzdump;
use paas_proxmox::client::error::{ErrorClass, class_of};
use paas_proxmox::client::guest::GuestType;
use paas_proxmox::client::lxc::CreateLxc;
use paas_proxmox::client::pools::PoolUpdate;
use paas_proxmox::sim::{ApiToken, PveSim};
use serde_json::Value;
use sim_support::Api;

const CT: GuestType = GuestType::Lxc;

fn raw(sim: &PveSim, token: &ApiToken) -> Api {
    Api {
        http: reqwest::Client::new(),
        base: format!("{}/api2/json", sim.http_url()),
        auth: token.header_value(),
    }
}

fn enc(s: &str) -> String {
    s.replace('%', "%25")
        .replace('/', "%2F")
        .replace(':', "%3A")
        .replace('!', "%21")
        .replace('@', "%40")
}

#[tokio::test]
async fn a_privsep_token_gets_403_until_the_acl_grants_the_right() {
    let sim = sim().await;
    let root = http_client(&sim);
    create_ct(&root, NODE, 200).await;
    sim.add_user("tenant@pve", None).unwrap();
    let token = sim.add_token("tenant@pve", "ci", true).unwrap();
    let t = token_client(&sim, &token);

    // Nothing granted: PVE's text names the path and the first missing privilege.
    let e = t.start_guest(CT, NODE, 200).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(class_of(&e), Some(ErrorClass::Forbidden));
    assert!(
        e.message()
            .contains("HTTP 403 Permission check failed (/vms/200, VM.PowerMgmt)"),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    // The token's own ACL is not enough while its user lacks the right...
    sim.grant("/vms/200", &token.full_id(), "PVEVMUser", false)
        .unwrap();
    let e = t.start_guest(CT, NODE, 200).await.unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/vms/200, VM.PowerMgmt)"),
        "{e:?}"
    );
    // ... nor the user's without the token's: the intersection of both.
    sim.grant("/vms", "tenant@pve", "PVEVMAdmin", true).unwrap();
    let only_user = sim.add_token("tenant@pve", "bare", true).unwrap();
    let e = token_client(&sim, &only_user)
        .start_guest(CT, NODE, 200)
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/vms/200, VM.PowerMgmt)"),
        "{e:?}"
    );
    // Both have it: allowed.
    done(&t, &t.start_guest(CT, NODE, 200).await.unwrap()).await;
    // The token's role has no VM.Allocate even though the user's has: still refused.
    let e = t
        .delete_guest(CT, NODE, 200, Default::default())
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/vms/200, VM.Allocate)"),
        "{e:?}"
    );
    // Not propagated: only /vms/200 itself.
    create_ct(&root, NODE, 201).await;
    let e = t.guest_status(CT, NODE, 201).await.unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/vms/201, VM.Audit)"),
        "{e:?}"
    );
    // A token without privilege separation has its user's rights.
    let full = sim.add_token("tenant@pve", "full", false).unwrap();
    done(
        &root,
        &root
            .shutdown_guest(CT, NODE, 200, Default::default())
            .await
            .unwrap(),
    )
    .await;
    let f = token_client(&sim, &full);
    done(&f, &f.start_guest(CT, NODE, 200).await.unwrap()).await;
    assert!(f.guest_status(CT, NODE, 201).await.is_ok());
    // PUT .../config checks each key: the schema's "any of VM.Config.*" lets a VM user in
    // (VM.Config.CDROM, VM.Config.Cloudinit), but not to change memory.
    clone_vm(&root, 300).await;
    sim.grant("/vms/300", "tenant@pve", "PVEVMUser", false)
        .unwrap();
    sim.grant("/vms/300", &full.full_id(), "PVEVMUser", false)
        .unwrap();
    let up = paas_proxmox::client::guest::ConfigUpdate::default();
    let e = f
        .update_guest_config(GuestType::Qemu, NODE, 300, &up.clone().set("memory", 4096))
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/vms/300, VM.Config.Memory)"),
        "{e:?}"
    );
    f.update_guest_config(
        GuestType::Qemu,
        NODE,
        300,
        &up.clone().set("ciuser", "admin"),
    )
    .await
    .unwrap();
    let e = f
        .update_guest_config(
            GuestType::Qemu,
            NODE,
            300,
            &up.clone().set("args", "-no-reboot"),
        )
        .await
        .unwrap_err();
    assert!(
        e.message().contains("only root can set 'args' config"),
        "{e:?}"
    );
    let e = f
        .update_guest_config(
            GuestType::Qemu,
            NODE,
            300,
            &up.set("ciuser", "x").set("skiplock", 1),
        )
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("skiplock: Only root may use this option."),
        "{e:?}"
    );
    // NoAccess on a path wins over what propagates from above.
    sim.grant("/vms/201", "tenant@pve", "NoAccess", false)
        .unwrap();
    let e = f.guest_status(CT, NODE, 201).await.unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/vms/201, VM.Audit)"),
        "{e:?}"
    );
}

#[tokio::test]
async fn tokens_see_only_their_own_tasks_and_filtered_listings() {
    let sim = sim().await;
    let root = http_client(&sim);
    create_ct(&root, NODE, 210).await;
    create_ct(&root, NODE, 211).await;
    create_ct(&root, "pve2", 212).await;
    root.create_pool("tenant", None).await.unwrap();
    root.update_pool(
        "tenant",
        &PoolUpdate {
            vms: vec![210],
            ..PoolUpdate::default()
        },
    )
    .await
    .unwrap();
    sim.add_user("tenant@pve", None).unwrap();
    let token = sim.add_token("tenant@pve", "app", true).unwrap();
    for who in ["tenant@pve", token.full_id().as_str()] {
        sim.grant("/pool/tenant", who, "PVEVMAdmin", true).unwrap();
        sim.grant("/pool/tenant", who, "PVEAuditor", true).unwrap();
    }
    let t = token_client(&sim, &token);

    // Listings are filtered as PVE filters them: only the pool's guest, with its pool.
    let res = t.vm_resources().await.unwrap();
    let ids: Vec<u64> = res.iter().filter_map(|r| r.vmid).collect();
    assert_eq!(ids, [210]);
    assert_eq!(res[0].pool.as_deref(), Some("tenant"));
    let all: Vec<Value> = t
        .send(&paas_proxmox::client::ApiRequest::new(
            paas_proxmox::client::Method::Get,
            ["cluster", "resources"],
        ))
        .await
        .unwrap();
    assert!(
        all.iter()
            .any(|r| r["type"] == "pool" && r["pool"] == "tenant")
    );
    assert!(
        all.iter().all(|r| r["type"] != "storage"),
        "no Datastore.Audit: {all:?}"
    );
    let node = all.iter().find(|r| r["type"] == "node").unwrap();
    assert!(
        node.get("mem").is_none() && node.get("maxmem").is_none(),
        "no Sys.Audit: {node}"
    );
    let listed: Vec<u64> = t
        .send::<Vec<Value>>(&paas_proxmox::client::ApiRequest::new(
            paas_proxmox::client::Method::Get,
            ["nodes", NODE, "lxc"],
        ))
        .await
        .unwrap()
        .iter()
        .filter_map(|g| g["vmid"].as_u64())
        .collect();
    assert_eq!(listed, [210]);
    assert!(t.nodes().await.unwrap().iter().all(|n| n.mem.is_none()));
    // Storage content: templates need Datastore rights on the storage.
    assert!(t.lxc_templates(NODE, "local").await.is_err());

    // Its own task: readable. Root's task: needs Sys.Audit on the node.
    let mine = t.start_guest(CT, NODE, 210).await.unwrap();
    done(&t, &mine).await;
    assert!(t.task_log(&mine, 0, 0).await.is_ok());
    let theirs = root.start_guest(CT, NODE, 211).await.unwrap();
    done(&root, &theirs).await;
    let e = t.task_status(&theirs).await.unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/nodes/pve1, Sys.Audit)"),
        "{e:?}"
    );
    let e = t.task_log(&theirs, 0, 50).await.unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/nodes/pve1, Sys.Audit)"),
        "{e:?}"
    );
    // Another token of the same user does not see this token's task either.
    let other = sim.add_token("tenant@pve", "other", true).unwrap();
    let e = token_client(&sim, &other)
        .task_status(&mine)
        .await
        .unwrap_err();
    assert_eq!(class_of(&e), Some(ErrorClass::Forbidden));
    // Task lists: a token sees its own tasks on the node, and none in /cluster/tasks
    // (PM API2/Cluster.pm:741 compares the task's user, not the token).
    let filter = paas_proxmox::client::task_list::TaskFilter::default();
    let listed: Vec<String> = t
        .list_tasks(NODE, &filter)
        .await
        .unwrap()
        .tasks
        .into_iter()
        .map(|e| e.upid.to_string())
        .collect();
    assert_eq!(listed, [mine.to_string()]);
    let all = root.list_tasks(NODE, &filter).await.unwrap().tasks;
    assert!(all.iter().any(|e| e.upid == theirs) && all.iter().any(|e| e.upid == mine));
    assert!(t.cluster_tasks().await.unwrap().is_empty());
    // Stopping someone else's task needs Sys.Modify on the node.
    let e = t.stop_task(&theirs).await.unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/nodes/pve1, Sys.Modify)"),
        "{e:?}"
    );
    // Root (or anyone with Sys.Audit on the node) does.
    assert!(root.task_status(&mine).await.is_ok());

    // Creating inside the pool: VM.Allocate on the pool is enough, plus the storage and the
    // bridge (SDN.Use) rights PVE checks in the handler.
    let p = CreateLxc {
        vmid: 213,
        ostemplate: DEBIAN.into(),
        rootfs: Some("local-lvm:2".into()),
        net0: Some("name=eth0,bridge=vmbr0,ip=dhcp".into()),
        pool: Some("tenant".into()),
        ..CreateLxc::default()
    };
    let e = t
        .create_lxc(
            NODE,
            &CreateLxc {
                pool: None,
                ..p.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message().contains("HTTP 403 Permission check failed"),
        "{e:?}"
    );
    let e = t.create_lxc(NODE, &p).await.unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"),
        "{e:?}"
    );
    for who in ["tenant@pve", token.full_id().as_str()] {
        sim.grant("/sdn/zones/localnetwork", who, "PVESDNUser", true)
            .unwrap();
    }
    let e = t.create_lxc(NODE, &p).await.unwrap_err();
    // check_ct_modify_config_perm (the rootfs' storage) runs before the template check.
    assert!(
        e.message()
            .contains("Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)"),
        "{e:?}"
    );
    for who in ["tenant@pve", token.full_id().as_str()] {
        sim.grant("/storage/local-lvm", who, "PVEDatastoreUser", false)
            .unwrap();
    }
    let e = t.create_lxc(NODE, &p).await.unwrap_err();
    assert!(
        e.message().contains(
            "Permission check failed (/storage/local, Datastore.AllocateSpace|Datastore.Audit)"
        ),
        "template access: {e:?}"
    );
    for who in ["tenant@pve", token.full_id().as_str()] {
        sim.grant("/storage", who, "PVEDatastoreUser", true)
            .unwrap();
    }
    done(&t, &t.create_lxc(NODE, &p).await.unwrap()).await;
    assert_eq!(sim.pools()["tenant"], vec![210, 213]);
    // Backups: VM.Backup on the guest and Datastore.AllocateSpace on the storage.
    let b = t
        .vzdump(
            NODE,
            &Vzdump {
                vmids: vec![213],
                ..Vzdump::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    done(&t, &b).await;
    let job = Vzdump {
        vmids: vec![211],
        ..Vzdump::default()
    };
    let b = t.vzdump(NODE, &job).await.unwrap().unwrap();
    // PM VZDump.pm:1418: checked in the worker, the job dies.
    assert_eq!(
        failed(&t, &b).await,
        "Permission check failed (/vms/211, VM.Backup)"
    );
    // The token lists only the backups of guests it may back up.
    done(
        &root,
        &root
            .vzdump(
                NODE,
                &Vzdump {
                    vmids: vec![211],
                    ..Vzdump::default()
                },
            )
            .await
            .unwrap()
            .unwrap(),
    )
    .await;
    let mine: Vec<Option<u64>> = t
        .backups(NODE, "local", None)
        .await
        .unwrap()
        .iter()
        .map(|b| b.vmid)
        .collect();
    assert_eq!(mine, [Some(213)]);
    assert_eq!(root.backups(NODE, "local", None).await.unwrap().len(), 2);
    let root_backup = root.backups(NODE, "local", Some(211)).await.unwrap()[0]
        .volid
        .clone();
    let e = t
        .delete_volume(NODE, "local", &root_backup)
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/vms/211, VM.Backup)"),
        "{e:?}"
    );
}

#[tokio::test]
async fn tokens_and_acls_through_the_api() {
    let sim = sim().await;
    let root = http_client(&sim);
    create_ct(&root, NODE, 220).await;
    root.create_user(&NewUser {
        userid: "ops@pve".into(),
        password: Some(Secret::new("long-enough-pw")),
        comment: Some("operators".into()),
        ..NewUser::default()
    })
    .await
    .unwrap();
    let e = root
        .create_user(&NewUser {
            userid: "ops@pve".into(),
            ..NewUser::default()
        })
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("create user failed: user 'ops@pve' already exists"),
        "{e:?}"
    );
    let users: Vec<String> = root
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.userid)
        .collect();
    assert_eq!(users, ["ops@pve", "root@pam"]);

    let created = root
        .create_token("ops@pve", "deploy", &NewToken::default())
        .await
        .unwrap();
    assert_eq!(created.full_tokenid, "ops@pve!deploy");
    assert!(
        created.info.privsep,
        "PVE's default is privilege separation"
    );
    let secret = created.value.expose().to_string();
    assert_eq!(secret.len(), 36);
    // The secret is shown once: listings never carry it.
    let listed = root.tokens("ops@pve").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!format!("{listed:?}").contains(&secret));
    let e = root
        .create_token("ops@pve", "deploy", &NewToken::default())
        .await
        .unwrap_err();
    assert!(
        e.message().contains("tokenid: Token already exists."),
        "{e:?}"
    );
    let e = root.tokens("nobody@pve").await.unwrap_err();
    assert_eq!(
        class_of(&e),
        Some(ErrorClass::Forbidden),
        "the or-check fails first: {e:?}"
    );

    let token = ApiToken {
        user: "ops@pve".into(),
        token_id: "deploy".into(),
        secret: secret.clone(),
    };
    let t = token_client(&sim, &token);
    // Grant through PUT /access/acl; GET /access/acl and /access/permissions show it.
    for (who_users, who_tokens) in [
        (vec!["ops@pve".to_string()], vec![]),
        (vec![], vec!["ops@pve!deploy".to_string()]),
    ] {
        root.update_acl(&AclUpdate {
            path: "/vms/220".into(),
            roles: vec!["PVEVMUser".into()],
            users: who_users,
            tokens: who_tokens,
            ..AclUpdate::default()
        })
        .await
        .unwrap();
    }
    let acl = root.acl().await.unwrap();
    assert!(acl.iter().any(|a| a.path == "/vms/220"
        && a.kind == "token"
        && a.ugid == "ops@pve!deploy"
        && a.roleid == "PVEVMUser"
        && a.propagate));
    let perms = t.permissions(Some("/vms/220"), None).await.unwrap();
    assert!(perms["/vms/220"].contains_key("VM.PowerMgmt"));
    assert!(!perms["/vms/220"].contains_key("VM.Allocate"));
    let mine = t.permissions(None, None).await.unwrap();
    assert_eq!(mine.keys().collect::<Vec<_>>(), ["/vms/220"]);
    // Someone else's permissions need Sys.Audit on /access.
    let e = t.permissions(None, Some("root@pam")).await.unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/access, Sys.Audit)"),
        "{e:?}"
    );
    assert!(
        root.permissions(None, Some("ops@pve!deploy"))
            .await
            .unwrap()
            .contains_key("/vms/220")
    );
    done(&t, &t.start_guest(CT, NODE, 220).await.unwrap()).await;
    // A token cannot hand out more than it has.
    let e = t
        .update_acl(&AclUpdate {
            path: "/vms/220".into(),
            roles: vec!["Administrator".into()],
            tokens: vec!["ops@pve!deploy".into()],
            ..AclUpdate::default()
        })
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("Permission check failed (/vms/220, Permissions.Modify|VM.Allocate)"),
        "{e:?}"
    );
    // Unknown role or user: PVE's texts.
    let e = root
        .update_acl(&AclUpdate {
            path: "/vms/220".into(),
            roles: vec!["Nope".into()],
            users: vec!["ops@pve".into()],
            ..AclUpdate::default()
        })
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("ACL update failed: role 'Nope' does not exist"),
        "{e:?}"
    );
    let e = root
        .update_acl(&AclUpdate {
            path: "/vms/220".into(),
            roles: vec!["PVEVMUser".into()],
            users: vec!["ghost@pve".into()],
            ..AclUpdate::default()
        })
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("ACL update failed: user 'ghost@pve' does not exist"),
        "{e:?}"
    );
    let e = root
        .update_acl(&AclUpdate {
            path: "/nowhere".into(),
            roles: vec!["PVEVMUser".into()],
            users: vec!["ops@pve".into()],
            ..AclUpdate::default()
        })
        .await
        .unwrap_err();
    assert!(
        e.message().contains("path: invalid ACL path '/nowhere'"),
        "{e:?}"
    );
    // Revoking takes the right away again.
    root.update_acl(&AclUpdate {
        path: "/vms/220".into(),
        roles: vec!["PVEVMUser".into()],
        tokens: vec!["ops@pve!deploy".into()],
        delete: true,
        ..AclUpdate::default()
    })
    .await
    .unwrap();
    let e = t.guest_status(CT, NODE, 220).await.unwrap_err();
    assert_eq!(class_of(&e), Some(ErrorClass::Forbidden));
    // Roles carry PVE's privilege lists.
    let roles = root.roles().await.unwrap();
    let vm_user = roles.iter().find(|r| r.roleid == "PVEVMUser").unwrap();
    assert!(
        vm_user.privileges().contains(&"VM.Backup")
            && !vm_user.privileges().contains(&"VM.Allocate")
    );
    // Deleting the token: it stops working at once (401, 9.1.3's text).
    root.delete_token("ops@pve", "deploy").await.unwrap();
    let e = t.guest_status(CT, NODE, 220).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(
        e.message()
            .contains("no such token 'deploy' for user 'ops@pve'"),
        "{e:?}"
    );
    // A wrong secret: "invalid token value!".
    let other = root
        .create_token(
            "ops@pve",
            "second",
            &NewToken {
                privsep: Some(false),
                ..NewToken::default()
            },
        )
        .await
        .unwrap();
    let forged = ApiToken {
        user: "ops@pve".into(),
        token_id: "second".into(),
        secret: "00000000-0000-4000-8000-000000000000".into(),
    };
    let e = token_client(&sim, &forged).version().await.unwrap_err();
    assert!(e.message().contains("invalid token value!"), "{e:?}");
    assert!(!other.info.privsep);
    // The user logs in with its password (realm pve) and has its rights.
    let cfg = paas_proxmox::ProxmoxConfig::builder(sim.http_url())
        .password("ops@pve", "long-enough-pw")
        .build()
        .unwrap();
    let ops = paas_proxmox::ProxmoxClient::new(cfg).unwrap();
    assert!(ops.guest_status(CT, NODE, 220).await.is_ok());
    // Deleting the user removes its ACL entries and tokens.
    root.delete_user("ops@pve").await.unwrap();
    assert!(
        root.acl()
            .await
            .unwrap()
            .iter()
            .all(|a| !a.ugid.starts_with("ops@pve"))
    );
}

/// The expected answer of a `user => 'all'` route to a token with no rights at all: those
/// routes check inside their code (or show what anyone may see).
fn open_route_expectation(key: &str) -> Option<&'static str> {
    Some(match key {
        "GET /version"
        | "GET /cluster/nextid"
        | "GET /access/roles"
        | "GET /access/roles/{roleid}" => "ok",
        "GET /nodes/{node}/lxc/{vmid}" | "GET /nodes/{node}/qemu/{vmid}" => "ok",
        "GET /nodes/{node}/lxc/{vmid}/snapshot/{snapname}"
        | "GET /nodes/{node}/qemu/{vmid}/snapshot/{snapname}" => "ok",
        "GET /nodes" | "GET /cluster/resources" => "ok-filtered",
        "GET /nodes/{node}/lxc"
        | "GET /nodes/{node}/qemu"
        | "GET /pools"
        | "GET /access/users"
        | "GET /access/acl" => "empty",
        // Only the storages with Datastore.Audit or .AllocateSpace (pve-storage Config.pm and
        // Status.pm index).
        "GET /storage" | "GET /nodes/{node}/storage" => "empty",
        // Only the caller's own tasks without Sys.Audit (PM API2/Tasks.pm:184, Cluster.pm:741).
        "GET /nodes/{node}/tasks" | "GET /cluster/tasks" => "empty",
        // Another's task needs Sys.Modify on the node to be stopped (PM API2/Tasks.pm:328).
        "DELETE /nodes/{node}/tasks/{upid}" => "403",
        "GET /access/permissions" => "empty-object",
        "POST /access/ticket" => "skip",
        "POST /nodes/{node}/lxc" | "POST /nodes/{node}/qemu" => "403",
        "GET /nodes/{node}/tasks/{upid}/status" | "GET /nodes/{node}/tasks/{upid}/log" => "403",
        "POST /nodes/{node}/vzdump" => "403",
        "GET /nodes/{node}/storage/{storage}/content/{volume}"
        | "PUT /nodes/{node}/storage/{storage}/content/{volume}"
        | "DELETE /nodes/{node}/storage/{storage}/content/{volume}"
        | "DELETE /nodes/{node}/storage/{storage}/prunebackups" => "403",
        _ => return None,
    })
}

#[tokio::test]
async fn a_token_without_rights_is_refused_on_every_route() {
    let sim = sim().await;
    let root = http_client(&sim);
    create_ct(&root, NODE, 230).await;
    root.create_pool("tenant", None).await.unwrap();
    let b = root
        .vzdump(
            NODE,
            &Vzdump {
                vmids: vec![230],
                ..Vzdump::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    done(&root, &b).await;
    let volid = root.backups(NODE, "local", Some(230)).await.unwrap()[0]
        .volid
        .clone();
    done(
        &root,
        &root
            .create_snapshot(
                CT,
                NODE,
                230,
                &paas_proxmox::client::snapshot::CreateSnapshot {
                    snapname: "s1".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap(),
    )
    .await;
    sim.add_user("nobody@pve", None).unwrap();
    let token = sim.add_token("nobody@pve", "t1", true).unwrap();
    let api = raw(&sim, &token);

    let schema: Value = serde_json::from_str(include_str!("../src/sim/schema.json")).unwrap();
    let values: BTreeMap<&str, String> = [
        ("node", NODE.to_string()),
        ("vmid", "230".to_string()),
        ("upid", b.to_string()),
        ("storage", "local".to_string()),
        ("volume", volid.clone()),
        ("snapname", "s1".to_string()),
        ("poolid", "tenant".to_string()),
        ("userid", "root@pam".to_string()),
        ("tokenid", "paas".to_string()),
        ("roleid", "PVEVMAdmin".to_string()),
    ]
    .into();
    // Enough parameters for the open routes to pass validation and reach their own checks.
    let body: BTreeMap<&str, Vec<(&str, &str)>> = [
        (
            "POST /nodes/{node}/lxc",
            vec![
                ("vmid", "231"),
                ("ostemplate", DEBIAN),
                ("rootfs", "local-lvm:2"),
            ],
        ),
        ("POST /nodes/{node}/qemu", vec![("vmid", "232")]),
        ("POST /nodes/{node}/vzdump", vec![("vmid", "230")]),
        ("POST /access/users", vec![("userid", "newbie@pve")]),
        (
            "DELETE /nodes/{node}/storage/{storage}/prunebackups",
            vec![("prune-backups", "keep-last=1")],
        ),
    ]
    .into();
    let mut checked = 0;
    for op in schema["operations"].as_array().unwrap() {
        let method = op["method"].as_str().unwrap();
        let template = op["path"].as_str().unwrap();
        let key = format!("{method} {template}");
        let open = op["permissions"]["user"].as_str();
        let expect = match open {
            Some("all") | Some("world") => open_route_expectation(&key)
                .unwrap_or_else(|| panic!("no expectation for the open route {key}: add one")),
            _ => "403",
        };
        if expect == "skip" {
            continue;
        }
        let path: String = template
            .split('/')
            .map(
                |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => enc(&values[name]),
                    None => seg.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("/");
        let form = body.get(key.as_str()).cloned().unwrap_or_default();
        let m: reqwest::Method = method.parse().unwrap();
        let r = api.send(m, &path, &form).await;
        match expect {
            "403" => {
                assert_eq!(r.status, 403, "{key}: {:?}", r.body);
                assert!(
                    r.message().starts_with("Permission check failed"),
                    "{key}: {:?}",
                    r.body
                );
            }
            // Past the permission check (the handler may still refuse: a CT is no VM).
            "ok" => assert!(![401, 403].contains(&r.status), "{key}: {:?}", r.body),
            "empty" => {
                assert_eq!(r.status, 200, "{key}: {:?}", r.body);
                assert_eq!(r.data(), &Value::Array(vec![]), "{key}");
            }
            "empty-object" => {
                assert_eq!(r.status, 200, "{key}: {:?}", r.body);
                assert_eq!(r.data(), &serde_json::json!({}), "{key}");
            }
            "ok-filtered" => {
                assert_eq!(r.status, 200, "{key}: {:?}", r.body);
                for item in r.data().as_array().unwrap() {
                    assert_eq!(item["type"], "node", "{key}: {item}");
                    assert!(
                        item.get("mem").is_none() && item.get("maxcpu").is_none(),
                        "{key}: {item}"
                    );
                }
            }
            other => unreachable!("{other}"),
        }
        checked += 1;
    }
    assert!(checked >= 70, "{checked}");
    // Nothing was changed by any of it.
    assert!(sim.guest(231).is_none() && sim.guest(232).is_none());
    assert_eq!(sim.snapshots(230).unwrap(), ["s1"]);
    assert_eq!(sim.backups().len(), 1);
    assert_eq!(sim.pools().len(), 1);
    // PM API2/Pool.pm:95 ignores its own Pool.Audit check when `poolid` is given: PVE shows
    // any pool's members to anyone there, and so does the simulator.
    let r = api.get_q("/pools", &[("poolid", "tenant")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
