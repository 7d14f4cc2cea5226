//! Proxmox VE for the paas SDK.
#[cfg(feature = "sim")]
pub mod sim;
