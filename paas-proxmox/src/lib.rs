//! Proxmox VE for the paas SDK: a typed API client ([`client`]), the
//! [`Provisioner`](paas_core::ports::Provisioner) adapter ([`provisioner`]), VMID sources
//! ([`vmid`]) and, with feature `sim`, a faithful simulator to test against.

pub mod client;
pub mod provisioner;
#[cfg(feature = "sim")]
pub mod sim;
pub mod vmid;

pub use client::{Auth, ProxmoxClient, ProxmoxConfig, Tls};
pub use provisioner::{ProvisionerOptions, ProxmoxProvisioner, RetryPolicy};
