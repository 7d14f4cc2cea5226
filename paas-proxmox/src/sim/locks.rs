//! Guest config file locks (PVE's `flock` on `/run/lock/lxc/pve-config-N.lock` and
//! `/var/lock/qemu-server/lock-N.conf`), taken with a timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

use super::types::GuestKind;

/// A held lock; dropping it releases the file.
pub(crate) type LockGuard = OwnedMutexGuard<()>;

/// The lock files of the cluster.
#[derive(Debug, Default)]
pub(crate) struct FileLocks {
    files: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl FileLocks {
    /// Takes the lock of `path`, waiting at most `timeout`; `Err` carries PVE's text
    /// `can't lock file '<path>' - got timeout`.
    pub async fn acquire(&self, path: &str, timeout: Duration) -> Result<LockGuard, String> {
        let mutex = {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            files.entry(path.to_string()).or_default().clone()
        };
        match tokio::time::timeout(timeout, mutex.lock_owned()).await {
            Ok(guard) => Ok(guard),
            Err(_) => Err(timeout_text(path)),
        }
    }
}

/// PVE's lock timeout message.
pub(crate) fn timeout_text(path: &str) -> String {
    format!("can't lock file '{path}' - got timeout")
}

/// The lock file of a guest's config.
pub(crate) fn lock_path(kind: GuestKind, vmid: u32) -> String {
    match kind {
        GuestKind::Lxc => format!("/run/lock/lxc/pve-config-{vmid}.lock"),
        GuestKind::Qemu => format!("/var/lock/qemu-server/lock-{vmid}.conf"),
    }
}
