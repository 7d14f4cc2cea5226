//! The ports: small traits the engine composes and the adapters implement.
//!
//! Each is an `#[async_trait]` trait, `Send + Sync + Debug + 'static`, used as `Arc<dyn Port>`.
//! With feature `mock`, mockall generates `Mock*` types for unit tests of engine logic.

mod clock;
mod id_allocator;
mod ledger;
mod orchestrator;
mod provisioner;
mod store;

pub use clock::{Clock, SystemClock};
pub use id_allocator::{
    IdAllocator, POOL_INTERNAL_PORT, POOL_PUBLIC_PORT, POOL_VMID, PoolRange, PoolUsage, Pools,
};
pub use ledger::{
    Account, AccountFlags, AccountId, Balance, Ledger, Posted, Rejected, Transfer, TransferId,
    TransferOutcome,
};
pub use orchestrator::{
    LogLine, LogOptions, Orchestrator, Rollout, RolloutState, Service, ServiceSpec,
};
pub use provisioner::{
    DataVolume, Guest, GuestKind, GuestRef, GuestSource, GuestSpec, GuestState, MANAGED_TAG,
    Provisioner, StopMode, VolumeInfo, app_from_tags, app_tag,
};
pub use store::{AppQuery, Page, Store};

#[cfg(feature = "mock")]
pub use clock::MockClock;
#[cfg(feature = "mock")]
pub use id_allocator::MockIdAllocator;
#[cfg(feature = "mock")]
pub use ledger::MockLedger;
#[cfg(feature = "mock")]
pub use orchestrator::MockOrchestrator;
#[cfg(feature = "mock")]
pub use provisioner::MockProvisioner;
#[cfg(feature = "mock")]
pub use store::MockStore;
