//! Batches and linked chains: all or nothing, open chains, re-posting whole batches.

use super::{Books, bal, balances, linked, post};
use crate::ensure_eq;
use crate::ports::{Ledger, Posted, Rejected};
use crate::testkit::check::{CheckResult, OrFail};

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
