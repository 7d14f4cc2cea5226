//! An app's env reaches the container's config (PVE 9.1's `env` key) and never a log line:
//! every event of every crate (reqwest and hyper included, through the `log` bridge) is
//! captured at TRACE while containers are created with a secret env, under faults that make
//! the adapter retry and log, and the secret is looked for in all of it.

mod client_support;

use client_support::*;
use paas_core::ErrorKind;
use paas_core::model::{AppId, Secret};
use paas_core::ports::{Provisioner, StopMode, app_tag};
use paas_proxmox::provisioner::{ProvisionerOptions, ProxmoxProvisioner};
use paas_proxmox::sim::{Faults, PveSim};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Everything logged in this process.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .try_init()
            .expect("the only subscriber of this test binary");
        buf
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&captured().lock().unwrap()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_reaches_the_config_and_never_a_log_line() {
    captured();
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .seed(3)
        .faults(Faults {
            timeout_rate: 0.2,
            lock_timeout_rate: 0.2,
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let secret = format!("s3cr3t-{}", AppId::new().as_uuid().simple());
    // Characters a form encoding or a property string could trip on.
    let tricky = format!("a=b&c;d%20{secret}");
    for (i, client) in [http_client(&sim), password_client(&sim)]
        .into_iter()
        .enumerate()
    {
        let p = ProxmoxProvisioner::new(client);
        let vmid = 300 + u32::try_from(i).unwrap();
        let mut spec = lxc_spec(vmid, "pve1", vec![app_tag(AppId::new())]);
        spec.env
            .insert("API_TOKEN".parse().unwrap(), Secret::new(secret.clone()));
        spec.env
            .insert("DSN".parse().unwrap(), Secret::new(tricky.clone()));
        assert!(!format!("{spec:?}").contains(&secret), "Debug of the spec");
        let g = p.create(&spec).await.unwrap();
        let env = sim.guest_config(vmid).unwrap()["env"].clone();
        assert_eq!(env, format!("API_TOKEN={secret}\0DSN={tricky}"));
        p.start(&g).await.unwrap();
        p.stop(&g, StopMode::Force).await.unwrap();
        p.destroy(&g).await.unwrap();
    }
    // A create that fails on the server, with the env in its request.
    sim.set_faults(Faults::default());
    let p = ProxmoxProvisioner::with_options(
        http_client(&sim),
        ProvisionerOptions {
            rootfs_storage: Some("local".into()),
            ..ProvisionerOptions::default()
        },
    );
    let mut spec = lxc_spec(310, "pve1", vec![app_tag(AppId::new())]);
    spec.env
        .insert("API_TOKEN".parse().unwrap(), Secret::new(secret.clone()));
    let e = p.create(&spec).await.unwrap_err();
    assert!(!e.message().contains(&secret) && !format!("{e:?}").contains(&secret));

    let logs = log_text();
    assert!(
        logs.contains("transient Proxmox VE failure, retrying"),
        "the capture works and the faults made the adapter log"
    );
    assert!(
        logs.lines().count() > 50,
        "{} lines captured",
        logs.lines().count()
    );
    assert!(!logs.contains(&secret), "the env value reached a log line");
    assert!(
        !logs.contains("s3cr3t"),
        "a part of the env value reached a log line"
    );
}

#[tokio::test]
async fn env_that_pve_cannot_keep_is_refused_before_any_call() {
    captured();
    let sim = sim().await;
    let p = ProxmoxProvisioner::new(http_client(&sim));
    let before = sim.guests().len();
    for bad in ["first\nsecond", "ends in a space ", "tab\there"] {
        let mut spec = lxc_spec(300, "pve1", vec![app_tag(AppId::new())]);
        spec.env.insert("K".parse().unwrap(), Secret::new(bad));
        let e = p.create(&spec).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
        assert!(e.message().contains("'K'"), "names the key: {e}");
        assert!(!e.message().contains(bad), "never the value: {e}");
    }
    // A VM spec with env is refused the same way.
    let mut spec = vm_spec(301, "pve1", vec![app_tag(AppId::new())]);
    spec.env.insert("K".parse().unwrap(), Secret::new("v"));
    let e = p.create(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
    assert_eq!(sim.guests().len(), before, "nothing was created");
    assert!(sim.running_tasks() == 0);
}
