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

use super::check::{CheckResult, Failure, OrFail, SuiteReport, SuiteRunner, expect_err};
use crate::model::{Money, Timestamp};
use crate::ports::{
    Account, AccountFlags, AccountId, Balance, Ledger, Posted, Rejected, Transfer, TransferId,
    TransferOutcome,
};
use crate::{ErrorKind, ensure, ensure_eq};
use chrono::TimeZone;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::future::Future;
use std::sync::Arc;

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

/// `create_account` is `Created` then `Exists` for the same content, `Conflict` for other
/// content; `account` returns it, and `None` for an unknown id.
pub async fn create_account_is_idempotent(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "create_account_is_idempotent";
    let mut b = Books::new();
    let id = b.account(ledger, C, true, 5).await?;
    let stored = ledger.account(id).await.or_fail(C, "reading the account")?;
    let Some(account) = stored else {
        return Err(Failure::new(
            C,
            "a created account is not found by account()",
        ));
    };
    ensure_eq!(C, account.credit_limit, m(5), "stored credit limit");
    ensure!(
        C,
        account.flags.debits_must_not_exceed_credits,
        "stored flags lost"
    );
    let again = ledger
        .create_account(&account)
        .await
        .or_fail(C, "creating it again")?;
    ensure_eq!(C, again, Posted::Exists, "creating the same account again");
    let mut other = account.clone();
    other.code += 1;
    expect_err(
        C,
        "creating it with another code",
        ledger.create_account(&other).await,
        ErrorKind::Conflict,
    )?;
    let after = ledger
        .account(id)
        .await
        .or_fail(C, "reading the account again")?;
    ensure_eq!(
        C,
        after,
        Some(account),
        "account after a conflicting create"
    );
    let unknown = ledger
        .account(AccountId(b.id()))
        .await
        .or_fail(C, "reading an unknown account")?;
    ensure_eq!(C, unknown, None, "unknown account");
    Ok(())
}

/// A transfer debits one account and credits the other, and `transfer` finds it by id.
pub async fn transfer_moves_money(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "transfer_moves_money";
    let mut b = Books::new();
    let (x, y) = (
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
    );
    let t = b.transfer(x, y, 700);
    ensure_eq!(
        C,
        post(ledger, C, std::slice::from_ref(&t)).await?,
        vec![Ok(Posted::Created)],
        "outcome"
    );
    ensure_eq!(
        C,
        balances(ledger, C, &[x, y]).await?,
        vec![bal(700, 0), bal(0, 700)],
        "balances"
    );
    ensure_eq!(
        C,
        ledger.balance(y).await.or_fail(C, "balance")?.net(),
        m(700),
        "net of the credited account"
    );
    let found = ledger
        .transfer(t.id)
        .await
        .or_fail(C, "looking the transfer up")?;
    ensure_eq!(C, found, Some(t), "transfer looked up by id");
    let unknown = ledger
        .transfer(b.transfer_id())
        .await
        .or_fail(C, "looking an unknown transfer up")?;
    ensure_eq!(C, unknown, None, "unknown transfer");
    Ok(())
}

/// Posting the same id with the same content again is `Exists` and changes nothing, also when
/// only `at` differs (it is not part of the comparison).
pub async fn reposting_same_id_changes_nothing(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "reposting_same_id_changes_nothing";
    let mut b = Books::new();
    let (x, y) = (
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
    );
    let t = b.transfer(x, y, 100);
    post(ledger, C, std::slice::from_ref(&t)).await?;
    ensure_eq!(
        C,
        post(ledger, C, std::slice::from_ref(&t)).await?,
        vec![Ok(Posted::Exists)],
        "posting again"
    );
    let mut later = t.clone();
    later.at = at(999_999);
    ensure_eq!(
        C,
        post(ledger, C, &[later]).await?,
        vec![Ok(Posted::Exists)],
        "posting again with another time"
    );
    ensure_eq!(
        C,
        balances(ledger, C, &[x, y]).await?,
        vec![bal(100, 0), bal(0, 100)],
        "balances after re-posts"
    );
    ensure_eq!(
        C,
        ledger.transfer(t.id).await.or_fail(C, "lookup")?,
        Some(t),
        "stored transfer"
    );
    Ok(())
}

/// The same id with other content is `ExistsWithDifferentContent` and changes nothing.
pub async fn same_id_with_other_content_is_rejected(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "same_id_with_other_content_is_rejected";
    let mut b = Books::new();
    let (x, y, z) = (
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
    );
    let t = b.transfer(x, y, 100);
    post(ledger, C, std::slice::from_ref(&t)).await?;
    let variants = [
        Transfer {
            amount: m(101),
            ..t.clone()
        },
        Transfer {
            credit_account: z,
            ..t.clone()
        },
        Transfer {
            debit_account: z,
            ..t.clone()
        },
        Transfer {
            code: 2,
            ..t.clone()
        },
        Transfer {
            memo: "other".into(),
            ..t.clone()
        },
    ];
    for v in variants {
        let out = post(ledger, C, std::slice::from_ref(&v)).await?;
        ensure_eq!(
            C,
            out,
            vec![Err(Rejected::ExistsWithDifferentContent)],
            "re-posting {:?} with other content",
            v.id
        );
    }
    ensure_eq!(
        C,
        balances(ledger, C, &[x, y, z]).await?,
        vec![bal(100, 0), bal(0, 100), bal(0, 0)],
        "balances"
    );
    ensure_eq!(
        C,
        ledger.transfer(t.id).await.or_fail(C, "lookup")?,
        Some(t),
        "stored transfer"
    );
    Ok(())
}

/// `SameAccount`, `NonPositiveAmount` and `AccountNotFound` refuse a transfer, change nothing,
/// and leave its id free for a correct transfer.
pub async fn invalid_transfers_are_rejected(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "invalid_transfers_are_rejected";
    let mut b = Books::new();
    let (x, y) = (
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
    );
    let ghost = AccountId(b.id());
    let cases = [
        (b.transfer(x, x, 10), Rejected::SameAccount),
        (b.transfer(x, y, 0), Rejected::NonPositiveAmount),
        (b.transfer(x, y, -5), Rejected::NonPositiveAmount),
        (b.transfer(ghost, y, 10), Rejected::AccountNotFound(ghost)),
        (b.transfer(x, ghost, 10), Rejected::AccountNotFound(ghost)),
    ];
    for (t, why) in &cases {
        let out = post(ledger, C, std::slice::from_ref(t)).await?;
        ensure_eq!(C, out, vec![Err(why.clone())], "posting {t:?}");
        ensure_eq!(
            C,
            ledger.transfer(t.id).await.or_fail(C, "lookup")?,
            None,
            "a rejected transfer is stored"
        );
    }
    ensure_eq!(
        C,
        balances(ledger, C, &[x, y]).await?,
        vec![bal(0, 0), bal(0, 0)],
        "balances after rejections"
    );
    let retry = Transfer {
        amount: m(10),
        credit_account: y,
        ..cases[0].0.clone()
    };
    ensure_eq!(
        C,
        post(ledger, C, &[retry]).await?,
        vec![Ok(Posted::Created)],
        "reusing a rejected transfer's id"
    );
    Ok(())
}

/// Unlinked transfers of one batch succeed or fail on their own, outcomes in batch order.
pub async fn unlinked_transfers_stand_alone(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "unlinked_transfers_stand_alone";
    let mut b = Books::new();
    let (x, y) = (
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
    );
    let batch = [
        b.transfer(x, y, 1),
        b.transfer(x, x, 2),
        b.transfer(y, x, 3),
        b.transfer(x, y, 0),
    ];
    let out = post(ledger, C, &batch).await?;
    let want = vec![
        Ok(Posted::Created),
        Err(Rejected::SameAccount),
        Ok(Posted::Created),
        Err(Rejected::NonPositiveAmount),
    ];
    ensure_eq!(C, out, want, "outcomes");
    ensure_eq!(
        C,
        balances(ledger, C, &[x, y]).await?,
        vec![bal(1, 3), bal(3, 1)],
        "balances"
    );
    Ok(())
}

/// A linked chain with one failing transfer applies nothing: the failing one says why, the
/// others `LinkedTransferFailed`; a chain of good transfers applies every one.
pub async fn linked_chain_is_all_or_nothing(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "linked_chain_is_all_or_nothing";
    let mut b = Books::new();
    let (x, y) = (
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
    );
    let before = b.transfer(x, y, 1);
    let chain = [
        linked(b.transfer(x, y, 10)),
        linked(b.transfer(y, y, 20)),
        b.transfer(y, x, 30),
    ];
    let after = b.transfer(y, x, 2);
    let batch = [
        before,
        chain[0].clone(),
        chain[1].clone(),
        chain[2].clone(),
        after,
    ];
    let out = post(ledger, C, &batch).await?;
    let want = vec![
        Ok(Posted::Created),
        Err(Rejected::LinkedTransferFailed),
        Err(Rejected::SameAccount),
        Err(Rejected::LinkedTransferFailed),
        Ok(Posted::Created),
    ];
    ensure_eq!(C, out, want, "outcomes of a batch with a failing chain");
    for t in &chain {
        ensure_eq!(
            C,
            ledger.transfer(t.id).await.or_fail(C, "lookup")?,
            None,
            "a transfer of the failed chain is stored"
        );
    }
    ensure_eq!(
        C,
        balances(ledger, C, &[x, y]).await?,
        vec![bal(1, 2), bal(2, 1)],
        "balances after a failed chain"
    );
    let good = [linked(b.transfer(x, y, 10)), b.transfer(y, x, 4)];
    let out = post(ledger, C, &good).await?;
    ensure_eq!(
        C,
        out,
        vec![Ok(Posted::Created), Ok(Posted::Created)],
        "outcomes of a good chain"
    );
    ensure_eq!(
        C,
        balances(ledger, C, &[x, y]).await?,
        vec![bal(11, 6), bal(6, 11)],
        "balances after a good chain"
    );
    Ok(())
}

/// A batch whose last transfer is linked leaves its chain open: none of the chain is applied,
/// the last transfer is `LinkedChainOpen` and the rest of the chain `LinkedTransferFailed`.
pub async fn open_chain_is_rejected(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "open_chain_is_rejected";
    let mut b = Books::new();
    let (x, y) = (
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
    );
    let batch = [
        b.transfer(x, y, 1),
        linked(b.transfer(x, y, 2)),
        linked(b.transfer(y, x, 3)),
    ];
    let out = post(ledger, C, &batch).await?;
    let want = vec![
        Ok(Posted::Created),
        Err(Rejected::LinkedTransferFailed),
        Err(Rejected::LinkedChainOpen),
    ];
    ensure_eq!(C, out, want, "outcomes of a batch ending inside a chain");
    ensure_eq!(
        C,
        balances(ledger, C, &[x, y]).await?,
        vec![bal(1, 0), bal(0, 1)],
        "balances"
    );
    let lone = [linked(b.transfer(x, y, 5))];
    ensure_eq!(
        C,
        post(ledger, C, &lone).await?,
        vec![Err(Rejected::LinkedChainOpen)],
        "a lone linked transfer"
    );
    Ok(())
}

/// Later transfers of a chain see the earlier ones: a top-up then a spend it pays for both
/// apply; two spends that together overdraw fail together.
pub async fn chain_sees_its_own_earlier_transfers(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "chain_sees_its_own_earlier_transfers";
    let mut b = Books::new();
    let cash = b.account(ledger, C, false, 0).await?;
    let wallet = b.account(ledger, C, true, 0).await?;
    let revenue = b.account(ledger, C, false, 0).await?;
    let chain = [
        linked(b.transfer(cash, wallet, 10)),
        b.transfer(wallet, revenue, 10),
    ];
    ensure_eq!(
        C,
        post(ledger, C, &chain).await?,
        vec![Ok(Posted::Created), Ok(Posted::Created)],
        "top-up then spend"
    );
    let top_up = b.transfer(cash, wallet, 10);
    post(ledger, C, &[top_up]).await?;
    let spends = [
        linked(b.transfer(wallet, revenue, 8)),
        b.transfer(wallet, revenue, 8),
    ];
    let out = post(ledger, C, &spends).await?;
    let want = vec![
        Err(Rejected::LinkedTransferFailed),
        Err(Rejected::InsufficientFunds(wallet)),
    ];
    ensure_eq!(C, out, want, "two spends overdrawing together");
    let dup = b.transfer(wallet, revenue, 1);
    let same_twice = [linked(dup.clone()), dup];
    let out = post(ledger, C, &same_twice).await?;
    ensure_eq!(
        C,
        out,
        vec![Ok(Posted::Created), Ok(Posted::Exists)],
        "the same transfer twice in one chain"
    );
    ensure_eq!(
        C,
        balances(ledger, C, &[wallet]).await?,
        vec![bal(11, 20)],
        "wallet"
    );
    Ok(())
}

/// An account with `debits_must_not_exceed_credits` refuses a debit beyond its credits with
/// `InsufficientFunds(account)`; an account without the flag may go negative.
pub async fn no_overdraft_refuses_debits_beyond_credits(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "no_overdraft_refuses_debits_beyond_credits";
    let mut b = Books::new();
    let cash = b.account(ledger, C, false, 0).await?;
    let wallet = b.account(ledger, C, true, 0).await?;
    ensure_eq!(
        C,
        post(ledger, C, &[b.transfer(wallet, cash, 1)]).await?,
        vec![Err(Rejected::InsufficientFunds(wallet))],
        "debiting an empty wallet"
    );
    post(ledger, C, &[b.transfer(cash, wallet, 10)]).await?;
    ensure_eq!(
        C,
        post(ledger, C, &[b.transfer(wallet, cash, 11)]).await?,
        vec![Err(Rejected::InsufficientFunds(wallet))],
        "debiting 11 of 10"
    );
    ensure_eq!(
        C,
        post(ledger, C, &[b.transfer(wallet, cash, 10)]).await?,
        vec![Ok(Posted::Created)],
        "debiting all 10"
    );
    ensure_eq!(
        C,
        post(ledger, C, &[b.transfer(wallet, cash, 1)]).await?,
        vec![Err(Rejected::InsufficientFunds(wallet))],
        "debiting an emptied wallet"
    );
    ensure_eq!(
        C,
        balances(ledger, C, &[wallet, cash]).await?,
        vec![bal(10, 10), bal(10, 10)],
        "balances"
    );
    Ok(())
}

/// With a credit limit, debits may exceed credits by that much and no more.
pub async fn credit_limit_extends_no_overdraft(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "credit_limit_extends_no_overdraft";
    let mut b = Books::new();
    let cash = b.account(ledger, C, false, 0).await?;
    let wallet = b.account(ledger, C, true, 5).await?;
    post(ledger, C, &[b.transfer(cash, wallet, 10)]).await?;
    ensure_eq!(
        C,
        post(ledger, C, &[b.transfer(wallet, cash, 16)]).await?,
        vec![Err(Rejected::InsufficientFunds(wallet))],
        "debiting beyond the limit"
    );
    ensure_eq!(
        C,
        post(ledger, C, &[b.transfer(wallet, cash, 15)]).await?,
        vec![Ok(Posted::Created)],
        "debiting up to the limit"
    );
    ensure_eq!(
        C,
        post(ledger, C, &[b.transfer(wallet, cash, 1)]).await?,
        vec![Err(Rejected::InsufficientFunds(wallet))],
        "debiting past the limit"
    );
    ensure_eq!(
        C,
        balances(ledger, C, &[wallet]).await?,
        vec![bal(15, 10)],
        "wallet"
    );
    Ok(())
}

/// A transfer that would overflow an account's totals is `Overflow` and changes nothing.
pub async fn overflow_is_rejected(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "overflow_is_rejected";
    let mut b = Books::new();
    let (x, y, z) = (
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
    );
    post(ledger, C, &[b.transfer(x, y, i64::MAX)]).await?;
    ensure_eq!(
        C,
        post(ledger, C, &[b.transfer(z, y, 1)]).await?,
        vec![Err(Rejected::Overflow)],
        "crediting past the maximum"
    );
    ensure_eq!(
        C,
        post(ledger, C, &[b.transfer(x, z, 1)]).await?,
        vec![Err(Rejected::Overflow)],
        "debiting past the maximum"
    );
    ensure_eq!(
        C,
        balances(ledger, C, &[x, y, z]).await?,
        vec![bal(i64::MAX, 0), bal(0, i64::MAX), bal(0, 0)],
        "balances"
    );
    Ok(())
}

/// `balance` of an unknown account is `NotFound`.
pub async fn balance_of_unknown_account_is_not_found(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "balance_of_unknown_account_is_not_found";
    let mut b = Books::new();
    expect_err(
        C,
        "balance of an unknown account",
        ledger.balance(AccountId(b.id())).await,
        ErrorKind::NotFound,
    )?;
    Ok(())
}

/// `history` returns the account's transfers with `from <= at < to`, oldest first, ties by id,
/// and nothing of other accounts.
pub async fn history_filters_by_range_and_orders(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "history_filters_by_range_and_orders";
    let mut b = Books::new();
    let (x, y, z) = (
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
        b.account(ledger, C, false, 0).await?,
    );
    let mut make = |debit, credit, secs| Transfer {
        at: at(secs),
        ..b.transfer(debit, credit, 1)
    };
    // Posted out of time order; two share a time (ordered by id); one does not touch x.
    let batch = [
        make(x, y, 30),
        make(y, x, 10),
        make(x, z, 20),
        make(y, z, 15),
        make(z, x, 20),
        make(x, y, 40),
    ];
    post(ledger, C, &batch).await?;
    let ids = |ts: &[Transfer]| ts.iter().map(|t| t.id).collect::<Vec<_>>();
    let all = ledger
        .history(x, at(0), at(100))
        .await
        .or_fail(C, "full history")?;
    let want = [&batch[1], &batch[2], &batch[4], &batch[0], &batch[5]];
    ensure_eq!(
        C,
        ids(&all),
        want.iter().map(|t| t.id).collect::<Vec<_>>(),
        "full history of x, by (at, id)"
    );
    ensure_eq!(
        C,
        all.first(),
        Some(&batch[1]),
        "history returns whole transfers"
    );
    let window = ledger
        .history(x, at(20), at(40))
        .await
        .or_fail(C, "windowed history")?;
    ensure_eq!(
        C,
        ids(&window),
        vec![batch[2].id, batch[4].id, batch[0].id],
        "history of x in [20, 40)"
    );
    let empty = ledger
        .history(x, at(41), at(100))
        .await
        .or_fail(C, "empty window")?;
    ensure_eq!(
        C,
        empty,
        Vec::<Transfer>::new(),
        "history of x in [41, 100)"
    );
    Ok(())
}

/// Posting a whole batch again (chains included) answers `Exists` for each transfer and
/// changes no balance.
pub async fn reposting_a_batch_changes_nothing(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "reposting_a_batch_changes_nothing";
    let mut b = Books::new();
    let cash = b.account(ledger, C, false, 0).await?;
    let wallet = b.account(ledger, C, true, 0).await?;
    let revenue = b.account(ledger, C, false, 0).await?;
    let batch = [
        linked(b.transfer(cash, wallet, 50)),
        b.transfer(wallet, revenue, 20),
        b.transfer(wallet, revenue, 30),
        b.transfer(revenue, cash, 5),
    ];
    let first = post(ledger, C, &batch).await?;
    ensure_eq!(C, first, vec![Ok(Posted::Created); 4], "first post");
    let before = balances(ledger, C, &[cash, wallet, revenue]).await?;
    let again = post(ledger, C, &batch).await?;
    ensure_eq!(C, again, vec![Ok(Posted::Exists); 4], "second post");
    ensure_eq!(
        C,
        balances(ledger, C, &[cash, wallet, revenue]).await?,
        before,
        "balances after re-posting"
    );
    Ok(())
}

/// Sixteen posters debiting one no-overdraft wallet at once never overdraw it: exactly as
/// many debits succeed as it can pay.
pub async fn no_overdraft_holds_under_concurrency(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "no_overdraft_holds_under_concurrency";
    let mut b = Books::new();
    let cash = b.account(ledger, C, false, 0).await?;
    let wallet = b.account(ledger, C, true, 0).await?;
    let revenue = b.account(ledger, C, false, 0).await?;
    post(ledger, C, &[b.transfer(cash, wallet, 100)]).await?;
    let posters: Vec<Vec<Transfer>> = (0..16)
        .map(|_| (0..20).map(|_| b.transfer(wallet, revenue, 1)).collect())
        .collect();
    let runs = posters.iter().map(|mine| async move {
        let mut created = 0u32;
        for t in mine {
            for outcome in ledger.post(std::slice::from_ref(t)).await? {
                match outcome {
                    Ok(Posted::Created) => created += 1,
                    Ok(Posted::Exists) | Err(Rejected::InsufficientFunds(_)) => {}
                    Err(other) => {
                        return Err(crate::Error::internal(format!(
                            "unexpected rejection {other:?}"
                        )));
                    }
                }
            }
        }
        Ok::<u32, crate::Error>(created)
    });
    let mut created = 0;
    for r in futures::future::join_all(runs).await {
        created += r.or_fail(C, "posting concurrently")?;
    }
    ensure_eq!(C, created, 100, "debits accepted from a wallet holding 100");
    ensure_eq!(
        C,
        balances(ledger, C, &[wallet]).await?,
        vec![bal(100, 100)],
        "wallet after the rush"
    );
    Ok(())
}

/// Random batches (chains, repeated ids, bad transfers) keep every invariant: balances equal
/// the sum of their history, nets sum to zero, no-overdraft accounts stay within their limit,
/// and outcomes agree with what `transfer` finds.
pub async fn random_batches_keep_invariants(ledger: &dyn Ledger) -> CheckResult {
    const C: &str = "random_batches_keep_invariants";
    let mut b = Books::new();
    let mut rng = StdRng::seed_from_u64(0x1ed9e5);
    let mut accounts = Vec::new();
    for i in 0..6 {
        accounts.push((
            b.account(ledger, C, i % 2 == 1, if i == 3 { 7 } else { 0 })
                .await?,
            i % 2 == 1,
        ));
    }
    let ids: Vec<AccountId> = accounts.iter().map(|a| a.0).collect();
    let mut sent: Vec<Transfer> = Vec::new();
    for _ in 0..12 {
        let batch: Vec<Transfer> = (0..24)
            .map(|_| {
                if !sent.is_empty() && rng.random_bool(0.15) {
                    let i = rng.random_range(0..sent.len());
                    let mut t = sent[i].clone();
                    if rng.random_bool(0.3) {
                        t.amount = m(t.amount.micros() + 1);
                    }
                    t.linked = rng.random_bool(0.2);
                    return t;
                }
                let d = ids[rng.random_range(0..ids.len())];
                let c = ids[rng.random_range(0..ids.len())];
                let mut t = b.transfer(d, c, rng.random_range(-2..40));
                t.linked = rng.random_bool(0.25);
                t
            })
            .collect();
        let out = post(ledger, C, &batch).await?;
        for (t, o) in batch.iter().zip(&out) {
            let stored = ledger
                .transfer(t.id)
                .await
                .or_fail(C, "looking a transfer up")?;
            match o {
                Ok(_) => ensure!(
                    C,
                    stored.as_ref().is_some_and(|s| s.same_content(t)),
                    "accepted transfer {:?} is not stored as posted",
                    t.id
                ),
                Err(Rejected::ExistsWithDifferentContent) => ensure!(
                    C,
                    stored.as_ref().is_some_and(|s| !s.same_content(t)),
                    "{:?} rejected as different from a stored one",
                    t.id
                ),
                Err(_) => {}
            }
            if o.is_ok() {
                sent.push(t.clone());
            }
        }
        let mut total: i128 = 0;
        for (id, no_overdraft) in &accounts {
            let balance = ledger.balance(*id).await.or_fail(C, "balance")?;
            let history = ledger
                .history(*id, at(-1), at(1 << 32))
                .await
                .or_fail(C, "history")?;
            let (mut debits, mut credits) = (0i64, 0i64);
            for t in &history {
                if t.debit_account == *id {
                    debits += t.amount.micros();
                }
                if t.credit_account == *id {
                    credits += t.amount.micros();
                }
            }
            ensure_eq!(
                C,
                balance,
                bal(debits, credits),
                "balance of {id} against the sum of its history"
            );
            let limit = if *id == ids[3] { 7 } else { 0 };
            ensure!(
                C,
                !*no_overdraft || debits <= credits + limit,
                "no-overdraft account {id} overdrawn: {balance:?}"
            );
            total += i128::from(credits) - i128::from(debits);
        }
        ensure_eq!(C, total, 0, "sum of all nets");
    }
    Ok(())
}
