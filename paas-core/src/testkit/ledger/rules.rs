//! Account and single-transfer rules: idempotency, validation, overdraft, overflow.

use super::{Books, at, bal, balances, m, post};
use crate::ports::{AccountId, Ledger, Posted, Rejected, Transfer};
use crate::testkit::check::{CheckResult, Failure, OrFail, expect_err};
use crate::{ErrorKind, ensure, ensure_eq};

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
