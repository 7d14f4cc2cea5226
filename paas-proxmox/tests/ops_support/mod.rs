//! Helpers of the backup, snapshot, pool and permission tests (on top of `client_support`).
#![allow(dead_code)]

use std::time::Duration;

use paas_core::model::Secret;
use paas_proxmox::client::guest::{GuestType, ShutdownOptions};
use paas_proxmox::client::lxc::CreateLxc;
use paas_proxmox::client::qemu::CloneVm;
use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig, TaskOutcome, Upid, WaitOptions};
use paas_proxmox::sim::{ApiToken, PveSim};

use super::client_support::{DEBIAN, TEMPLATE_VM};

/// The node every test works on.
pub const NODE: &str = "pve1";

/// A simulator whose tasks take `ms` milliseconds (long enough to see locks held).
pub async fn sim_with_tasks(ms: u64) -> PveSim {
    PveSim::builder()
        .task_duration(Duration::from_millis(ms))
        .start()
        .await
        .unwrap()
}

/// A client for an API token of the simulator.
pub fn token_client(sim: &PveSim, token: &ApiToken) -> ProxmoxClient {
    let cfg = ProxmoxConfig::builder(sim.http_url())
        .token(&token.user, &token.token_id, token.secret.clone())
        .build()
        .unwrap();
    ProxmoxClient::new(cfg).unwrap()
}

/// Waits for a task that must succeed.
pub async fn done(c: &ProxmoxClient, upid: &Upid) {
    let out = c.wait_task(upid, WaitOptions::default()).await;
    assert_eq!(out.unwrap(), TaskOutcome::Ok, "{upid}");
}

/// Waits for a task that must fail; returns its exit status.
pub async fn failed(c: &ProxmoxClient, upid: &Upid) -> String {
    let out = c.wait_task(upid, WaitOptions::default()).await;
    assert!(out.is_err(), "{upid} succeeded: {out:?}");
    let st = c.task_status(upid).await.unwrap();
    assert_eq!(st.status, "stopped");
    st.exitstatus.unwrap_or_default()
}

/// The whole log of a task.
pub async fn log_of(c: &ProxmoxClient, upid: &Upid) -> Vec<String> {
    c.task_log(upid, 0, 0)
        .await
        .unwrap()
        .lines
        .into_iter()
        .map(|l| l.t)
        .collect()
}

/// A container `vmid` on `node` (1 core, 256 MiB, 2 GiB on local-lvm, DHCP), created and
/// waited for.
pub async fn create_ct(c: &ProxmoxClient, node: &str, vmid: u32) {
    let p = CreateLxc {
        vmid,
        ostemplate: DEBIAN.into(),
        hostname: Some(format!("ct{vmid}")),
        cores: Some(1),
        memory: Some(256),
        rootfs: Some("local-lvm:2".into()),
        net0: Some("name=eth0,bridge=vmbr0,ip=dhcp".into()),
        tags: Some("paas-managed".into()),
        unprivileged: Some(true),
        password: Some(Secret::new("s3cret-pw")),
        ..CreateLxc::default()
    };
    let upid = c.create_lxc(node, &p).await.unwrap();
    done(c, &upid).await;
}

/// A VM `newid` cloned from the template VM on pve1, waited for.
pub async fn clone_vm(c: &ProxmoxClient, newid: u32) {
    let p = CloneVm {
        newid,
        name: Some(format!("vm{newid}")),
        full: Some(true),
        ..CloneVm::default()
    };
    let upid = c.clone_vm(NODE, TEMPLATE_VM, &p).await.unwrap();
    done(c, &upid).await;
}

/// Starts a guest and waits.
pub async fn start(c: &ProxmoxClient, kind: GuestType, vmid: u32) {
    let upid = c.start_guest(kind, NODE, vmid).await.unwrap();
    done(c, &upid).await;
}

/// Shuts a guest down and waits.
pub async fn shutdown(c: &ProxmoxClient, kind: GuestType, vmid: u32) {
    let upid = c
        .shutdown_guest(kind, NODE, vmid, ShutdownOptions::default())
        .await
        .unwrap();
    done(c, &upid).await;
}

/// Asserts that a call was refused with `text`, either at once or by its task (PVE reports
/// some lock errors from the worker; both forms are accepted).
pub async fn refused(c: &ProxmoxClient, res: paas_core::Result<Upid>, text: &str) {
    match res {
        Err(e) => assert!(e.message().contains(text), "{e:?} lacks {text:?}"),
        Ok(upid) => {
            let exit = failed(c, &upid).await;
            assert!(exit.contains(text), "{exit:?} lacks {text:?}");
        }
    }
}

/// The config lock of a guest as the status reports it.
pub async fn lock_of(c: &ProxmoxClient, kind: GuestType, vmid: u32) -> Option<String> {
    c.guest_status(kind, NODE, vmid).await.unwrap().lock
}

/// Waits until a guest carries `lock` (a worker sets it right after it started; PVE too
/// answers the UPID before the worker locks).
pub async fn wait_lock(c: &ProxmoxClient, kind: GuestType, vmid: u32, lock: &str) {
    for _ in 0..500 {
        if lock_of(c, kind, vmid).await.as_deref() == Some(lock) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("guest {vmid} never got lock '{lock}'");
}
