//! Conformance suite for the [`Ledger`] port.
//!
//! Every check expects an empty ledger, but picks random account and transfer ids, so a shared
//! database still works. Run them all with [`run_all`]:
//!
//! ```
//! use paas_core::memory::MemoryLedger;
//! use paas_core::ports::Ledger;
//! use paas_core::testkit::ledger;
//! use std::sync::Arc;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let report = ledger::run_all(|| async { Arc::new(MemoryLedger::new()) as Arc<dyn Ledger> }).await;
//! report.assert_all_passed();
//! # });
//! ```

use super::check::{Failure, OrFail, SuiteReport, SuiteRunner};
use crate::ensure_eq;
use crate::model::{Money, Timestamp};
use crate::ports::{
    Account, AccountFlags, AccountId, Balance, Ledger, Posted, Transfer, TransferId,
    TransferOutcome,
};
use chrono::TimeZone;
use std::future::Future;
use std::sync::Arc;

mod chains;
mod invariants;
mod rules;

pub use chains::{
    chain_sees_its_own_earlier_transfers, linked_chain_is_all_or_nothing, open_chain_is_rejected,
    reposting_a_batch_changes_nothing,
};
pub use invariants::{
    history_filters_by_range_and_orders, no_overdraft_holds_under_concurrency,
    random_batches_keep_invariants,
};
pub use rules::{
    balance_of_unknown_account_is_not_found, create_account_is_idempotent,
    credit_limit_extends_no_overdraft, invalid_transfers_are_rejected,
    no_overdraft_refuses_debits_beyond_credits, overflow_is_rejected,
    reposting_same_id_changes_nothing, same_id_with_other_content_is_rejected,
    transfer_moves_money, unlinked_transfers_stand_alone,
};

/// Ids, times and builders one check uses; ids are random so checks never collide.
struct Books {
    base: u128,
    next: u128,
}

fn t0() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn at(seconds: i64) -> Timestamp {
    t0() + chrono::Duration::seconds(seconds)
}

fn m(micros: i64) -> Money {
    Money::from_micros(micros)
}

impl Books {
    fn new() -> Self {
        // Leave room above the base so derived ids never wrap.
        Books {
            base: rand::random::<u128>() >> 8,
            next: 0,
        }
    }

    fn id(&mut self) -> u128 {
        self.next += 1;
        self.base + self.next
    }

    fn transfer_id(&mut self) -> TransferId {
        TransferId(self.id())
    }

    async fn account(
        &mut self,
        ledger: &dyn Ledger,
        check: &'static str,
        no_overdraft: bool,
        credit_limit: i64,
    ) -> Result<AccountId, Failure> {
        let account = Account {
            id: AccountId(self.id()),
            code: if no_overdraft { 1 } else { 3 },
            flags: AccountFlags {
                debits_must_not_exceed_credits: no_overdraft,
            },
            credit_limit: m(credit_limit),
        };
        let posted = ledger
            .create_account(&account)
            .await
            .or_fail(check, "creating an account")?;
        ensure_eq!(check, posted, Posted::Created, "creating a new account");
        Ok(account.id)
    }

    fn transfer(&mut self, debit: AccountId, credit: AccountId, amount: i64) -> Transfer {
        let id = self.transfer_id();
        Transfer {
            id,
            debit_account: debit,
            credit_account: credit,
            amount: m(amount),
            code: 1,
            memo: format!("check {}", id.0 - self.base),
            at: at((id.0 - self.base) as i64),
            linked: false,
        }
    }
}

fn linked(mut t: Transfer) -> Transfer {
    t.linked = true;
    t
}

async fn post(
    ledger: &dyn Ledger,
    check: &'static str,
    batch: &[Transfer],
) -> Result<Vec<TransferOutcome>, Failure> {
    let out = ledger
        .post(batch)
        .await
        .or_fail(check, format!("posting a batch of {}", batch.len()))?;
    ensure_eq!(
        check,
        out.len(),
        batch.len(),
        "number of outcomes of a batch"
    );
    Ok(out)
}

async fn balances(
    ledger: &dyn Ledger,
    check: &'static str,
    accounts: &[AccountId],
) -> Result<Vec<Balance>, Failure> {
    let mut out = Vec::with_capacity(accounts.len());
    for &a in accounts {
        out.push(
            ledger
                .balance(a)
                .await
                .or_fail(check, format!("reading the balance of {a}"))?,
        );
    }
    Ok(out)
}

fn bal(debits: i64, credits: i64) -> Balance {
    Balance {
        debits: m(debits),
        credits: m(credits),
    }
}

/// Runs every check, each on its own ledger from `fresh()`.
pub async fn run_all<F, Fut>(mut fresh: F) -> SuiteReport
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Ledger>>,
{
    let mut runner = SuiteRunner::new();
    macro_rules! run {
        ($($check:ident),* $(,)?) => {$(
            let ledger = fresh().await;
            runner.run(stringify!($check), $check(&*ledger)).await;
        )*};
    }
    run!(
        create_account_is_idempotent,
        transfer_moves_money,
        reposting_same_id_changes_nothing,
        same_id_with_other_content_is_rejected,
        invalid_transfers_are_rejected,
        unlinked_transfers_stand_alone,
        linked_chain_is_all_or_nothing,
        open_chain_is_rejected,
        chain_sees_its_own_earlier_transfers,
        no_overdraft_refuses_debits_beyond_credits,
        credit_limit_extends_no_overdraft,
        overflow_is_rejected,
        balance_of_unknown_account_is_not_found,
        history_filters_by_range_and_orders,
        reposting_a_batch_changes_nothing,
        no_overdraft_holds_under_concurrency,
        random_batches_keep_invariants,
    );
    runner.finish()
}
