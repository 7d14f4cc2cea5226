//! Helpers of the SQL store tests: a private Postgres schema or SQLite file per store.
#![allow(dead_code)]

use paas_core::sql::{PgConfig, PgStore, SqliteStore};
use sqlx::Connection;
use std::sync::{Arc, Mutex};

/// The test database URL, or `None` (with a note) when it is not set. Under `CI=true` a
/// missing database fails the test instead of skipping it.
pub fn postgres_url() -> Option<String> {
    match std::env::var("PAAS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "PAAS_TEST_DATABASE_URL is not set and CI=true: the PostgreSQL tests must run. \
                     Start a server with scripts/ensure-postgres.sh and export the URL it prints."
                );
            }
            eprintln!(
                "note: skipping a PostgreSQL test: PAAS_TEST_DATABASE_URL is not set \
                 (scripts/ensure-postgres.sh starts a server and prints it)"
            );
            None
        }
    }
}

/// A fresh schema name: `t_<random>`.
pub fn schema_name() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

/// A migrated store in a new schema of the test database.
pub async fn pg_store(url: &str, schema: &str) -> PgStore {
    let config = PgConfig::new(url).max_connections(24).schema(schema).unwrap();
    let store = PgStore::connect_with(config).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// Drops test schemas (and everything in them).
pub async fn drop_schemas(url: &str, schemas: &[String]) {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    for s in schemas {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// Schemas (Postgres) or directories (SQLite) made for one test, removed at its end.
#[derive(Clone, Default)]
pub struct Scratch {
    pub schemas: Arc<Mutex<Vec<String>>>,
    pub dirs: Arc<Mutex<Vec<tempfile::TempDir>>>,
}

impl Scratch {
    /// A migrated Postgres store in a new schema, remembered for [`Scratch::cleanup`].
    pub async fn pg(&self, url: &str) -> PgStore {
        let name = schema_name();
        self.schemas.lock().unwrap().push(name.clone());
        pg_store(url, &name).await
    }

    /// A migrated SQLite store in a new temporary file.
    pub async fn sqlite(&self) -> SqliteStore {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paas.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        store.migrate().await.unwrap();
        self.dirs.lock().unwrap().push(dir);
        store
    }

    pub async fn cleanup(&self, url: Option<&str>) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap());
        if let Some(url) = url {
            drop_schemas(url, &schemas).await;
        }
        self.dirs.lock().unwrap().clear();
    }
}

use paas_core::model::{
    AppId, AppStatus, Application, Money, Operation, OperationKind, OrgId, Organization, Plan,
    PlanId, Runtime,
};
use paas_core::ports::Store;

/// Records an organisation and a plan; returns their ids.
pub async fn org_and_plan(store: &dyn Store) -> (OrgId, PlanId) {
    let org = Organization {
        id: OrgId::new(),
        name: "Acme".into(),
        slug: format!("acme-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]).parse().unwrap(),
        created_at: chrono::Utc::now(),
    };
    let plan = Plan {
        id: PlanId::new(),
        name: format!("small-{}", uuid::Uuid::new_v4().simple()),
        cpu: 1,
        memory_mb: 512,
        disk_gb: 8,
        price_per_hour: Money::from_micros(15_000),
        max_replicas: 4,
    };
    store.create_org(&org).await.unwrap();
    store.create_plan(&plan).await.unwrap();
    (org.id, plan.id)
}

/// Records an app of `org` with a unique slug.
pub async fn new_app(store: &dyn Store, org: OrgId, plan: PlanId) -> Application {
    let now = chrono::Utc::now();
    let app = Application {
        id: AppId::new(),
        org,
        name: "shop".into(),
        slug: format!("shop-{}", uuid::Uuid::new_v4().simple()).parse().unwrap(),
        runtime: Runtime::Container { image: "registry.example/shop:1".into() },
        plan,
        replicas: 1,
        env: Default::default(),
        domains: Vec::new(),
        health_check: None,
        listen_port: None,
        status: AppStatus::Created,
        status_reason: None,
        placement: None,
        ports: Vec::new(),
        current_release: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    store.create_app(&app).await.unwrap();
    app
}

/// Enqueues a restart of `app`, due now.
pub async fn enqueue_restart(store: &dyn Store, app: &Application) -> Operation {
    let op = Operation::new(app.org, app.id, OperationKind::Restart, chrono::Utc::now());
    store.enqueue(&op).await.unwrap();
    op
}
