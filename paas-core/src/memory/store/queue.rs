//! The operation queue of the in-memory store.
//!
//! Per app, unfinished operations wait in a line in enqueue order and only the front of a line
//! may run. The front of every line sits in one index ordered by the time it becomes leasable
//! (its `not_before` when queued, its lease's expiry when running), so `lease` looks at the
//! first entry of that index instead of scanning every operation.

use crate::model::{AppId, Lease, Operation, OperationId, OperationState, Timestamp};
use crate::{Error, Result};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// An operation and its position in enqueue order (the tie-breaker between equally due ones).
#[derive(Debug)]
struct Slot {
    op: Operation,
    seq: u64,
}

/// Key of a line's front in the due index: when it becomes leasable, then enqueue order.
type DueKey = (Timestamp, u64, OperationId);

#[derive(Debug, Default)]
pub(super) struct Queue {
    ops: HashMap<OperationId, Slot>,
    /// Every operation of an app, in enqueue order (for listing).
    history: HashMap<AppId, Vec<OperationId>>,
    /// Unfinished operations of an app, in enqueue order; only the front may run.
    lines: HashMap<AppId, VecDeque<OperationId>>,
    /// The front of every line.
    due: BTreeSet<DueKey>,
    next_seq: u64,
    unfinished: u64,
}

/// `now + d`, or `InvalidInput` when it does not fit a timestamp.
pub(super) fn add(now: Timestamp, d: Duration) -> Result<Timestamp> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "a lease of {d:?} from {now} is past the largest representable time"
            ))
        })
}

fn due_at(op: &Operation) -> Timestamp {
    match (&op.state, &op.lease) {
        (OperationState::Running, Some(lease)) => lease.expires_at,
        _ => op.not_before,
    }
}

impl Queue {
    fn key(slot: &Slot) -> DueKey {
        (due_at(&slot.op), slot.seq, slot.op.id)
    }

    /// Records a new operation in state queued at the back of its app's line.
    pub(super) fn enqueue(&mut self, op: &Operation) -> Result<()> {
        if self.ops.contains_key(&op.id) {
            return Err(Error::conflict(format!(
                "operation {} is already recorded: enqueue each operation once",
                op.id
            )));
        }
        let mut op = op.clone();
        op.state = OperationState::Queued;
        op.lease = None;
        op.finished_at = None;
        let slot = Slot {
            op,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let line = self.lines.entry(slot.op.app).or_default();
        if line.is_empty() {
            self.due.insert(Self::key(&slot));
        }
        line.push_back(slot.op.id);
        self.history
            .entry(slot.op.app)
            .or_default()
            .push(slot.op.id);
        self.unfinished += 1;
        self.ops.insert(slot.op.id, slot);
        Ok(())
    }

    pub(super) fn get(&self, id: OperationId) -> Option<&Operation> {
        self.ops.get(&id).map(|s| &s.op)
    }

    /// An app's operations, newest first.
    pub(super) fn newest_first(&self, app: AppId, limit: usize) -> Vec<Operation> {
        self.history
            .get(&app)
            .map(|ids| {
                ids.iter()
                    .rev()
                    .filter_map(|id| self.ops.get(id))
                    .take(limit)
                    .map(|s| s.op.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn unfinished(&self) -> u64 {
        self.unfinished
    }

    pub(super) fn lease(
        &mut self,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<Option<Operation>> {
        let expires_at = add(now, lease_for)?;
        let Some(&first) = self.due.first() else {
            return Ok(None);
        };
        if first.0 > now {
            return Ok(None);
        }
        self.due.remove(&first);
        let Some(slot) = self.ops.get_mut(&first.2) else {
            return Err(Error::internal(format!(
                "queue index names operation {} which is not recorded",
                first.2
            )));
        };
        slot.op.state = OperationState::Running;
        slot.op.attempts = slot.op.attempts.saturating_add(1);
        slot.op.lease = Some(Lease {
            worker: worker.to_owned(),
            expires_at,
        });
        slot.op.updated_at = now;
        let key = Self::key(slot);
        let leased = slot.op.clone();
        self.due.insert(key);
        Ok(Some(leased))
    }

    /// Runs `change` on an operation `worker` holds the lease of, keeping the index in step.
    /// `Ok(true)` from `change` means the operation finished and leaves its line.
    fn with_leased<F>(
        &mut self,
        id: OperationId,
        worker: &str,
        doing: &str,
        change: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Operation) -> bool,
    {
        let slot = self.ops.get_mut(&id).ok_or_else(|| {
            Error::not_found(format!("cannot {doing} operation {id}: it does not exist"))
        })?;
        let holds = slot.op.state == OperationState::Running
            && slot.op.lease.as_ref().is_some_and(|l| l.worker == worker);
        if !holds {
            let holder = match (&slot.op.state, &slot.op.lease) {
                (OperationState::Running, Some(l)) => format!("worker '{}' holds it", l.worker),
                (state, _) => format!("it is {state}"),
            };
            return Err(Error::conflict(format!(
                "worker '{worker}' cannot {doing} operation {id}: it does not hold its lease \
                 ({holder}); stop working on it"
            )));
        }
        let old = Self::key(slot);
        let finished = change(&mut slot.op);
        let new = Self::key(slot);
        let app = slot.op.app;
        self.due.remove(&old);
        if !finished {
            self.due.insert(new);
            return Ok(());
        }
        self.unfinished = self.unfinished.saturating_sub(1);
        if let Some(line) = self.lines.get_mut(&app) {
            // Only a line's front can be leased, so this is normally a pop.
            if line.front() == Some(&id) {
                line.pop_front();
            } else {
                line.retain(|o| *o != id);
            }
            match line.front().and_then(|next| self.ops.get(next)) {
                Some(next) => {
                    self.due.insert(Self::key(next));
                }
                None => {
                    self.lines.remove(&app);
                }
            }
        }
        Ok(())
    }

    pub(super) fn heartbeat(
        &mut self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<()> {
        let expires_at = add(now, lease_for)?;
        self.with_leased(id, worker, "renew the lease of", |op| {
            op.lease = Some(Lease {
                worker: worker.to_owned(),
                expires_at,
            });
            op.updated_at = now;
            false
        })
    }

    pub(super) fn checkpoint(
        &mut self,
        id: OperationId,
        worker: &str,
        checkpoint: &serde_json::Value,
    ) -> Result<()> {
        self.with_leased(id, worker, "checkpoint", |op| {
            op.checkpoint = checkpoint.clone();
            false
        })
    }

    pub(super) fn complete(&mut self, id: OperationId, worker: &str, now: Timestamp) -> Result<()> {
        self.with_leased(id, worker, "complete", |op| {
            op.state = OperationState::Succeeded;
            op.lease = None;
            op.updated_at = now;
            op.finished_at = Some(now);
            true
        })
    }

    pub(super) fn retry_at(
        &mut self,
        id: OperationId,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> Result<()> {
        self.with_leased(id, worker, "retry", |op| {
            op.state = OperationState::Queued;
            op.lease = None;
            op.not_before = at;
            op.error = Some(error.to_owned());
            false
        })
    }

    pub(super) fn fail(
        &mut self,
        id: OperationId,
        worker: &str,
        now: Timestamp,
        error: &str,
    ) -> Result<()> {
        self.with_leased(id, worker, "fail", |op| {
            op.state = OperationState::Failed;
            op.lease = None;
            op.error = Some(error.to_owned());
            op.updated_at = now;
            op.finished_at = Some(now);
            true
        })
    }
}
