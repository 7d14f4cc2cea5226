//! # paas
//!
//! Build your own platform-as-a-service on Proxmox VE and Docker Swarm. Embed this crate and
//! write only your frontend: provisioning, deploying, durable state, id and port allocation,
//! billing and reconciliation are done here, correctly under concurrency, failures and restarts.
//!
//! This facade re-exports the crates behind features:
//!
//! | feature | what it brings |
//! |---|---|
//! | (always) | [`paas_core`]: the model, the ports, the engine, in-memory backends |
//! | `sqlite` (default), `postgres` | the SQL store (`paas_core::sql`) |
//! | `proxmox` (default) | [`proxmox`]: the Proxmox VE client and Provisioner |
//! | `sim` (default) | `proxmox::sim`: the built-in Proxmox VE simulator |
//! | `swarm` | [`swarm`]: the Docker Swarm Orchestrator |
//! | `billing` (default) | [`billing`]: the SQL ledger, hourly metering, wallets |

pub use paas_core::{Error, ErrorKind, Result, error, model, ports};

#[cfg(feature = "memory")]
pub use paas_core::memory;

#[cfg(feature = "proxmox")]
pub use paas_proxmox as proxmox;

#[cfg(feature = "swarm")]
pub use paas_swarm as swarm;

#[cfg(feature = "billing")]
pub use paas_billing as billing;
