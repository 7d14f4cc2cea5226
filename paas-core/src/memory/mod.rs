//! Honest in-memory backends: the same semantics as the real ones (conflicts, versions,
//! leases), `Clone` over shared state, so a test can hand one copy to the platform and keep
//! another to inspect or to inject failures.

mod clock;
mod faults;
mod id_allocator;
mod ledger;
mod orchestrator;
mod provisioner;
mod store;

pub use clock::ManualClock;
pub use id_allocator::MemoryIdAllocator;
pub use ledger::MemoryLedger;
pub use orchestrator::{FakeOrchestrator, FakeOrchestratorBuilder, OrchestratorCall};
pub use provisioner::{
    DEFAULT_NODE_CAPACITY, FakeProvisioner, FakeProvisionerBuilder, ProvisionerCall,
};
pub use store::MemoryStore;
