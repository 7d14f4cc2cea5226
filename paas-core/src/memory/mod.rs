//! Honest in-memory backends: the same semantics as the real ones (conflicts, versions,
//! leases), `Clone` over shared state, so a test can hand one copy to the platform and keep
//! another to inspect or to inject failures.

mod clock;
mod id_allocator;
mod ledger;
mod orchestrator;
mod provisioner;
mod store;

pub use clock::ManualClock;
pub use id_allocator::MemoryIdAllocator;
pub use ledger::MemoryLedger;
pub use orchestrator::FakeOrchestrator;
pub use provisioner::FakeProvisioner;
pub use store::MemoryStore;
