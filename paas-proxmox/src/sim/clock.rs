//! Simulated wall time: the real clock plus an offset tests can advance.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The simulator's clock.
#[derive(Debug)]
pub(crate) struct Clock {
    offset_secs: AtomicI64,
    started: Instant,
    started_epoch: i64,
}

impl Clock {
    /// A clock at real time.
    pub fn new() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Clock {
            offset_secs: AtomicI64::new(0),
            started: Instant::now(),
            started_epoch: epoch,
        }
    }

    /// Simulated epoch seconds.
    pub fn now(&self) -> i64 {
        let real = self
            .started_epoch
            .saturating_add(self.started.elapsed().as_secs() as i64);
        real.saturating_add(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Seconds since the simulator started (simulated).
    pub fn uptime_secs(&self) -> i64 {
        (self.now() - self.started_epoch).max(0)
    }

    /// Moves simulated time forward.
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}
