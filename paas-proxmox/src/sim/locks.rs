//! Guest config file locks (PVE's `flock` on `/run/lock/lxc/pve-config-N.lock` and
//! `/var/lock/qemu-server/lock-N.conf`), taken exclusive or shared, with a timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use super::types::GuestKind;

/// A held lock; dropping it releases the file.
#[derive(Debug)]
#[allow(dead_code)] // held only to be dropped
pub(crate) enum LockGuard {
    /// `LOCK_EX`: everything else waits.
    Exclusive(OwnedRwLockWriteGuard<()>),
    /// `LOCK_SH`: other shared holders may hold it too (a clone of a stopped template).
    Shared(OwnedRwLockReadGuard<()>),
}

/// The lock files of the cluster.
#[derive(Debug, Default)]
pub(crate) struct FileLocks {
    files: Mutex<HashMap<String, Arc<RwLock<()>>>>,
}

impl FileLocks {
    fn file(&self, path: &str) -> Arc<RwLock<()>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.entry(path.to_string()).or_default().clone()
    }

    /// Takes the lock of `path` exclusively, waiting at most `timeout`; `Err` carries PVE's
    /// text `can't lock file '<path>' - got timeout`.
    pub async fn acquire(&self, path: &str, timeout: Duration) -> Result<LockGuard, String> {
        match tokio::time::timeout(timeout, self.file(path).write_owned()).await {
            Ok(guard) => Ok(LockGuard::Exclusive(guard)),
            Err(_) => Err(timeout_text(path)),
        }
    }

    /// Takes the lock of `path` shared (PVE's `lock_config_shared`), waiting at most
    /// `timeout` for an exclusive holder to let go.
    pub async fn acquire_shared(&self, path: &str, timeout: Duration) -> Result<LockGuard, String> {
        match tokio::time::timeout(timeout, self.file(path).read_owned()).await {
            Ok(guard) => Ok(LockGuard::Shared(guard)),
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
