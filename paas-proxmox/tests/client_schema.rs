//! Every request the client can build passes the simulator's schema validation (generated from
//! the PVE 9.1.3 API schema), and a malformed one gets PVE's 400 shape.

mod client_support;

use client_support::*;
use paas_core::ErrorKind;
use paas_core::model::Secret;
use paas_proxmox::client::error::{ErrorClass, class_of};
use paas_proxmox::client::guest::{self, ConfigUpdate, DeleteOptions, GuestType, ShutdownOptions};
use paas_proxmox::client::lxc::{self, CreateLxc};
use paas_proxmox::client::qemu::{self, CloneVm};
use paas_proxmox::client::{ApiRequest, Method, ProxmoxClient, Upid, WaitOptions};
use paas_proxmox::client::{cluster, storage, tasks};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NODE: &str = "pve1";

/// Sends `req`; fails the test if the server's schema validation refused it (or the route is
/// unknown). Other outcomes (a guest that is not there, ...) are the handler's business.
async fn accepted(c: &ProxmoxClient, req: &ApiRequest) -> Option<serde_json::Value> {
    match c.send::<serde_json::Value>(req).await {
        Ok(v) => Some(v),
        Err(e) => {
            let class = class_of(&e);
            assert!(
                !matches!(
                    class,
                    Some(ErrorClass::InvalidParameters | ErrorClass::NotImplemented)
                ),
                "{req:?} was refused by the schema: {e}"
            );
            assert!(
                !e.message().contains("Parameter verification failed"),
                "{req:?} was refused by the schema: {e}"
            );
            None
        }
    }
}

async fn accepted_task(c: &ProxmoxClient, req: &ApiRequest) {
    if let Some(v) = accepted(c, req).await {
        let upid: Upid = v.as_str().unwrap().parse().unwrap();
        let _ = c.wait_task(&upid, WaitOptions::default()).await;
    }
}

fn full_create(vmid: u32) -> CreateLxc {
    CreateLxc {
        vmid,
        ostemplate: DEBIAN.into(),
        hostname: Some(format!("ct{vmid}.example.com")),
        cores: Some(2),
        memory: Some(512),
        swap: Some(256),
        rootfs: Some("local-lvm:4".into()),
        net0: Some("name=eth0,bridge=vmbr0,ip=dhcp".into()),
        password: Some(Secret::new("s3cret-pw")),
        ssh_public_keys: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8 user@host".into()),
        unprivileged: Some(true),
        start: Some(false),
        storage: Some("local-lvm".into()),
        pool: None,
        features: Some("nesting=1".into()),
        tags: Some("paas-managed;paas-app-0190c6e48b1a7c3e9f000123456789ab".into()),
        description: Some("made by the schema test".into()),
    }
}

#[tokio::test]
async fn every_request_the_client_builds_passes_schema_validation() {
    let sim = sim().await;
    let c = http_client(&sim);

    // Cluster and nodes.
    for req in [
        cluster::version_request(),
        cluster::nodes_request(),
        cluster::node_status_request(NODE),
        cluster::vm_resources_request(),
        cluster::nextid_request(None),
        cluster::nextid_request(Some(777)),
        cluster::ticket_request(sim.username(), sim.password()),
        storage::content_request(NODE, "local", None),
        storage::content_request(NODE, "local", Some("vztmpl")),
    ] {
        accepted(&c, &req).await.unwrap();
    }

    // LXC: create with every parameter, then every call on it.
    let create = lxc::create_request(NODE, &full_create(100));
    let upid: Upid = accepted(&c, &create)
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    accepted(&c, &tasks::task_status_request(&upid))
        .await
        .unwrap();
    accepted(&c, &tasks::task_log_request(&upid, 0, 50))
        .await
        .unwrap();
    // With a pool too (the simulator, like PVE, may refuse an unknown pool, but not the schema).
    accepted_task(
        &c,
        &lxc::create_request(
            NODE,
            &CreateLxc {
                pool: Some("paas".into()),
                ..full_create(101)
            },
        ),
    )
    .await;

    let digest = c
        .guest_config(GuestType::Lxc, NODE, 100)
        .await
        .unwrap()
        .digest();
    let lxc_update = ConfigUpdate {
        set: vec![
            ("cores".into(), "1".into()),
            ("memory".into(), "256".into()),
            ("tags".into(), "a;b".into()),
            ("description".into(), "d".into()),
            ("hostname".into(), "renamed".into()),
        ],
        delete: vec!["swap".into()],
        digest,
    };
    for (kind, vmid) in [(GuestType::Lxc, 100u32)] {
        accepted(&c, &guest::status_request(kind, NODE, vmid))
            .await
            .unwrap();
        accepted(&c, &guest::config_request(kind, NODE, vmid))
            .await
            .unwrap();
        accepted(
            &c,
            &guest::update_config_request(kind, NODE, vmid, &lxc_update),
        )
        .await
        .unwrap();
        accepted(&c, &lxc::interfaces_request(NODE, vmid)).await;
        accepted_task(&c, &guest::start_request(kind, NODE, vmid)).await;
        accepted_task(&c, &lxc::reboot_request(NODE, vmid, Some(10))).await;
        accepted_task(&c, &lxc::reboot_request(NODE, vmid, None)).await;
        accepted_task(
            &c,
            &guest::shutdown_request(
                kind,
                NODE,
                vmid,
                ShutdownOptions {
                    timeout: Some(10),
                    force_stop: Some(true),
                },
            ),
        )
        .await;
        accepted_task(&c, &guest::start_request(kind, NODE, vmid)).await;
        accepted_task(&c, &guest::stop_request(kind, NODE, vmid)).await;
        accepted_task(
            &c,
            &guest::delete_request(
                kind,
                NODE,
                vmid,
                DeleteOptions {
                    purge: Some(true),
                    force: Some(true),
                    destroy_unreferenced_disks: Some(true),
                },
            ),
        )
        .await;
    }

    // QEMU: clone with every parameter, then every call on it.
    let clone = CloneVm {
        newid: 200,
        name: Some("vm200".into()),
        full: Some(true),
        storage: Some("local-lvm".into()),
        target: Some("pve1".into()),
        pool: None,
        description: Some("paas-tags: paas-managed".into()),
    };
    accepted_task(&c, &qemu::clone_request(NODE, TEMPLATE_VM, &clone)).await;
    accepted_task(
        &c,
        &qemu::clone_request(
            NODE,
            TEMPLATE_VM,
            &CloneVm {
                newid: 201,
                pool: Some("paas".into()),
                target: Some("pve2".into()),
                ..clone.clone()
            },
        ),
    )
    .await;
    let kind = GuestType::Qemu;
    let qemu_update = ConfigUpdate::default()
        .set("cores", 2)
        .set("memory", 1024)
        .set("tags", "paas-managed")
        .set("name", "vm200")
        .set("description", "x")
        .delete("ide2");
    accepted(&c, &guest::status_request(kind, NODE, 200))
        .await
        .unwrap();
    accepted(&c, &guest::config_request(kind, NODE, 200))
        .await
        .unwrap();
    accepted(
        &c,
        &guest::update_config_request(kind, NODE, 200, &qemu_update),
    )
    .await
    .unwrap();
    accepted(&c, &qemu::agent_interfaces_request(NODE, 200)).await;
    accepted_task(&c, &guest::start_request(kind, NODE, 200)).await;
    accepted(&c, &qemu::agent_interfaces_request(NODE, 200)).await;
    accepted_task(
        &c,
        &guest::shutdown_request(
            kind,
            NODE,
            200,
            ShutdownOptions {
                timeout: Some(10),
                force_stop: Some(false),
            },
        ),
    )
    .await;
    accepted_task(&c, &guest::stop_request(kind, NODE, 200)).await;
    accepted_task(
        &c,
        &guest::delete_request(
            kind,
            NODE,
            200,
            DeleteOptions {
                purge: Some(true),
                force: None,
                destroy_unreferenced_disks: Some(true),
            },
        ),
    )
    .await;
}

#[tokio::test]
async fn the_provisioner_requests_pass_schema_validation_too() {
    // The provisioner's own requests are the ones above with its parameters; run it once with
    // faults off and check nothing it sent was refused (a refusal would be an error here).
    use paas_core::ports::{Provisioner, StopMode};
    let sim = sim().await;
    let p = paas_proxmox::ProxmoxProvisioner::new(http_client(&sim));
    for spec in [
        lxc_spec(120, NODE, vec!["x".into()]),
        vm_spec(220, NODE, vec!["y".into()]),
    ] {
        let g = p.create(&spec).await.unwrap();
        p.start(&g).await.unwrap();
        p.stop(
            &g,
            StopMode::Graceful {
                timeout: Duration::from_millis(1500),
            },
        )
        .await
        .unwrap();
        p.start(&g).await.unwrap();
        p.stop(&g, StopMode::Force).await.unwrap();
        p.destroy(&g).await.unwrap();
    }
}

#[tokio::test]
async fn malformed_requests_get_pve_400_with_errors_map() {
    let sim = sim().await;
    let c = http_client(&sim);
    let bad = ApiRequest::new(Method::Post, ["nodes", NODE, "lxc"])
        .param("vmid", 50)
        .param("start", "true")
        .param("bogus", "1");
    let e = c.send::<serde_json::Value>(&bad).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    assert!(!e.is_retryable());
    assert_eq!(class_of(&e), Some(ErrorClass::InvalidParameters));
    let m = e.message();
    // Format before minimum (PC JSONSchema.pm:1466-1505, FIDELITY.md defect 4).
    assert!(
        m.contains("vmid: invalid format - value does not look like a valid VM ID"),
        "{m}"
    );
    assert!(
        m.contains("start: type check ('boolean') failed - got 'true'"),
        "{m}"
    );
    assert!(
        m.contains("ostemplate: property is missing and it is not optional"),
        "{m}"
    );
    assert!(
        m.contains("bogus: property is not defined in schema"),
        "{m}"
    );

    // The raw shape, as PVE sends it.
    let resp = reqwest::Client::new()
        .post(format!("{}/api2/json/nodes/{NODE}/lxc", sim.http_url()))
        .header("Authorization", sim.token().header_value())
        .form(&[("vmid", "50"), ("start", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| r.as_bytes().to_vec());
    assert_eq!(
        reason.as_deref(),
        Some(&b"Parameter verification failed."[..])
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["data"].is_null(), "{body}");
    assert!(body["errors"]["vmid"].is_string(), "{body}");
    assert!(body["errors"]["ostemplate"].is_string(), "{body}");
}

/// Older PVE servers put the error text only in the HTTP reason phrase; the client reads it
/// from there when the body has no `message`.
#[tokio::test]
async fn error_text_is_read_from_the_reason_phrase() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = sock.read(&mut buf).await.unwrap();
        let body = "{\"data\":null}";
        let resp = format!(
            "HTTP/1.1 500 CT 100 already exists on node 'pve'\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await.unwrap();
    });
    let cfg = paas_proxmox::ProxmoxConfig::builder(format!("http://{addr}"))
        .token("root@pam", "t", "s")
        .build()
        .unwrap();
    let c = ProxmoxClient::new(cfg).unwrap();
    let e = c.version().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e:?}");
    assert!(
        e.message().contains("CT 100 already exists on node 'pve'"),
        "{e:?}"
    );
    server.await.unwrap();
}
