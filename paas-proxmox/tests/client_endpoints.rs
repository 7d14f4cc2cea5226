//! Every endpoint of the client, through the simulator, with its error paths.

mod client_support;

use client_support::*;
use paas_core::ErrorKind;
use paas_proxmox::client::error::{ErrorClass, class_of};
use paas_proxmox::client::guest::{ConfigUpdate, DeleteOptions, GuestType, ShutdownOptions};
use paas_proxmox::client::lxc::CreateLxc;
use paas_proxmox::client::qemu::CloneVm;
use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig, TaskOutcome, Tls, Upid, WaitOptions};
use paas_proxmox::sim::{Faults, PveSim};
use std::time::Duration;

const NODE: &str = "pve1";

async fn create_ct(c: &ProxmoxClient, vmid: u32) {
    let p = CreateLxc {
        vmid,
        ostemplate: DEBIAN.into(),
        hostname: Some(format!("ct{vmid}")),
        cores: Some(1),
        memory: Some(256),
        rootfs: Some("local-lvm:2".into()),
        net0: Some("name=eth0,bridge=vmbr0,ip=dhcp".into()),
        tags: Some("paas-managed;t1".into()),
        unprivileged: Some(true),
        ..CreateLxc::default()
    };
    let upid = c.create_lxc(NODE, &p).await.unwrap();
    assert_eq!(upid.task_type(), "vzcreate");
    assert_eq!(upid.id(), vmid.to_string());
    assert_eq!(
        c.wait_task(&upid, WaitOptions::default()).await.unwrap(),
        TaskOutcome::Ok
    );
}

fn class(e: &paas_core::Error) -> Option<ErrorClass> {
    class_of(e)
}

#[tokio::test]
async fn version_nodes_and_node_status() {
    let sim = sim().await;
    let c = http_client(&sim);
    let v = c.version().await.unwrap();
    assert!(v.version.starts_with('9'), "{v:?}");
    let nodes = c.nodes().await.unwrap();
    assert_eq!(nodes.len(), 3);
    let n1 = nodes.iter().find(|n| n.node == NODE).unwrap();
    assert_eq!(n1.status, "online");
    assert!(n1.maxmem.unwrap() > 0);
    assert_eq!(n1.ssl_fingerprint, Some(sim.fingerprint()));
    let st = c.node_status(NODE).await.unwrap();
    assert!(st.memory.total.unwrap() > 0);
    assert!(st.rootfs.total.unwrap() > 0);
    // Error path: a node that is not in the cluster.
    let e = c.node_status("nosuchnode").await.unwrap_err();
    assert_eq!(e.backend(), Some("proxmox"));
    assert!(!e.is_retryable(), "{e:?}");
}

#[tokio::test]
async fn cluster_resources_and_nextid() {
    let sim = sim().await;
    let c = http_client(&sim);
    let res = c.vm_resources().await.unwrap();
    let tpl = res
        .iter()
        .find(|r| r.vmid == Some(u64::from(TEMPLATE_VM)))
        .unwrap();
    assert!(tpl.template);
    assert_eq!(tpl.kind, "qemu");
    assert_eq!(c.nextid(None).await.unwrap(), 100);
    assert_eq!(c.nextid(Some(4242)).await.unwrap(), 4242);
    // Taken: PVE answers 400 with errors.vmid = "VM 9000 already exists".
    let e = c.nextid(Some(TEMPLATE_VM)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e:?}");
    assert_eq!(class(&e), Some(ErrorClass::AlreadyExists));
    // Out of range: a validation error naming the parameter.
    let e = c.nextid(Some(5)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    assert!(e.message().contains("vmid"), "{e:?}");
}

#[tokio::test]
async fn lxc_lifecycle_and_its_errors() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, 200).await;

    // Create again: already exists.
    let again = c
        .create_lxc(
            NODE,
            &CreateLxc {
                vmid: 200,
                ostemplate: DEBIAN.into(),
                ..CreateLxc::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict);
    assert!(!again.is_retryable());
    // Unknown template.
    let bad = c
        .create_lxc(
            NODE,
            &CreateLxc {
                vmid: 201,
                ostemplate: "local:vztmpl/nope.tar.zst".into(),
                ..CreateLxc::default()
            },
        )
        .await;
    assert!(
        bad.is_err() || {
            let upid = bad.unwrap();
            c.wait_task(&upid, WaitOptions::default()).await.is_err()
        }
    );

    let st = c.guest_status(GuestType::Lxc, NODE, 200).await.unwrap();
    assert_eq!(st.status, "stopped");
    assert_eq!(st.name.as_deref(), Some("ct200"));
    assert!(st.tags.as_deref().unwrap().contains("paas-managed"));
    assert_eq!(
        c.lxc_interfaces(NODE, 200).await.unwrap(),
        None,
        "stopped: no interfaces"
    );

    // Config get/put with digest, delete and a stale digest.
    let cfg = c.guest_config(GuestType::Lxc, NODE, 200).await.unwrap();
    let digest = cfg.digest().unwrap();
    assert_eq!(cfg.get("cores").as_deref(), Some("1"));
    c.update_guest_config(
        GuestType::Lxc,
        NODE,
        200,
        &ConfigUpdate::default()
            .set("cores", 2)
            .set("description", "x")
            .digest(digest.clone()),
    )
    .await
    .unwrap();
    let cfg2 = c.guest_config(GuestType::Lxc, NODE, 200).await.unwrap();
    assert_eq!(cfg2.get("cores").as_deref(), Some("2"));
    let stale = c
        .update_guest_config(
            GuestType::Lxc,
            NODE,
            200,
            &ConfigUpdate::default().set("cores", 3).digest(digest),
        )
        .await
        .unwrap_err();
    assert!(!stale.is_retryable(), "{stale:?}");
    c.update_guest_config(
        GuestType::Lxc,
        NODE,
        200,
        &ConfigUpdate::default().delete("description"),
    )
    .await
    .unwrap();
    assert_eq!(
        c.guest_config(GuestType::Lxc, NODE, 200)
            .await
            .unwrap()
            .get("description"),
        None
    );

    // Start, start again, interfaces, reboot, shutdown, stop of a stopped one.
    let up = c.start_guest(GuestType::Lxc, NODE, 200).await.unwrap();
    c.wait_task(&up, WaitOptions::default()).await.unwrap();
    let twice = c.start_guest(GuestType::Lxc, NODE, 200).await;
    let twice = match twice {
        Err(e) => e,
        Ok(upid) => c
            .wait_task(&upid, WaitOptions::default())
            .await
            .unwrap_err(),
    };
    assert_eq!(class(&twice), Some(ErrorClass::AlreadyRunning), "{twice:?}");
    let mut ifaces = None;
    for _ in 0..100 {
        ifaces = c.lxc_interfaces(NODE, 200).await.unwrap();
        if ifaces
            .as_ref()
            .is_some_and(|v| v.iter().any(|i| i.name == "eth0" && i.inet.is_some()))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ifaces = ifaces.unwrap();
    assert!(
        ifaces.iter().any(|i| i.name == "eth0" && i.inet.is_some()),
        "{ifaces:?}"
    );
    let rb = c.reboot_lxc(NODE, 200, Some(5)).await.unwrap();
    c.wait_task(&rb, WaitOptions::default()).await.unwrap();
    let down = c
        .shutdown_guest(
            GuestType::Lxc,
            NODE,
            200,
            ShutdownOptions {
                timeout: Some(5),
                force_stop: Some(true),
            },
        )
        .await
        .unwrap();
    assert_eq!(down.task_type(), "vzshutdown");
    c.wait_task(&down, WaitOptions::default()).await.unwrap();
    let stop = match c.stop_guest(GuestType::Lxc, NODE, 200).await {
        Err(e) => e,
        Ok(upid) => c
            .wait_task(&upid, WaitOptions::default())
            .await
            .unwrap_err(),
    };
    assert_eq!(class(&stop), Some(ErrorClass::NotRunning), "{stop:?}");

    // Start then a hard stop.
    let up = c.start_guest(GuestType::Lxc, NODE, 200).await.unwrap();
    c.wait_task(&up, WaitOptions::default()).await.unwrap();
    let st = c.stop_guest(GuestType::Lxc, NODE, 200).await.unwrap();
    assert_eq!(st.task_type(), "vzstop");
    c.wait_task(&st, WaitOptions::default()).await.unwrap();

    // Delete, then everything about it is NotFound.
    let del = c
        .delete_guest(
            GuestType::Lxc,
            NODE,
            200,
            DeleteOptions {
                purge: Some(true),
                force: Some(true),
                ..DeleteOptions::default()
            },
        )
        .await
        .unwrap();
    c.wait_task(&del, WaitOptions::default()).await.unwrap();
    for e in [
        c.guest_status(GuestType::Lxc, NODE, 200).await.unwrap_err(),
        c.guest_config(GuestType::Lxc, NODE, 200).await.unwrap_err(),
        c.lxc_interfaces(NODE, 200).await.unwrap_err(),
        // A start forks its worker before reading the config (CT Status.pm:184-214): the
        // task fails with `Configuration file ... does not exist`.
        {
            let upid = c.start_guest(GuestType::Lxc, NODE, 200).await.unwrap();
            c.wait_task(&upid, WaitOptions::default())
                .await
                .unwrap_err()
        },
        c.delete_guest(GuestType::Lxc, NODE, 200, DeleteOptions::default())
            .await
            .unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    }
}

#[tokio::test]
async fn destroy_of_a_running_container_is_refused() {
    let sim = sim().await;
    let c = http_client(&sim);
    create_ct(&c, 210).await;
    let up = c.start_guest(GuestType::Lxc, NODE, 210).await.unwrap();
    c.wait_task(&up, WaitOptions::default()).await.unwrap();
    let e = match c
        .delete_guest(GuestType::Lxc, NODE, 210, DeleteOptions::default())
        .await
    {
        Err(e) => e,
        Ok(upid) => c
            .wait_task(&upid, WaitOptions::default())
            .await
            .unwrap_err(),
    };
    assert_eq!(class(&e), Some(ErrorClass::Running), "{e:?}");
}

#[tokio::test]
async fn qemu_clone_lifecycle_and_agent() {
    let sim = sim().await;
    let c = http_client(&sim);
    let upid = c
        .clone_vm(
            NODE,
            TEMPLATE_VM,
            &CloneVm {
                newid: 300,
                name: Some("vm300".into()),
                full: Some(true),
                ..CloneVm::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(upid.task_type(), "qmclone");
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    // Clone of something absent, and onto a taken id.
    let e = c
        .clone_vm(
            NODE,
            9999,
            &CloneVm {
                newid: 301,
                ..CloneVm::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    let e = match c
        .clone_vm(
            NODE,
            TEMPLATE_VM,
            &CloneVm {
                newid: 300,
                ..CloneVm::default()
            },
        )
        .await
    {
        Err(e) => e,
        Ok(upid) => c
            .wait_task(&upid, WaitOptions::default())
            .await
            .unwrap_err(),
    };
    assert_eq!(class(&e), Some(ErrorClass::AlreadyExists), "{e:?}");

    c.update_guest_config(
        GuestType::Qemu,
        NODE,
        300,
        &ConfigUpdate::default()
            .set("cores", 2)
            .set("memory", 1024)
            .set("tags", "a;b"),
    )
    .await
    .unwrap();
    let cfg = c.guest_config(GuestType::Qemu, NODE, 300).await.unwrap();
    assert_eq!(cfg.get("memory").as_deref(), Some("1024"));
    // Agent: not running while stopped.
    let e = c.agent_interfaces(NODE, 300).await.unwrap_err();
    assert!(!e.is_retryable(), "{e:?}");
    let up = c.start_guest(GuestType::Qemu, NODE, 300).await.unwrap();
    assert_eq!(up.task_type(), "qmstart");
    c.wait_task(&up, WaitOptions::default()).await.unwrap();
    let st = c.guest_status(GuestType::Qemu, NODE, 300).await.unwrap();
    assert_eq!(st.status, "running");
    let mut found = false;
    for _ in 0..100 {
        let reported = c.agent_interfaces(NODE, 300).await.is_ok_and(|a| {
            a.result.iter().any(|i| {
                i.ip_addresses.iter().any(|ip| {
                    ip.ip_address_type.as_deref() == Some("ipv4")
                        && !ip.ip_address.starts_with("127.")
                })
            })
        });
        if reported {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(found, "the agent never reported an address");
    let down = c
        .shutdown_guest(
            GuestType::Qemu,
            NODE,
            300,
            ShutdownOptions {
                timeout: Some(3),
                force_stop: Some(true),
            },
        )
        .await
        .unwrap();
    c.wait_task(&down, WaitOptions::default()).await.unwrap();
    let up = c.start_guest(GuestType::Qemu, NODE, 300).await.unwrap();
    c.wait_task(&up, WaitOptions::default()).await.unwrap();
    let stop = c.stop_guest(GuestType::Qemu, NODE, 300).await.unwrap();
    c.wait_task(&stop, WaitOptions::default()).await.unwrap();
    let del = c
        .delete_guest(
            GuestType::Qemu,
            NODE,
            300,
            DeleteOptions {
                purge: Some(true),
                destroy_unreferenced_disks: Some(true),
                force: None,
            },
        )
        .await
        .unwrap();
    c.wait_task(&del, WaitOptions::default()).await.unwrap();
    assert_eq!(
        c.guest_status(GuestType::Qemu, NODE, 300)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn storage_templates() {
    let sim = sim().await;
    let c = http_client(&sim);
    let t = c.lxc_templates(NODE, "local").await.unwrap();
    assert!(t.iter().any(|v| v.volid == DEBIAN), "{t:?}");
    assert!(t.iter().all(|v| v.content.as_deref() == Some("vztmpl")));
    let all = c.storage_content(NODE, "local", None).await.unwrap();
    assert!(all.len() >= t.len());
    let e = c
        .storage_content(NODE, "nosuchstorage", None)
        .await
        .unwrap_err();
    assert_eq!(e.backend(), Some("proxmox"));
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn task_status_log_and_failures() {
    let sim = sim().await;
    let c = http_client(&sim);
    let upid = c
        .create_lxc(
            NODE,
            &CreateLxc {
                vmid: 400,
                ostemplate: DEBIAN.into(),
                ..CreateLxc::default()
            },
        )
        .await
        .unwrap();
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    let st = c.task_status(&upid).await.unwrap();
    assert_eq!(st.status, "stopped");
    assert_eq!(st.exitstatus.as_deref(), Some("OK"));
    assert_eq!(st.task_type.as_deref(), Some("vzcreate"));
    let log = c.task_log(&upid, 0, 50).await.unwrap();
    assert_eq!(log.lines.first().map(|l| l.n), Some(1));
    assert_eq!(log.lines.last().map(|l| l.t.as_str()), Some("TASK OK"));
    assert_eq!(log.total, Some(log.lines.len() as u64));
    assert_eq!(c.task_log_tail(&upid, 1).await, vec!["TASK OK".to_string()]);

    // Unknown task: NotFound.
    let ghost: Upid = format!("UPID:{NODE}:00000001:00000001:00000001:vzstart:400:root@pam:")
        .parse()
        .unwrap();
    assert_eq!(
        c.task_status(&ghost).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    // A failing task: Backend error carrying the log's last lines.
    sim.set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::default()
    });
    let upid = c.start_guest(GuestType::Lxc, NODE, 400).await.unwrap();
    let e = c
        .wait_task(&upid, WaitOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e:?}");
    assert!(e.message().contains("TASK ERROR"), "{e:?}");
}

#[tokio::test]
async fn task_wait_deadline_is_a_timeout() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let c = http_client(&sim);
    let upid = c
        .create_lxc(
            NODE,
            &CreateLxc {
                vmid: 500,
                ostemplate: DEBIAN.into(),
                ..CreateLxc::default()
            },
        )
        .await
        .unwrap();
    let opts = WaitOptions {
        timeout: Duration::from_millis(200),
        ..WaitOptions::default()
    };
    let e = c.wait_task(&upid, opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.is_retryable());
    // While the task runs, the config is locked.
    let st = c.guest_status(GuestType::Lxc, NODE, 500).await.unwrap();
    assert_eq!(st.lock.as_deref(), Some("create"));
    // A start meanwhile forks its worker, which waits for the config flock the create's
    // worker holds (CT Status.pm:184): it is still running (this asserted a synchronous
    // `CT is locked (create)` before FIDELITY.md defect 2).
    let up = c.start_guest(GuestType::Lxc, NODE, 500).await.unwrap();
    let st = c.task_status(&up).await.unwrap();
    assert_eq!(st.status, "running");
}

#[tokio::test]
async fn transient_faults_are_retryable() {
    let sim = sim().await;
    let c = http_client(&sim);
    sim.set_faults(Faults {
        timeout_rate: 1.0,
        ..Faults::default()
    });
    let e = c.version().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Unavailable, true),
        "{e:?}"
    );
    assert_eq!(class(&e), Some(ErrorClass::Unreachable));
    sim.set_faults(Faults {
        lock_timeout_rate: 1.0,
        ..Faults::default()
    });
    let e = c
        .create_lxc(
            NODE,
            &CreateLxc {
                vmid: 600,
                ostemplate: DEBIAN.into(),
                ..CreateLxc::default()
            },
        )
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(e.message().contains("got timeout"), "{e:?}");
    assert_eq!(class(&e), Some(ErrorClass::LockTimeout));
    sim.set_faults(Faults::default());
    c.version().await.unwrap();
}

#[tokio::test]
async fn connection_refused_is_unavailable_and_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cfg = ProxmoxConfig::builder(format!("http://{addr}"))
        .token("root@pam", "t", "s")
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let e = ProxmoxClient::new(cfg)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Unavailable, true),
        "{e:?}"
    );
}

#[tokio::test]
async fn bad_credentials_are_unauthorized() {
    let sim = sim().await;
    let t = sim.token();
    let cfg = ProxmoxConfig::builder(sim.http_url())
        .token(t.user, t.token_id, "wrong")
        .build()
        .unwrap();
    let e = ProxmoxClient::new(cfg)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Unauthorized, false),
        "{e:?}"
    );
    let cfg = ProxmoxConfig::builder(sim.http_url())
        .password(sim.username(), "wrong-password")
        .build()
        .unwrap();
    let e = ProxmoxClient::new(cfg)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e:?}");
    assert!(!format!("{e:?}").contains("wrong-password"));
}

#[tokio::test]
async fn ticket_auth_access_ticket_and_csrf_on_writes() {
    let sim = sim().await;
    let c = password_client(&sim);
    c.version().await.unwrap();
    // A write needs the CSRF header: create and wait.
    create_ct(&c, 700).await;
    let raw = c
        .access_ticket(sim.username(), sim.password())
        .await
        .unwrap();
    assert!(raw["ticket"].as_str().unwrap().starts_with("PVE:"), "{raw}");
    assert!(raw["CSRFPreventionToken"].is_string());
}

#[tokio::test]
async fn ticket_is_renewed_before_and_after_expiry() {
    let sim = sim().await;
    // Renew on every call: the old ticket is posted as the password.
    let cfg = ProxmoxConfig::builder(sim.http_url())
        .password(sim.username(), sim.password())
        .ticket_renew_after(Duration::from_millis(1))
        .build()
        .unwrap();
    let c = ProxmoxClient::new(cfg).unwrap();
    for _ in 0..3 {
        c.version().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The server's clock runs past the ticket's 2 hours: the 401 makes the client log in again.
    let c = password_client(&sim);
    c.version().await.unwrap();
    sim.advance_time(Duration::from_secs(3 * 3600));
    c.version().await.unwrap();
    create_ct(&c, 710).await;
}

#[tokio::test]
async fn https_with_pinned_fingerprint() {
    let sim = sim().await;
    let c = https_client(&sim);
    c.version().await.unwrap();
    create_ct(&c, 800).await;
}

#[tokio::test]
async fn https_with_a_wrong_fingerprint_is_refused() {
    let sim = sim().await;
    let t = sim.token();
    let wrong = paas_proxmox::client::fingerprint_of(b"some other certificate");
    let cfg = ProxmoxConfig::builder(sim.https_url())
        .token(t.user, t.token_id, t.secret)
        .tls(Tls::PinnedFingerprint(wrong))
        .build()
        .unwrap();
    let e = ProxmoxClient::new(cfg)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert_eq!(class(&e), Some(ErrorClass::Certificate), "{e:?}");
    assert!(
        !e.is_retryable(),
        "a refused certificate stays refused: {e:?}"
    );
}

#[tokio::test]
async fn https_verification_is_on_by_default_and_the_opt_out_works() {
    let sim = sim().await;
    let t = sim.token();
    let cfg = ProxmoxConfig::builder(sim.https_url())
        .token(&t.user, &t.token_id, &t.secret)
        .build()
        .unwrap();
    let e = ProxmoxClient::new(cfg)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert_eq!(
        class(&e),
        Some(ErrorClass::Certificate),
        "self-signed must be refused: {e:?}"
    );
    let cfg = ProxmoxConfig::builder(sim.https_url())
        .token(t.user, t.token_id, t.secret)
        .tls(Tls::DangerAcceptInvalidCerts)
        .build()
        .unwrap();
    ProxmoxClient::new(cfg).unwrap().version().await.unwrap();
}
