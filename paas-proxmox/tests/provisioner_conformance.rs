//! The Provisioner conformance suite (paas_core::testkit) against the Proxmox adapter on the
//! simulator, over plain HTTP and over HTTPS with a pinned certificate fingerprint.

mod client_support;

use client_support::*;
use paas_core::model::Vmid;
use paas_core::ports::Provisioner;
use paas_core::testkit::provisioner::{self, ProvisionerFixture};
use paas_proxmox::client::ProxmoxClient;
use paas_proxmox::provisioner::ProxmoxProvisioner;
use paas_proxmox::sim::{GuestKind, NewGuest, PveSim};
use std::sync::Arc;
use std::time::Duration;

const UNMANAGED: u32 = 5000;

async fn run(sim: &PveSim, client: ProxmoxClient) {
    let mut other = NewGuest::new(UNMANAGED, "pve2", GuestKind::Lxc);
    other.tags = vec!["someone-else".into()];
    other.running = true;
    sim.add_unmanaged_guest(other).unwrap();
    let mut fixture = ProvisionerFixture::new("pve1".parse().unwrap(), DEBIAN);
    fixture.vm_template = Some(Vmid::new(TEMPLATE_VM).unwrap());
    fixture.unmanaged_guest = Some(Vmid::new(UNMANAGED).unwrap());
    fixture.deadline = Duration::from_secs(10);
    let provisioner: Arc<dyn Provisioner> = Arc::new(ProxmoxProvisioner::new(client));
    let report = provisioner::run_all(|| async { provisioner.clone() }, &fixture).await;
    report.assert_all_passed();
    assert!(report.passed.len() >= 10, "{:?}", report.passed);
}

#[tokio::test]
async fn conformance_over_http() {
    let sim = sim().await;
    let client = http_client(&sim);
    run(&sim, client).await;
}

#[tokio::test]
async fn conformance_over_https_with_pinned_fingerprint() {
    let sim = sim().await;
    let client = https_client(&sim);
    run(&sim, client).await;
}

#[tokio::test]
async fn conformance_with_ticket_auth_and_transient_faults() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .seed(7)
        .faults(paas_proxmox::sim::Faults {
            timeout_rate: 0.05,
            lock_timeout_rate: 0.05,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let client = password_client(&sim);
    run(&sim, client).await;
}
