//! The id allocator conformance suite against the in-memory allocator.

use paas_core::memory::MemoryIdAllocator;
use paas_core::ports::IdAllocator;
use paas_core::testkit::id_allocator;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_id_allocator_passes_the_allocator_suite() {
    let report = id_allocator::run_all(|pools| async move {
        Arc::new(MemoryIdAllocator::new(pools)) as Arc<dyn IdAllocator>
    })
    .await;
    report.assert_all_passed();
    assert_eq!(report.passed.len(), 12);
}

#[tokio::test]
async fn default_allocator_serves_the_default_pools() {
    let ids = MemoryIdAllocator::default();
    assert_eq!(ids.allocate("vmid", "a", &[]).await.unwrap(), 100);
    assert!(
        ids.allocate("tiny", "a", &[]).await.unwrap_err().kind()
            == paas_core::ErrorKind::InvalidInput
    );
}

#[tokio::test]
async fn search_skips_avoided_values_and_does_not_reuse_freed_ones_at_once() {
    let ids = MemoryIdAllocator::default();
    let avoid: Vec<u64> = (100..50_100).collect();
    assert_eq!(ids.allocate("vmid", "first", &avoid).await.unwrap(), 50_100);
    for i in 0..1_000u64 {
        let v = ids.allocate("vmid", &format!("o{i}"), &[]).await.unwrap();
        assert_eq!(v, 50_101 + i);
    }
    ids.release("vmid", 50_100).await.unwrap();
    // A VMID just freed may still name a guest being torn down: the cursor moves on.
    assert_eq!(ids.allocate("vmid", "next", &[]).await.unwrap(), 51_101);
}

#[tokio::test]
async fn search_wraps_around_to_freed_values() {
    let pools = paas_core::ports::Pools::empty().with("p", 1, 4).unwrap();
    let ids = MemoryIdAllocator::new(pools);
    for owner in ["a", "b", "c", "d"] {
        ids.allocate("p", owner, &[]).await.unwrap();
    }
    ids.release("p", 2).await.unwrap();
    assert_eq!(ids.allocate("p", "e", &[]).await.unwrap(), 2);
    assert_eq!(ids.usage("p").await.unwrap().used, 4);
}
