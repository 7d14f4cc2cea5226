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

mod model {
    //! Random allocate/release sequences against a map of who holds what.

    use paas_core::memory::MemoryIdAllocator;
    use paas_core::ports::{IdAllocator, Pools};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Step {
        Allocate { owner: u8, avoid: Vec<u64> },
        Release { value: u64 },
        ReleaseOwner { owner: u8 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..6u8, prop::collection::vec(0..10u64, 0..4))
                .prop_map(|(owner, avoid)| Step::Allocate { owner, avoid }),
            2 => (0..10u64).prop_map(|value| Step::Release { value }),
            1 => (0..6u8).prop_map(|owner| Step::ReleaseOwner { owner }),
        ]
    }

    async fn run(last: u64, steps: Vec<Step>) -> Result<(), TestCaseError> {
        let ids = MemoryIdAllocator::new(Pools::empty().with("p", 1, last).unwrap());
        let mut holders: BTreeMap<u64, u8> = BTreeMap::new();
        for step in steps {
            match step {
                Step::Allocate { owner, avoid } => {
                    let got = ids.allocate("p", &format!("o{owner}"), &avoid).await;
                    let held = holders.iter().find(|(_, o)| **o == owner).map(|(v, _)| *v);
                    let any_free =
                        (1..=last).any(|v| !holders.contains_key(&v) && !avoid.contains(&v));
                    match (got, held) {
                        (Ok(v), Some(h)) => prop_assert_eq!(v, h, "idempotent per owner"),
                        (Ok(v), None) => {
                            prop_assert!((1..=last).contains(&v), "{v} out of range");
                            prop_assert!(!holders.contains_key(&v), "{v} handed out twice");
                            prop_assert!(!avoid.contains(&v), "{v} was to be avoided");
                            holders.insert(v, owner);
                        }
                        (Err(e), None) => {
                            prop_assert!(!any_free, "refused ({e}) although a value was free");
                            prop_assert!(e.is_conflict());
                        }
                        (Err(e), Some(h)) => prop_assert!(false, "owner holding {h} refused: {e}"),
                    }
                }
                Step::Release { value } => {
                    ids.release("p", value).await.unwrap();
                    holders.remove(&value);
                }
                Step::ReleaseOwner { owner } => {
                    let freed = ids.release_owner(&format!("o{owner}")).await.unwrap();
                    let before = holders.len();
                    holders.retain(|_, o| *o != owner);
                    prop_assert_eq!(freed, (before - holders.len()) as u64);
                }
            }
            prop_assert_eq!(ids.usage("p").await.unwrap().used, holders.len() as u64);
            for owner in 0..6u8 {
                let owned: Vec<u64> = ids
                    .owned_by(&format!("o{owner}"))
                    .await
                    .unwrap()
                    .iter()
                    .map(|a| a.value)
                    .collect();
                let expected: Vec<u64> = holders
                    .iter()
                    .filter(|(_, o)| **o == owner)
                    .map(|(v, _)| *v)
                    .collect();
                prop_assert_eq!(owned, expected, "owned_by o{}", owner);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn allocator_agrees_with_a_map_of_holders(last in 1..8u64, steps in prop::collection::vec(step(), 1..60)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(run(last, steps))?;
        }
    }
}
