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
