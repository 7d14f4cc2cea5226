//! Scripted and random failures shared by the fakes: per-method queues of injected errors,
//! a seeded random failure rate, and call counters.

use crate::Error;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;

/// Per-method queues of injected errors, a seeded random failure rate, and call counters.
#[derive(Debug)]
pub(crate) struct Faults<C> {
    queued: HashMap<C, VecDeque<Error>>,
    random: Option<(StdRng, f64)>,
    calls: HashMap<C, u64>,
}

impl<C> Default for Faults<C> {
    fn default() -> Self {
        Faults {
            queued: HashMap::new(),
            random: None,
            calls: HashMap::new(),
        }
    }
}

impl<C: Copy + Eq + Hash + Debug> Faults<C> {
    pub(crate) fn push(&mut self, call: C, error: Error) {
        self.queued.entry(call).or_default().push_back(error);
    }

    pub(crate) fn set_rate(&mut self, seed: u64, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self.random = (rate > 0.0).then(|| (StdRng::seed_from_u64(seed), rate));
    }

    pub(crate) fn calls(&self, call: C) -> u64 {
        self.calls.get(&call).copied().unwrap_or(0)
    }

    /// Counts the call, then fails it if a failure is queued or the dice say so.
    pub(crate) fn enter(&mut self, call: C, backend: &'static str) -> crate::Result<()> {
        *self.calls.entry(call).or_default() += 1;
        if let Some(error) = self.queued.get_mut(&call).and_then(VecDeque::pop_front) {
            return Err(error);
        }
        if let Some((rng, rate)) = &mut self.random
            && rng.random_bool(*rate)
        {
            return Err(Error::unavailable(format!(
                "injected transient failure of {call:?} (seeded fault rate); retry"
            ))
            .with_backend(backend));
        }
        Ok(())
    }
}
