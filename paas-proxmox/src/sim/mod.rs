//! The Proxmox VE simulator.
