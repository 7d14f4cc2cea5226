//! Conformance suites: one per port, as public async functions over `&dyn Port`, run against
//! every implementation (memory, SQLite, Postgres, the Proxmox adapter on the simulator, the
//! Swarm adapter on the real engine). A behaviour difference between two implementations is a
//! bug in one of them.

pub mod check;
pub mod id_allocator;
pub mod ledger;
pub mod orchestrator;
pub mod provisioner;
pub mod store;
