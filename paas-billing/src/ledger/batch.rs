//! The rules of posting a batch, independent of where accounts and transfers are kept.
//!
//! A SQL backend loads (and locks) the batch's accounts and the transfers that already carry
//! the batch's ids, runs [`plan`] over them in memory, and writes back what it decided. Keeping
//! the rules in one pure function makes SQLite and Postgres answer exactly alike.

use paas_core::model::Money;
use paas_core::ports::{
    Account, AccountId, Posted, Rejected, Transfer, TransferId, TransferOutcome,
};
use std::collections::HashMap;

/// An account with its posted totals, in micros.
#[derive(Clone, Debug)]
pub(crate) struct AccountState {
    /// The account.
    pub account: Account,
    /// Posted debits.
    pub debits: i64,
    /// Posted credits.
    pub credits: i64,
}

/// What a batch does: one outcome per transfer, the transfers to insert (indices into the
/// batch, in batch order) and the accounts whose totals changed.
#[derive(Debug, Default)]
pub(crate) struct BatchPlan {
    /// One outcome per transfer, in order.
    pub outcomes: Vec<TransferOutcome>,
    /// Indices of the transfers to insert.
    pub created: Vec<usize>,
    /// Accounts whose totals changed.
    pub touched: Vec<AccountId>,
}

/// Decides the outcome of every transfer of `batch`.
///
/// `accounts` holds every account of the batch that exists (and is updated in place with the
/// new totals); `existing` holds the already-posted transfers with the batch's ids.
pub(crate) fn plan(
    batch: &[Transfer],
    accounts: &mut HashMap<AccountId, AccountState>,
    existing: &HashMap<TransferId, Transfer>,
) -> BatchPlan {
    let mut outcomes: Vec<Option<TransferOutcome>> = vec![None; batch.len()];
    // Transfers created earlier in this batch, by id -> index.
    let mut created_here: HashMap<TransferId, usize> = HashMap::new();
    let mut created: Vec<usize> = Vec::new();
    let mut touched: Vec<AccountId> = Vec::new();

    let mut start = 0;
    while start < batch.len() {
        // A chain runs up to and including the first unlinked transfer.
        let mut end = start;
        while end < batch.len() && batch[end].linked {
            end += 1;
        }
        if end == batch.len() {
            // The batch ended inside a linked chain: the chain is never closed.
            let last = batch.len() - 1;
            for (i, slot) in outcomes
                .iter_mut()
                .enumerate()
                .take(batch.len())
                .skip(start)
            {
                *slot = Some(Err(if i == last {
                    Rejected::LinkedChainOpen
                } else {
                    Rejected::LinkedTransferFailed
                }));
            }
            break;
        }
        let chain = start..=end;

        // Undo log for the chain: (account, debits, credits) before the first change.
        let mut undo: Vec<(AccountId, i64, i64)> = Vec::new();
        let mut chain_created: Vec<usize> = Vec::new();
        let mut failure: Option<(usize, Rejected)> = None;
        for i in chain.clone() {
            let t = &batch[i];
            match check_and_apply(t, accounts, existing, &created_here, batch, &mut undo) {
                Ok(Posted::Created) => {
                    created_here.insert(t.id, i);
                    chain_created.push(i);
                    outcomes[i] = Some(Ok(Posted::Created));
                }
                Ok(Posted::Exists) => outcomes[i] = Some(Ok(Posted::Exists)),
                Err(why) => {
                    failure = Some((i, why));
                    break;
                }
            }
        }
        match failure {
            None => {
                for (id, _, _) in &undo {
                    if !touched.contains(id) {
                        touched.push(*id);
                    }
                }
                created.extend(chain_created);
            }
            Some((failed, why)) => {
                // Roll the chain back, newest change first.
                for (id, debits, credits) in undo.into_iter().rev() {
                    if let Some(state) = accounts.get_mut(&id) {
                        state.debits = debits;
                        state.credits = credits;
                    }
                }
                for i in chain_created {
                    created_here.remove(&batch[i].id);
                }
                for i in chain {
                    outcomes[i] = Some(Err(if i == failed {
                        why.clone()
                    } else {
                        Rejected::LinkedTransferFailed
                    }));
                }
            }
        }
        start = end + 1;
    }

    BatchPlan {
        outcomes: outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Err(Rejected::LinkedTransferFailed)))
            .collect(),
        created,
        touched,
    }
}

/// Checks one transfer against the current state and applies it to `accounts` if it is new.
fn check_and_apply(
    t: &Transfer,
    accounts: &mut HashMap<AccountId, AccountState>,
    existing: &HashMap<TransferId, Transfer>,
    created_here: &HashMap<TransferId, usize>,
    batch: &[Transfer],
    undo: &mut Vec<(AccountId, i64, i64)>,
) -> TransferOutcome {
    let earlier = existing
        .get(&t.id)
        .or_else(|| created_here.get(&t.id).map(|&i| &batch[i]));
    if let Some(earlier) = earlier {
        return if earlier.same_content(t) {
            Ok(Posted::Exists)
        } else {
            Err(Rejected::ExistsWithDifferentContent)
        };
    }
    if t.debit_account == t.credit_account {
        return Err(Rejected::SameAccount);
    }
    if !t.amount.is_positive() {
        return Err(Rejected::NonPositiveAmount);
    }
    let (debit, credit) = match (
        accounts.get(&t.debit_account),
        accounts.get(&t.credit_account),
    ) {
        (None, _) => return Err(Rejected::AccountNotFound(t.debit_account)),
        (_, None) => return Err(Rejected::AccountNotFound(t.credit_account)),
        (Some(d), Some(c)) => (d, c),
    };
    let amount = t.amount.micros();
    let (Some(new_debits), Some(new_credits)) = (
        debit.debits.checked_add(amount),
        credit.credits.checked_add(amount),
    ) else {
        return Err(Rejected::Overflow);
    };
    if debit.account.flags.debits_must_not_exceed_credits
        && i128::from(new_debits)
            > i128::from(debit.credits) + i128::from(debit.account.credit_limit.micros())
    {
        return Err(Rejected::InsufficientFunds(t.debit_account));
    }
    undo.push((t.debit_account, debit.debits, debit.credits));
    undo.push((t.credit_account, credit.debits, credit.credits));
    if let Some(d) = accounts.get_mut(&t.debit_account) {
        d.debits = new_debits;
    }
    if let Some(c) = accounts.get_mut(&t.credit_account) {
        c.credits = new_credits;
    }
    Ok(Posted::Created)
}

/// Every account id a batch names, sorted and without duplicates: the order in which a
/// backend locks them, so two batches never wait on each other in a cycle.
pub(crate) fn account_ids(batch: &[Transfer]) -> Vec<AccountId> {
    let mut ids: Vec<AccountId> = batch
        .iter()
        .flat_map(|t| [t.debit_account, t.credit_account])
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Every transfer id of a batch, sorted and without duplicates.
pub(crate) fn transfer_ids(batch: &[Transfer]) -> Vec<TransferId> {
    let mut ids: Vec<TransferId> = batch.iter().map(|t| t.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Money from stored micros.
pub(crate) fn money(micros: i64) -> Money {
    Money::from_micros(micros)
}
