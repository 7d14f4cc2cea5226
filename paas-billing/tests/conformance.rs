//! The Ledger conformance suite (`paas_core::testkit::ledger`) on every backend: memory,
//! SQLite and PostgreSQL, each check on a fresh ledger.

mod common;

use paas_core::testkit::ledger;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_suite_passes_on_memory() {
    ledger::run_all(|| async { common::memory() })
        .await
        .assert_all_passed();
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_suite_passes_on_sqlite() {
    ledger::run_all(|| async { common::sqlite().await })
        .await
        .assert_all_passed();
}

/// SQLite in a file with a pool of several connections: concurrent writers contend for the
/// database lock instead of sharing one connection.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_suite_passes_on_sqlite_file() {
    let dir = std::env::temp_dir().join(format!("paas-billing-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut n = 0;
    let report = ledger::run_all(|| {
        n += 1;
        let url = format!("sqlite://{}/ledger-{n}.db", dir.display());
        async move {
            std::sync::Arc::new(paas_billing::SqlLedger::connect(&url).await.unwrap())
                as std::sync::Arc<dyn paas_core::ports::Ledger>
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    report.assert_all_passed();
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_suite_passes_on_postgres() {
    if common::pg_url().is_none() {
        return;
    }
    ledger::run_all(|| async { common::postgres().await.unwrap() })
        .await
        .assert_all_passed();
}
