//! Backends for the tests: memory, SQLite (in memory) and PostgreSQL (a fresh schema per call,
//! on `PAAS_TEST_DATABASE_URL`).
#![allow(dead_code)]

use paas_billing::SqlLedger;
use paas_core::memory::MemoryLedger;
use paas_core::ports::Ledger;
use std::sync::Arc;

/// A fresh in-memory ledger.
pub fn memory() -> Arc<dyn Ledger> {
    Arc::new(MemoryLedger::new())
}

/// A fresh SQLite ledger (private in-memory database).
#[cfg(feature = "sqlite")]
pub async fn sqlite() -> Arc<dyn Ledger> {
    Arc::new(SqlLedger::connect("sqlite::memory:").await.unwrap())
}

/// The Postgres URL for tests, or `None` (with a note) when it is not set. Under `CI=true` a
/// missing URL fails the test instead: CI must run them.
pub fn pg_url() -> Option<String> {
    match std::env::var("PAAS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!(
                    "PAAS_TEST_DATABASE_URL is not set but CI=true: the Postgres tests must run in CI. \
                     Start a server with scripts/ensure-postgres.sh and export the URL it prints."
                );
            }
            eprintln!(
                "note: PAAS_TEST_DATABASE_URL is not set; skipping the Postgres part of this test \
                 (run scripts/ensure-postgres.sh and export the URL it prints)"
            );
            None
        }
    }
}

/// A pool on a new, empty schema of the test database (its search_path points there), or
/// `None` when Postgres is not configured.
#[cfg(feature = "postgres")]
pub async fn pg_pool(max_connections: u32) -> Option<sqlx::PgPool> {
    use sqlx::Executor;
    let url = pg_url()?;
    let schema = format!("billing_t_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .unwrap();
    admin.close().await;
    let set_path = format!("SET search_path TO {schema}");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .after_connect(move |conn, _meta| {
            let set_path = set_path.clone();
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(set_path)).await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .unwrap();
    Some(pool)
}

/// A fresh Postgres ledger in its own schema, or `None` when Postgres is not configured.
#[cfg(feature = "postgres")]
pub async fn postgres() -> Option<Arc<dyn Ledger>> {
    let pool = pg_pool(16).await?;
    Some(Arc::new(SqlLedger::postgres(pool).await.unwrap()))
}

/// A single-threaded runtime for property tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
