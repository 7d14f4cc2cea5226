//! History, concurrency and the invariants that must hold after any sequence of batches.

use super::{Books, at, bal, balances, m, post};
use crate::ports::{AccountId, Ledger, Posted, Rejected, Transfer};
use crate::testkit::check::{CheckResult, OrFail};
use crate::{ensure, ensure_eq};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
