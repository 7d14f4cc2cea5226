//! The `Clock` port: where "now" comes from.

use crate::model::Timestamp;
use std::fmt::Debug;

/// The time source of the engine, the queue and billing. Production uses [`SystemClock`];
/// tests use [`crate::memory::ManualClock`] and move time by hand (billing hours, lease
/// expiry, retry backoff).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
///
/// ```
/// use paas_core::ports::{Clock, SystemClock};
/// let t = SystemClock.now();
/// assert!(t.timestamp() > 0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}
