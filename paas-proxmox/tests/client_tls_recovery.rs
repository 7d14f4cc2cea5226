//! The client's TLS trust (private CA, several pins, renewal), its response size limit, and
//! the recovery of a task whose response was lost, against the simulator over real HTTP(S).

mod client_support;

use client_support::*;
use paas_core::ErrorKind;
use paas_core::ports::Provisioner;
use paas_proxmox::client::error::{ErrorClass, class_of};
use paas_proxmox::client::guest::GuestType;
use paas_proxmox::client::lxc::CreateLxc;
use paas_proxmox::client::qemu::CloneVm;
use paas_proxmox::client::task_list::{TaskFilter, TaskSource};
use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig, TaskRecovery, Tls, WaitOptions};
use paas_proxmox::provisioner::ProxmoxProvisioner;
use paas_proxmox::sim::{Faults, PveSim};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA (certificate PEM) and a function signing leaves for 127.0.0.1 and localhost.
struct Ca {
    pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            DnType::CommonName,
            format!("{name} Proxmox Virtual Environment"),
        );
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            cert,
            key,
        }
    }

    /// A node certificate (like `pve-ssl.pem`): chain PEM and key PEM.
    fn leaf(&self) -> (String, String) {
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn self_signed() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    (ck.cert.pem(), ck.key_pair.serialize_pem())
}

fn client_with(sim: &PveSim, url: String, tls: Tls) -> ProxmoxClient {
    let t = sim.token();
    let cfg = ProxmoxConfig::builder(url)
        .token(t.user, t.token_id, t.secret)
        .tls(tls)
        .build()
        .unwrap();
    ProxmoxClient::new(cfg).unwrap()
}

async fn sim_serving(chain: &str, key: &str) -> PveSim {
    PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .auth_failure_delay(Duration::from_millis(20))
        .tls_certificate(chain, key)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_private_ca_is_trusted_when_configured_and_refused_otherwise() {
    let ca = Ca::new("cluster-a");
    let (chain, key) = ca.leaf();
    let sim = sim_serving(&chain, &key).await;
    let trusting = Tls::PrivateCa {
        ca_pem: ca.pem.clone(),
        pins: vec![],
    };
    // By IP and by name: the CA-signed certificate names both.
    client_with(&sim, sim.https_url(), trusting.clone())
        .version()
        .await
        .unwrap();
    let by_name = sim.https_url().replace("127.0.0.1", "localhost");
    client_with(&sim, by_name, trusting)
        .version()
        .await
        .unwrap();

    // Without that CA: refused by the web PKI, by another cluster's CA, by wrong pins.
    let other = Ca::new("cluster-b");
    for tls in [
        Tls::Verify,
        Tls::PrivateCa {
            ca_pem: other.pem.clone(),
            pins: vec![],
        },
        Tls::PinnedFingerprints(vec![paas_proxmox::client::fingerprint_of(b"x")]),
    ] {
        let e = client_with(&sim, sim.https_url(), tls.clone())
            .version()
            .await
            .unwrap_err();
        assert_eq!(
            class_of(&e),
            Some(ErrorClass::Certificate),
            "{tls:?}: {e:?}"
        );
        assert!(!e.is_retryable(), "{e:?}");
    }
    // Another CA plus the node's pin: the pin alone lets it in.
    client_with(
        &sim,
        sim.https_url(),
        Tls::PrivateCa {
            ca_pem: other.pem,
            pins: vec![sim.fingerprint()],
        },
    )
    .version()
    .await
    .unwrap();
    // The CA's certificate does not carry the node's name: a leaf for another host fails.
    let params = CertificateParams::new(vec!["pve-other.example".to_string()]).unwrap();
    let k = KeyPair::generate().unwrap();
    let wrong_host = params.signed_by(&k, &ca.cert, &ca.key).unwrap();
    let sim2 = sim_serving(&wrong_host.pem(), &k.serialize_pem()).await;
    let e = client_with(
        &sim2,
        sim2.https_url(),
        Tls::PrivateCa {
            ca_pem: ca.pem.clone(),
            pins: vec![],
        },
    )
    .version()
    .await
    .unwrap_err();
    assert_eq!(class_of(&e), Some(ErrorClass::Certificate), "{e:?}");
}

#[tokio::test]
async fn a_renewal_to_the_second_pinned_certificate_keeps_working() {
    let (cert_a, key_a) = self_signed();
    let (cert_b, key_b) = self_signed();
    let sim = sim_serving(&cert_a, &key_a).await;
    let fp_a = sim.fingerprint();
    let both = client_with(
        &sim,
        sim.https_url(),
        Tls::PinnedFingerprints(vec![fp_a.clone(), fingerprint_of_pem(&cert_b)]),
    );
    let only_a = client_with(&sim, sim.https_url(), Tls::PinnedFingerprint(fp_a.clone()));
    both.version().await.unwrap();
    only_a.version().await.unwrap();
    create(&both, 100).await;

    sim.renew_certificate(&cert_b, &key_b).await.unwrap();
    assert_ne!(sim.fingerprint(), fp_a);
    assert_eq!(sim.fingerprint(), fingerprint_of_pem(&cert_b));
    // The same client, on new connections, verifies the new certificate against its pins.
    both.version().await.unwrap();
    let st = both
        .guest_status(GuestType::Lxc, "pve1", 100)
        .await
        .unwrap();
    assert_eq!(st.status, "stopped", "the state survived the renewal");
    // Pinning means pinning: a client that only knows the old certificate is refused.
    let e = only_a.version().await.unwrap_err();
    assert_eq!(class_of(&e), Some(ErrorClass::Certificate), "{e:?}");
}

fn fingerprint_of_pem(pem: &str) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    paas_proxmox::client::fingerprint_of(der.as_ref())
}

#[tokio::test]
async fn an_oversized_response_is_refused() {
    let sim = sim().await;
    let t = sim.token();
    let small = ProxmoxClient::new(
        ProxmoxConfig::builder(sim.http_url())
            .token(t.user, t.token_id, t.secret)
            .max_response_bytes(200)
            .build()
            .unwrap(),
    )
    .unwrap();
    small.version().await.unwrap();
    let e = small.vm_resources().await.unwrap_err();
    assert_eq!(class_of(&e), Some(ErrorClass::ResponseTooLarge), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert!(e.message().contains("max_response_bytes"), "{e}");

    // A chunked body without Content-Length is cut off as it arrives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
        for _ in 0..1024 {
            if s.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let c = ProxmoxClient::new(
        ProxmoxConfig::builder(format!("http://{addr}"))
            .token("root@pam", "t", "s")
            .max_response_bytes(64 * 1024)
            .build()
            .unwrap(),
    )
    .unwrap();
    let e = c.version().await.unwrap_err();
    assert_eq!(class_of(&e), Some(ErrorClass::ResponseTooLarge), "{e:?}");
}

async fn create(c: &ProxmoxClient, vmid: u32) -> paas_proxmox::client::Upid {
    let upid = c
        .create_lxc(
            "pve1",
            &CreateLxc {
                vmid,
                ostemplate: DEBIAN.into(),
                ..CreateLxc::default()
            },
        )
        .await
        .unwrap();
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    upid
}

async fn tasks_of(c: &ProxmoxClient, node: &str, ty: &str, vmid: u32) -> usize {
    c.list_tasks(
        node,
        &TaskFilter {
            vmid: Some(vmid),
            typefilter: Some(ty.into()),
            source: Some(TaskSource::All),
            ..TaskFilter::default()
        },
    )
    .await
    .unwrap()
    .total as usize
}

/// The promise: a client that lost a response never creates twice.
#[tokio::test]
async fn a_lost_response_is_recovered_from_the_task_list_without_posting_again() {
    let sim = sim().await;
    let c = http_client(&sim);
    const CREATE: &str = "POST /nodes/{node}/lxc";

    // The create runs, its response is lost (596): the client finds the vzcreate task.
    sim.set_faults(Faults {
        lost_response_rate: 1.0,
        ..Faults::default()
    });
    let upid = c
        .create_lxc(
            "pve1",
            &CreateLxc {
                vmid: 100,
                ostemplate: DEBIAN.into(),
                ..CreateLxc::default()
            },
        )
        .await
        .unwrap();
    sim.set_faults(Faults::default());
    assert_eq!((upid.task_type(), upid.id()), ("vzcreate", "100"));
    c.wait_task(&upid, WaitOptions::default()).await.unwrap();
    assert_eq!(sim.call_count(CREATE), 1, "posted once");
    assert_eq!(tasks_of(&c, "pve1", "vzcreate", 100).await, 1);
    assert_eq!(sim.guests().iter().filter(|g| g.vmid == 100).count(), 1);

    // A dropped connection on a start: the same.
    sim.set_faults(Faults {
        dropped_response_rate: 1.0,
        ..Faults::default()
    });
    let up = c.start_guest(GuestType::Lxc, "pve1", 100).await.unwrap();
    sim.set_faults(Faults::default());
    assert_eq!(up.task_type(), "vzstart");
    c.wait_task(&up, WaitOptions::default()).await.unwrap();
    assert_eq!(
        sim.call_count("POST /nodes/{node}/lxc/{vmid}/status/start"),
        1
    );
    assert_eq!(tasks_of(&c, "pve1", "vzstart", 100).await, 1);

    // Stop, then a start whose response is lost again: the earlier vzstart of the same
    // second is the client's own and is not taken for the new one.
    let down = c.stop_guest(GuestType::Lxc, "pve1", 100).await.unwrap();
    c.wait_task(&down, WaitOptions::default()).await.unwrap();
    sim.set_faults(Faults {
        lost_response_rate: 1.0,
        ..Faults::default()
    });
    let again = c.start_guest(GuestType::Lxc, "pve1", 100).await.unwrap();
    sim.set_faults(Faults::default());
    assert_ne!(again, up);
    c.wait_task(&again, WaitOptions::default()).await.unwrap();
    assert_eq!(tasks_of(&c, "pve1", "vzstart", 100).await, 2);

    // A call that did not run (596 before the handler): no task, the retryable error, and
    // still only one POST.
    sim.set_faults(Faults {
        timeout_rate: 1.0,
        ..Faults::default()
    });
    let e = c
        .create_lxc(
            "pve1",
            &CreateLxc {
                vmid: 101,
                ostemplate: DEBIAN.into(),
                ..CreateLxc::default()
            },
        )
        .await
        .unwrap_err();
    sim.set_faults(Faults::default());
    assert!(e.is_retryable(), "{e:?}");
    assert_eq!(class_of(&e), Some(ErrorClass::Unreachable));
    assert!(sim.guest(101).is_none());
    assert_eq!(
        sim.call_count(CREATE),
        2,
        "the failed create was not posted twice"
    );

    // A clone: its task is the source's (`qmclone` with id 9000).
    sim.set_faults(Faults {
        lost_response_rate: 1.0,
        ..Faults::default()
    });
    let cl = c
        .clone_vm(
            "pve1",
            TEMPLATE_VM,
            &CloneVm {
                newid: 300,
                ..CloneVm::default()
            },
        )
        .await
        .unwrap();
    sim.set_faults(Faults::default());
    assert_eq!((cl.task_type(), cl.id()), ("qmclone", "9000"));
    c.wait_task(&cl, WaitOptions::default()).await.unwrap();
    assert_eq!(sim.call_count("POST /nodes/{node}/qemu/{vmid}/clone"), 1);
    assert_eq!(sim.guests().iter().filter(|g| g.vmid == 300).count(), 1);

    // With recovery turned off the lost response is the caller's problem.
    let t = sim.token();
    let off = ProxmoxClient::new(
        ProxmoxConfig::builder(sim.http_url())
            .token(t.user, t.token_id, t.secret)
            .task_recovery(TaskRecovery {
                lookups: 0,
                pause: Duration::ZERO,
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    sim.set_faults(Faults {
        lost_response_rate: 1.0,
        ..Faults::default()
    });
    let e = off
        .stop_guest(GuestType::Lxc, "pve1", 100)
        .await
        .unwrap_err();
    sim.set_faults(Faults::default());
    assert_eq!(class_of(&e), Some(ErrorClass::Unreachable), "{e:?}");
}

/// The same through the provisioner: with every write's response lost, each guest is still
/// created once.
#[tokio::test]
async fn the_provisioner_creates_once_when_responses_are_lost() {
    let sim = sim().await;
    let prov = ProxmoxProvisioner::new(http_client(&sim));
    sim.set_faults(Faults {
        lost_response_rate: 0.5,
        dropped_response_rate: 0.3,
        ..Faults::default()
    });
    for vmid in [100u32, 101, 102, 103] {
        let spec = lxc_spec(vmid, "pve1", vec![]);
        prov.create(&spec).await.unwrap();
    }
    sim.set_faults(Faults::default());
    let c = http_client(&sim);
    for vmid in [100u32, 101, 102, 103] {
        assert_eq!(
            tasks_of(&c, "pve1", "vzcreate", vmid).await,
            1,
            "vmid {vmid}"
        );
    }
    assert_eq!(sim.call_count("POST /nodes/{node}/lxc"), 4);
}
