//! The adapter's own retry of transient failures on idempotent calls.

use crate::client::error::is_transient;
use paas_core::Result;
use std::future::Future;
use std::time::Duration;

/// How the adapter retries transient failures (595-597, lost connections, lock timeouts).
///
/// Only calls that are safe to repeat go through it (reads, and writes the adapter makes
/// idempotent itself: a create that finds its own guest, a start of a running guest). Other
/// failures surface at once with their retryable flag for the engine's own backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub attempts: u32,
    /// First pause.
    pub initial_backoff: Duration,
    /// Longest pause (pauses double up to it, with jitter).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, 50 ms doubling to 1 s.
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The pause before attempt `n + 1` (n from 1): doubling, capped, with up to 50% jitter
    /// so that clients that collided do not collide again in lockstep.
    pub(crate) fn backoff(&self, n: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let jitter: f64 = rand::random::<f64>() * 0.5;
        base.mul_f64(1.0 + jitter)
            .min(self.max_backoff.saturating_mul(2))
    }

    /// Runs `op` until it succeeds, fails with a non-transient error, or attempts run out.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut n = 0;
        loop {
            n += 1;
            match op().await {
                Err(e) if is_transient(&e) && n < self.attempts => {
                    let pause = self.backoff(n);
                    tracing::debug!(what, attempt = n, error = %e, ?pause, "transient Proxmox VE failure, retrying");
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ApiError, ErrorClass};
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn transient() -> paas_core::Error {
        ApiError::from_response(596, "Connection timed out", None, BTreeMap::new()).into_error("x")
    }

    #[tokio::test]
    async fn retries_transient_then_succeeds() {
        let p = RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let calls = AtomicU32::new(0);
        let r = p
            .run("t", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(transient())
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn gives_up_after_attempts_and_never_retries_other_errors() {
        let p = RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        };
        let calls = AtomicU32::new(0);
        let r: Result<()> = p
            .run("t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(transient())
            })
            .await;
        assert!(r.unwrap_err().is_retryable());
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let r: Result<()> = p
            .run("t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(
                    ApiError::transport(ErrorClass::AlreadyExists, "CT 100 already exists")
                        .into_error("x"),
                )
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        for n in 1..40 {
            assert!(p.backoff(n) <= p.max_backoff * 2);
            assert!(p.backoff(n) >= p.initial_backoff);
        }
    }
}
