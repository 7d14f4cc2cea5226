//! Shared set-up of the client and provisioner tests: a simulator and clients for it.
#![allow(dead_code)]

use paas_core::model::Vmid;
use paas_core::ports::{GuestSource, GuestSpec};
use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig, Tls};
use paas_proxmox::sim::PveSim;
use std::time::Duration;

/// The Debian template every simulated node has.
pub const DEBIAN: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
/// The template VM of the simulator.
pub const TEMPLATE_VM: u32 = 9000;

/// A simulator with short tasks and a short 401 delay (PVE's is 3 s).
pub async fn sim() -> PveSim {
    PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .auth_failure_delay(Duration::from_millis(20))
        .start()
        .await
        .unwrap()
}

/// A token client over plain HTTP.
pub fn http_client(sim: &PveSim) -> ProxmoxClient {
    let t = sim.token();
    let cfg = ProxmoxConfig::builder(sim.http_url())
        .token(t.user, t.token_id, t.secret)
        .build()
        .unwrap();
    ProxmoxClient::new(cfg).unwrap()
}

/// A token client over HTTPS, pinned to the simulator's certificate.
pub fn https_client(sim: &PveSim) -> ProxmoxClient {
    let t = sim.token();
    let cfg = ProxmoxConfig::builder(sim.https_url())
        .token(t.user, t.token_id, t.secret)
        .tls(Tls::PinnedFingerprint(sim.fingerprint().to_owned()))
        .build()
        .unwrap();
    ProxmoxClient::new(cfg).unwrap()
}

/// A password (ticket) client over plain HTTP.
pub fn password_client(sim: &PveSim) -> ProxmoxClient {
    let cfg = ProxmoxConfig::builder(sim.http_url())
        .password(sim.username(), sim.password())
        .build()
        .unwrap();
    ProxmoxClient::new(cfg).unwrap()
}

/// An LXC spec on `node`.
pub fn lxc_spec(vmid: u32, node: &str, tags: Vec<String>) -> GuestSpec {
    GuestSpec {
        vmid: Vmid::new(vmid).unwrap(),
        node: node.parse().unwrap(),
        hostname: format!("ct{vmid}").parse().unwrap(),
        source: GuestSource::LxcTemplate {
            template: DEBIAN.into(),
        },
        cores: 1,
        memory_mb: 512,
        disk_gb: 4,
        tags,
        password: None,
        ssh_public_keys: None,
    }
}

/// A VM spec cloned from the simulator's template VM.
pub fn vm_spec(vmid: u32, node: &str, tags: Vec<String>) -> GuestSpec {
    GuestSpec {
        source: GuestSource::CloneVm {
            template: Vmid::new(TEMPLATE_VM).unwrap(),
        },
        hostname: format!("vm{vmid}").parse().unwrap(),
        ..lxc_spec(vmid, node, tags)
    }
}
