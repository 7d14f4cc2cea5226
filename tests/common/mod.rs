//! Shared set-up of the facade's integration tests: the engine on the PVE simulator, on SQLite
//! or PostgreSQL.
#![allow(dead_code)]

use paas_core::engine::{MasterKey, Platform, PlatformBuilder};
use paas_core::ports::{IdAllocator, Pools, Store};
use paas_core::sql::SqliteStore;
use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig};
use paas_proxmox::provisioner::{ProvisionerOptions, ProxmoxProvisioner, RetryPolicy};
use paas_proxmox::sim::PveSim;
use std::sync::Arc;
use std::time::Duration;

/// The LXC template every simulated node has.
pub const DEBIAN: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

/// A provisioner for the simulator over HTTP, with `attempts` adapter-level tries.
pub fn provisioner(sim: &PveSim, attempts: u32) -> ProxmoxProvisioner {
    let t = sim.token();
    let cfg = ProxmoxConfig::builder(sim.http_url())
        .token(t.user, t.token_id, t.secret)
        .build()
        .expect("simulator config");
    let client = ProxmoxClient::new(cfg).expect("simulator client");
    let opts = ProvisionerOptions {
        task_timeout: Duration::from_secs(30),
        retry: RetryPolicy {
            attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
        },
        ..ProvisionerOptions::default()
    };
    ProxmoxProvisioner::with_options(client, opts)
}

/// A store and its id allocator.
pub struct Db {
    pub label: &'static str,
    pub store: Arc<dyn Store>,
    pub ids: Arc<dyn IdAllocator>,
    /// Keeps a SQLite file alive.
    pub _dir: Option<tempfile::TempDir>,
}

/// A fresh SQLite file database.
pub async fn sqlite() -> (Db, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("paas.db");
    let store = SqliteStore::open(path.to_str().expect("utf-8 path"))
        .await
        .expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    let ids = store.id_allocator(Pools::default());
    (
        Db {
            label: "sqlite",
            store: Arc::new(store.clone()),
            ids: Arc::new(ids),
            _dir: Some(dir),
        },
        store,
    )
}

/// A fresh schema on the PostgreSQL of `PAAS_TEST_DATABASE_URL`; `None` (skip) when it is not
/// set, except under `CI=true`, where a missing database fails the test.
#[cfg(feature = "postgres")]
pub async fn postgres() -> Option<Db> {
    use paas_core::sql::{PgConfig, PgStore};
    let Ok(url) = std::env::var("PAAS_TEST_DATABASE_URL") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but PAAS_TEST_DATABASE_URL is not set: run scripts/ensure-postgres.sh");
        }
        eprintln!("PAAS_TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
        return None;
    };
    let schema = format!("engine_{}", uuid_suffix());
    let cfg = PgConfig::new(url)
        .max_connections(16)
        .schema(schema)
        .expect("schema name");
    let store = PgStore::connect_with(cfg).await.expect("connect postgres");
    store.migrate().await.expect("migrate postgres");
    let ids = store.id_allocator(Pools::default());
    Some(Db {
        label: "postgres",
        store: Arc::new(store),
        ids: Arc::new(ids),
        _dir: None,
    })
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// A platform builder over `db` and `provisioner`, with short test tunables.
pub fn builder(db: &Db, provisioner: ProxmoxProvisioner) -> PlatformBuilder {
    Platform::builder()
        .store(db.store.clone())
        .ids(db.ids.clone())
        .provisioner(Arc::new(provisioner))
        .master_key(MasterKey::generate())
        .poll_interval(Duration::from_millis(20))
        .ip_deadline(Duration::from_secs(5))
}
