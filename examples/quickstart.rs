//! The quickstart: a whole platform in one process, on the embedded defaults.
//!
//! A SQLite file for the records and the wallets' ledger, the built-in Proxmox VE simulator for
//! the cluster, and one in-process worker. It creates an organisation and a plan, tops up the
//! wallet, deploys an LXC app while showing the deploy's events as they happen, bills the
//! hour, then stops, restarts, redeploys and deletes it, printing the state at each stage.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use futures::StreamExt;
use paas::billing::{Biller, Policy, SqlLedger};
use paas::model::{AppId, Application, Money, OperationId, OrgId, Placement, Runtime, Secret};
use paas::ports::{Clock, Pools, SystemClock};
use paas_core::engine::{MasterKey, NewApp, NewPlan, Platform};
use paas_core::sql::SqliteStore;
use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig};
use paas_proxmox::provisioner::ProxmoxProvisioner;
use paas_proxmox::sim::PveSim;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Res<()> {
    let started = Instant::now();

    // 1. The embedded defaults: a SQLite file, the PVE simulator, a worker in this process.
    let db_path = std::env::temp_dir().join(format!("paas-quickstart-{}.db", std::process::id()));
    let store = SqliteStore::open(db_path.to_str().ok_or("temp path is not UTF-8")?).await?;
    store.migrate().await?;
    let ids = store.id_allocator(Pools::default());
    let sim = PveSim::builder()
        .nodes(3)
        .task_duration(Duration::from_millis(150))
        .ip_delay(Duration::from_millis(300))
        .start()
        .await?;
    let token = sim.token();
    let client = ProxmoxClient::new(
        ProxmoxConfig::builder(sim.http_url())
            .token(token.user, token.token_id, token.secret)
            .build()?,
    )?;
    let platform = Platform::builder()
        .store(Arc::new(store.clone()))
        .ids(Arc::new(ids))
        .provisioner(Arc::new(ProxmoxProvisioner::new(client)))
        // In production, load the key from a secret store: MasterKey::from_hex(&env_var)?
        .master_key(MasterKey::generate())
        .poll_interval(Duration::from_millis(50))
        .build()?;
    let (stop_worker, worker_stops) = tokio::sync::oneshot::channel::<()>();
    let worker = platform.worker();
    let worker_task = tokio::spawn(async move {
        worker
            .run(async {
                let _ = worker_stops.await;
            })
            .await
    });
    println!(
        "platform up: records in {}, Proxmox VE simulator at {}",
        db_path.display(),
        sim.http_url()
    );

    // Billing: the wallets' ledger lives in the same SQLite file as the records. Charged in
    // arrears: each hour after it ran; apps are suspended when a wallet reaches zero.
    let ledger = SqlLedger::sqlite(store.pool().clone()).await?;
    let biller = Biller::new(
        Arc::new(store.clone()),
        Arc::new(ledger),
        Arc::new(SystemClock),
        Policy::InArrears,
    );

    // 2. An organisation, a plan and a wallet with money in it.
    let org = platform.create_org("Acme Hosting").await?;
    let plan = platform
        .create_plan(NewPlan::new("small", 1, 512, 8, "0.015".parse::<Money>()?))
        .await?;
    println!(
        "organisation '{}' ({}), plan '{}' at {}/hour",
        org.name, org.slug, plan.name, plan.price_per_hour
    );
    // The payment reference makes the top-up idempotent: the same payment twice credits once.
    let top_up = biller
        .top_up(org.id, "25.00".parse()?, "quickstart-payment-1")
        .await?;
    println!("wallet topped up: balance {}", top_up.balance);

    // 3. An LXC app, deployed while its events stream in.
    let app = platform
        .create_app(
            org.id,
            NewApp::new(
                "hello-shop",
                Runtime::Lxc {
                    template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
                },
                plan.id,
            )
            .env(
                "DATABASE_URL".parse()?,
                Secret::new("postgres://shop:hunter2@db/shop"),
            ),
        )
        .await?;
    show(&platform, org.id, app.id, "created").await?;
    let mut seen = 0;
    let op = platform.deploy(org.id, app.id).await?;
    seen = follow(&platform, org.id, app.id, op, seen, "deploy").await?;
    show(&platform, org.id, app.id, "deployed").await?;

    // Billing runs once an hour (a cron job or a loop in the control plane); here, once now:
    // the running app is charged plan price x replicas for the current hour. Running it again
    // charges nothing twice.
    let report = biller.bill_hour(SystemClock.now()).await?;
    println!(
        "billed the hour: {} app(s) charged {}; wallet balance {}",
        report.charged,
        report.amount,
        biller.wallet_balance(org.id).await?
    );

    // 4. Stop, restart, redeploy with a changed env, delete.
    let op = platform.stop(org.id, app.id).await?;
    seen = follow(&platform, org.id, app.id, op, seen, "stop").await?;
    show(&platform, org.id, app.id, "stopped").await?;

    let op = platform.start(org.id, app.id).await?;
    seen = follow(&platform, org.id, app.id, op, seen, "start").await?;
    let op = platform.restart(org.id, app.id).await?;
    seen = follow(&platform, org.id, app.id, op, seen, "restart").await?;
    show(&platform, org.id, app.id, "restarted").await?;

    platform
        .set_env(
            org.id,
            app.id,
            "FEATURE_FLAGS".parse()?,
            Secret::new("new-checkout"),
        )
        .await?;
    let op = platform.deploy(org.id, app.id).await?;
    seen = follow(&platform, org.id, app.id, op, seen, "redeploy").await?;
    show(&platform, org.id, app.id, "redeployed").await?;
    let releases = platform.releases(org.id, app.id).await?;
    println!(
        "releases: {}",
        releases
            .iter()
            .map(|r| format!("#{}", r.number))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let op = platform.delete(org.id, app.id).await?;
    follow(&platform, org.id, app.id, op, seen, "delete").await?;
    show(&platform, org.id, app.id, "deleted").await?;

    let overview = platform.overview().await?;
    println!(
        "overview: {} app(s) not deleted, {} operation(s) in flight, {} node(s): {}",
        overview.apps_total,
        overview.unfinished_operations,
        overview.nodes.len(),
        overview
            .nodes
            .iter()
            .map(|n| format!("{} {:.0}% memory", n.node.name, n.memory_used_percent))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let _ = stop_worker.send(());
    worker_task.await?;
    store.close().await;
    let _ = std::fs::remove_file(&db_path);
    println!("done in {:.1?}", started.elapsed());
    Ok(())
}

/// Prints the operation's events as they happen (a progress display) until it finishes;
/// returns the last event seen.
async fn follow(
    p: &Platform,
    org: OrgId,
    app: AppId,
    op: OperationId,
    after: u64,
    what: &str,
) -> Res<u64> {
    println!("\n== {what} (operation {op})");
    let started = Instant::now();
    let mut events = Box::pin(p.events_after(org, app, after).await?);
    let mut last = after;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(30), events.next()).await? {
        let event = event?;
        last = event.seq;
        if event.operation != Some(op) {
            continue;
        }
        let ms = started.elapsed().as_millis();
        println!("  [{ms:>5} ms] {:<16} {}", event.step, event.message);
        if event.step == "done" {
            break;
        }
    }
    let done = p.wait(org, op).await?;
    println!(
        "  -> {}{}",
        done.state,
        done.error.map(|e| format!(": {e}")).unwrap_or_default()
    );
    Ok(last)
}

async fn show(p: &Platform, org: OrgId, app: AppId, stage: &str) -> Res<()> {
    let a: Application = p.app(org, app).await?;
    let place = match &a.placement {
        Some(Placement::Guest {
            node,
            vmid,
            addresses,
        }) => {
            format!(
                "guest {vmid} on {node}, IP {}",
                addresses.first().map(String::as_str).unwrap_or("-")
            )
        }
        Some(Placement::Service { name, .. }) => format!("service {name}"),
        None => "nothing deployed".into(),
    };
    let ports = a
        .ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    println!(
        "[{stage}] app '{}' is {} — {place}; release {}; ports [{ports}]; env keys {:?}",
        a.slug,
        a.status,
        a.current_release.map_or("-".into(), |r| r.to_string()),
        a.env.keys().map(|k| k.as_str()).collect::<Vec<_>>()
    );
    Ok(())
}
