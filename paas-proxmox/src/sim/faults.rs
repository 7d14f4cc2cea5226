//! Fault injection from a seeded ChaCha RNG.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::types::Faults;

/// What happens to one call before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallFault {
    /// Runs normally.
    None,
    /// HTTP 500 `cluster not ready - no quorum?`.
    Error,
    /// HTTP 596 `Connection timed out`.
    Timeout,
}

/// What happens to the response of a call that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterCall {
    /// It is sent.
    Deliver,
    /// 596 instead of it.
    Lost,
    /// The connection breaks instead.
    Dropped,
}

/// The text of an injected error.
pub(crate) const ERROR_TEXT: &str = "cluster not ready - no quorum?";

/// The fault settings and the RNG they draw from.
#[derive(Debug)]
pub(crate) struct FaultInjector {
    inner: Mutex<(Faults, ChaCha8Rng)>,
    /// Calls that passed validation, by `"METHOD /path/template"`.
    calls: Mutex<BTreeMap<String, u64>>,
}

impl FaultInjector {
    /// Seeded injector.
    pub fn new(faults: Faults, seed: u64) -> Self {
        FaultInjector {
            inner: Mutex::new((faults, ChaCha8Rng::seed_from_u64(seed))),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Faults, &mut ChaCha8Rng) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (faults, rng) = &mut *g;
        f(faults, rng)
    }

    /// Replaces the settings; the RNG stream continues.
    pub fn set(&self, faults: Faults) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = faults;
    }

    /// The current settings.
    pub fn get(&self) -> Faults {
        self.with(|f, _| f.clone())
    }

    /// Draws the latency and the fate of one call to `endpoint` (`"METHOD /path"`).
    /// Always draws three numbers, so the stream does not depend on the rates.
    pub fn call(&self, endpoint: &str) -> (Duration, CallFault) {
        *self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(endpoint.to_string())
            .or_default() += 1;
        self.with(|f, rng| {
            let jitter_u: f64 = rng.random();
            let timeout_u: f64 = rng.random();
            let error_u: f64 = rng.random();
            let jitter = Duration::try_from_secs_f64(f.latency_jitter.as_secs_f64() * jitter_u)
                .unwrap_or(Duration::ZERO);
            let delay = f.latency.saturating_add(jitter);
            let error_rate = f
                .endpoint_error_rates
                .get(endpoint)
                .copied()
                .unwrap_or(f.error_rate);
            let fault = if timeout_u < clamp(f.timeout_rate) {
                CallFault::Timeout
            } else if error_u < clamp(error_rate) {
                CallFault::Error
            } else {
                CallFault::None
            };
            (delay, fault)
        })
    }

    /// How many calls of `endpoint` passed validation.
    pub fn calls(&self, endpoint: &str) -> u64 {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// Whether a mutating guest call hits an injected lock timeout.
    pub fn lock_timeout(&self) -> bool {
        self.with(|f, rng| rng.random::<f64>() < clamp(f.lock_timeout_rate))
    }

    /// Whether a task about to start will fail.
    pub fn task_fails(&self) -> bool {
        self.with(|f, rng| rng.random::<f64>() < clamp(f.task_failure_rate))
    }

    /// How many warnings a task that succeeds ends with (0 = `TASK OK`).
    pub fn task_warnings(&self) -> u32 {
        self.with(|f, rng| {
            let u: f64 = rng.random();
            let n: u32 = rng.random_range(1..=3);
            if u < clamp(f.task_warning_rate) { n } else { 0 }
        })
    }

    /// What happens to the response of a call that ran. Always draws two numbers.
    pub fn after_call(&self) -> AfterCall {
        self.with(|f, rng| {
            let lost_u: f64 = rng.random();
            let drop_u: f64 = rng.random();
            if lost_u < clamp(f.lost_response_rate) {
                AfterCall::Lost
            } else if drop_u < clamp(f.dropped_response_rate) {
                AfterCall::Dropped
            } else {
                AfterCall::Deliver
            }
        })
    }
}

fn clamp(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws() {
        let f = Faults {
            error_rate: 0.5,
            timeout_rate: 0.2,
            ..Faults::default()
        };
        let a = FaultInjector::new(f.clone(), 7);
        let b = FaultInjector::new(f, 7);
        for _ in 0..100 {
            assert_eq!(a.call("GET /version"), b.call("GET /version"));
        }
    }
}
