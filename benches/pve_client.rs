//! Proxmox VE client and Provisioner costs, measured against the simulator.
//!
//! - `pve_client/get_version`: client round trips per second (token auth, plain HTTP, one
//!   connection pool), the floor of every API call.
//! - `pve_provisioner/create_start` vs `pve_provisioner/floor_create_start`: the Provisioner's
//!   create + start of an LXC container on a simulator whose tasks take no time, against the
//!   same four calls made by hand (create, one task status poll, start, one poll). The
//!   difference is what the adapter adds over the simulator's own time.
//!
//! Run: `cargo bench --bench pve_client --no-default-features --features sim` (the default
//! features would also build the SQL store, which this bench does not use).

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paas_core::model::Vmid;
use paas_core::ports::{GuestSource, GuestSpec, Provisioner};
use paas_proxmox::client::guest::GuestType;
use paas_proxmox::client::lxc::CreateLxc;
use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig, Upid};
use paas_proxmox::provisioner::ProxmoxProvisioner;
use paas_proxmox::sim::PveSim;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const DEBIAN: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

fn client(sim: &PveSim) -> ProxmoxClient {
    let t = sim.token();
    let cfg = ProxmoxConfig::builder(sim.http_url())
        .token(t.user, t.token_id, t.secret)
        .build()
        .expect("config");
    ProxmoxClient::new(cfg).expect("client")
}

fn spec(vmid: u32) -> GuestSpec {
    GuestSpec {
        vmid: Vmid::new(vmid).expect("vmid"),
        node: "pve1".parse().expect("node"),
        hostname: format!("ct{vmid}").parse().expect("hostname"),
        source: GuestSource::LxcTemplate {
            template: DEBIAN.into(),
        },
        cores: 1,
        memory_mb: 64,
        disk_gb: 1,
        tags: vec![],
        password: None,
        ssh_public_keys: None,
        env: Default::default(),
        data_volume: None,
    }
}

/// Polls a task until it stops, with no pause: the least any client can do.
async fn spin_wait(c: &ProxmoxClient, upid: &Upid) {
    loop {
        let st = c.task_status(upid).await.expect("task status");
        if st.status == "stopped" {
            assert_eq!(st.exitstatus.as_deref(), Some("OK"));
            return;
        }
    }
}

fn benches(crit: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sim = rt
        .block_on(
            PveSim::builder()
                .nodes(1)
                .node_memory_mb(1 << 30)
                .task_duration(Duration::ZERO)
                .start(),
        )
        .expect("simulator");
    let c = client(&sim);

    let mut g = crit.benchmark_group("pve_client");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1));
    g.bench_function("get_version", |b| {
        b.to_async(&rt)
            .iter(|| async { c.version().await.expect("version") })
    });
    g.finish();

    let next = AtomicU32::new(10_000);
    let p = ProxmoxProvisioner::new(c.clone());
    let mut g = crit.benchmark_group("pve_provisioner");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("create_start", |b| {
        b.to_async(&rt).iter(|| async {
            let vmid = next.fetch_add(1, Ordering::Relaxed);
            let guest = p.create(&spec(vmid)).await.expect("create");
            p.start(&guest).await.expect("start");
        })
    });
    g.bench_function("floor_create_start", |b| {
        b.to_async(&rt).iter(|| async {
            let vmid = next.fetch_add(1, Ordering::Relaxed);
            let params = CreateLxc {
                vmid,
                ostemplate: DEBIAN.into(),
                hostname: Some(format!("ct{vmid}")),
                memory: Some(64),
                // As the Provisioner does: `local` holds no container disks on a stock install.
                rootfs: Some("local-lvm:1".into()),
                ..CreateLxc::default()
            };
            let upid = c.create_lxc("pve1", &params).await.expect("create");
            spin_wait(&c, &upid).await;
            let upid = c
                .start_guest(GuestType::Lxc, "pve1", vmid)
                .await
                .expect("start");
            spin_wait(&c, &upid).await;
        })
    });
    g.finish();
    rt.block_on(async move { drop(sim) });
}

criterion_group!(pve, benches);
criterion_main!(pve);
