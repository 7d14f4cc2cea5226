//! The foundation's conformance suites, unchanged, against the SQL backends: SQLite (a new
//! temporary file per check) and PostgreSQL (a new schema per check).

mod sql_support;

use paas_core::ports::{IdAllocator, Store};
use paas_core::testkit::{id_allocator, store};
use sql_support::{Scratch, postgres_url};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_store_suite() {
    let scratch = Scratch::default();
    let report = store::run_all(|| {
        let scratch = scratch.clone();
        async move { Arc::new(scratch.sqlite().await) as Arc<dyn Store> }
    })
    .await;
    scratch.cleanup(None).await;
    report.assert_all_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_passes_the_store_suite() {
    let report = store::run_all(|| async {
        let s = paas_core::sql::SqliteStore::open("sqlite::memory:").await.unwrap();
        s.migrate().await.unwrap();
        Arc::new(s) as Arc<dyn Store>
    })
    .await;
    report.assert_all_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_id_allocator_suite() {
    let scratch = Scratch::default();
    let report = id_allocator::run_all(|pools| {
        let scratch = scratch.clone();
        async move { Arc::new(scratch.sqlite().await.id_allocator(pools)) as Arc<dyn IdAllocator> }
    })
    .await;
    scratch.cleanup(None).await;
    report.assert_all_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_store_suite() {
    let Some(url) = postgres_url() else { return };
    let scratch = Scratch::default();
    let report = store::run_all(|| {
        let (scratch, url) = (scratch.clone(), url.clone());
        async move { Arc::new(scratch.pg(&url).await) as Arc<dyn Store> }
    })
    .await;
    scratch.cleanup(Some(&url)).await;
    report.assert_all_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_id_allocator_suite() {
    let Some(url) = postgres_url() else { return };
    let scratch = Scratch::default();
    let report = id_allocator::run_all(|pools| {
        let (scratch, url) = (scratch.clone(), url.clone());
        async move { Arc::new(scratch.pg(&url).await.id_allocator(pools)) as Arc<dyn IdAllocator> }
    })
    .await;
    scratch.cleanup(Some(&url)).await;
    report.assert_all_passed();
}
