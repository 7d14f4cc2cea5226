//! Tunables of the engine: leases, retries, deadlines.

use crate::{Error, Result};
use rand::Rng;
use std::time::Duration;

/// How retryable failures are retried: exponential backoff from `base`, doubling per attempt,
/// capped at `max`, with up to `jitter` (a fraction, 0.0..=1.0) of the delay taken off at
/// random so that many failed operations do not all come back at once.
///
/// ```
/// use paas_core::engine::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy { base: Duration::from_secs(1), max: Duration::from_secs(8), attempts: 5, jitter: 0.0 };
/// assert_eq!(p.backoff(1), Duration::from_secs(1));
/// assert_eq!(p.backoff(3), Duration::from_secs(4));
/// assert_eq!(p.backoff(10), Duration::from_secs(8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Attempts in all (the first included) before a retryable failure counts as permanent.
    pub attempts: u32,
    /// Fraction of each delay taken off at random, 0.0..=1.0.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 1 s, 2 s, 4 s, ... up to 60 s, 8 attempts, 20% jitter.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            attempts: 8,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `failed_attempts + 1`, after `failed_attempts` failures.
    pub fn backoff(&self, failed_attempts: u32) -> Duration {
        let exp = failed_attempts.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exp).min(self.max);
        if self.jitter <= 0.0 {
            return full;
        }
        let cut: f64 = rand::rng().random_range(0.0..=self.jitter.min(1.0));
        full.mul_f64(1.0 - cut)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.attempts == 0 {
            return Err(Error::invalid_input(
                "retry policy: attempts must be at least 1 (the first attempt counts)",
            ));
        }
        if self.base > self.max {
            return Err(Error::invalid_input(format!(
                "retry policy: base delay {:?} is longer than the maximum {:?}",
                self.base, self.max
            )));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::invalid_input(format!(
                "retry policy: jitter must be a fraction in 0.0..=1.0, got {}",
                self.jitter
            )));
        }
        Ok(())
    }
}

/// Every tunable of the engine, with production defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Tunables {
    /// How long a worker's lease on an operation lasts; renewed every third of it while the
    /// worker is alive. A dead worker's operation is resumed by another after this.
    pub lease_duration: Duration,
    /// Retries of retryable failures.
    pub retry: RetryPolicy,
    /// How long a deploy waits for a new guest to report an IP address.
    pub ip_deadline: Duration,
    /// How long a deploy waits for a service to converge.
    pub rollout_deadline: Duration,
    /// How long a graceful stop may take before the guest is forced off.
    pub stop_timeout: Duration,
    /// How often waits (`wait`, event streams, idle workers) look at the store when no
    /// in-process notification arrives (another process did the work).
    pub poll_interval: Duration,
    /// Operations one `Worker::run` executes at once.
    pub worker_concurrency: usize,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            lease_duration: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            ip_deadline: Duration::from_secs(120),
            rollout_deadline: Duration::from_secs(300),
            stop_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            worker_concurrency: 8,
        }
    }
}

impl Tunables {
    pub(crate) fn validate(&self) -> Result<()> {
        self.retry.validate()?;
        if self.lease_duration < Duration::from_millis(30) {
            return Err(Error::invalid_input(format!(
                "lease duration {:?} is too short: use at least 30 ms (30 s in production)",
                self.lease_duration
            )));
        }
        if self.poll_interval.is_zero() {
            return Err(Error::invalid_input(
                "poll interval must be longer than zero",
            ));
        }
        if self.worker_concurrency == 0 {
            return Err(Error::invalid_input(
                "worker concurrency must be at least 1",
            ));
        }
        Ok(())
    }
}
