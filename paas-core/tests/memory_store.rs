//! The store conformance suite against the in-memory store.

use paas_core::memory::MemoryStore;
use paas_core::ports::Store;
use paas_core::testkit::store;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_store_suite() {
    let report = store::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
    report.assert_all_passed();
    assert!(
        report.passed.len() >= 35,
        "only {} checks ran",
        report.passed.len()
    );
}
