//! Proxmox VE for the paas SDK: a typed API client ([`client`]), the
//! [`Provisioner`](paas_core::ports::Provisioner) adapter ([`provisioner`]), VMID sources
//! ([`vmid`]) and, with feature `sim`, a faithful simulator to test against.

pub mod client;
#[cfg(feature = "sim")]
pub mod sim;

pub use client::{Auth, ProxmoxClient, ProxmoxConfig, Tls};
