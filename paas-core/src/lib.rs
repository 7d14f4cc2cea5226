//! # paas-core
//!
//! The heart of the paas SDK: the domain model, the ports (traits the backends implement), the
//! engine (`Platform`) and the embedded backends.
//!
//! - [`model`]: validated newtypes and records (apps, releases, operations, money).
//! - [`ports`]: `Provisioner`, `Orchestrator`, `Store`, `Ledger`, `IdAllocator`, `Clock`.
//! - [`memory`] (feature `memory`, on by default): honest in-memory backends and fakes.
//! - [`testkit`] (feature `testkit`): the conformance suite every backend runs.
//!
//! Nothing here knows about HTTP, Docker or Proxmox: the adapter crates translate.

pub mod engine;
pub mod error;
pub mod model;
pub mod ports;

#[cfg(feature = "_sql")]
pub mod sql;

#[cfg(feature = "memory")]
pub mod memory;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use engine::{MasterKey, NewApp, NewPlan, Platform, ReconcileReport, Worker};
pub use error::{Error, ErrorKind, Result};
