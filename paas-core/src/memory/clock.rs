//! A clock that moves only when told to.

use crate::model::Timestamp;
use crate::ports::Clock;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A [`Clock`] for tests: it stands still until [`ManualClock::advance`] or
/// [`ManualClock::set`]. Clones share the same time.
///
/// ```
/// use paas_core::memory::ManualClock;
/// use paas_core::ports::Clock;
/// use std::time::Duration;
///
/// let clock = ManualClock::at("2026-01-01T00:00:00Z".parse().unwrap());
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!((clock.now() - t0).num_hours(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    /// A clock standing at `t`.
    pub fn at(t: Timestamp) -> Self {
        ManualClock(Arc::new(Mutex::new(t)))
    }

    /// A clock standing at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::at(chrono::Utc::now())
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let step = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t = t.checked_add_signed(step).unwrap_or(*t);
    }

    /// Sets the time.
    pub fn set(&self, to: Timestamp) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::starting_now()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
