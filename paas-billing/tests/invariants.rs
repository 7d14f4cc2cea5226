//! Property tests of the ledger's invariants on every backend: the books balance, a balance is
//! the sum of its entries, re-posting changes nothing, a rejected batch changes nothing, a
//! no-overdraft wallet never goes below its limit (also under 16 concurrent posters on
//! Postgres).

mod common;

use paas_core::model::{Money, Timestamp};
use paas_core::ports::{
    Account, AccountFlags, AccountId, Balance, Ledger, Posted, Rejected, Transfer, TransferId,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::Arc;

type Backends = Vec<(&'static str, Arc<dyn Ledger>)>;

const N_ACCOUNTS: u8 = 6;
/// Accounts 0 and 1 are no-overdraft wallets (limit 0 and 50); the rest may go negative.
const LIMITS: [i64; 2] = [0, 50];

fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

struct Case {
    salt: u128,
}

impl Case {
    fn new() -> Self {
        Case {
            salt: uuid::Uuid::new_v4().as_u128() & !0xffff_ffff,
        }
    }
    fn account(&self, i: u8) -> AccountId {
        AccountId(self.salt + u128::from(i))
    }
    fn transfer(&self, i: u32) -> TransferId {
        TransferId(self.salt + 1_000 + u128::from(i))
    }
    async fn setup(&self, l: &dyn Ledger) -> Result<(), TestCaseError> {
        for i in 0..N_ACCOUNTS {
            let limit = LIMITS.get(usize::from(i)).copied();
            let a = Account {
                id: self.account(i),
                code: 1,
                flags: AccountFlags {
                    debits_must_not_exceed_credits: limit.is_some(),
                },
                credit_limit: Money::from_micros(limit.unwrap_or(0)),
            };
            l.create_account(&a).await.map_err(fail)?;
        }
        Ok(())
    }
    fn transfer_of(&self, (id, d, c, amount, linked): (u32, u8, u8, i64, bool)) -> Transfer {
        Transfer {
            id: self.transfer(id),
            debit_account: self.account(d),
            credit_account: self.account(c),
            amount: Money::from_micros(amount),
            code: 7,
            memo: String::new(),
            at: t0() + chrono::Duration::seconds(i64::from(id)),
            linked,
        }
    }
    async fn balances(&self, l: &dyn Ledger) -> Result<Vec<Balance>, TestCaseError> {
        let mut out = Vec::new();
        for i in 0..N_ACCOUNTS {
            out.push(l.balance(self.account(i)).await.map_err(fail)?);
        }
        Ok(out)
    }
}

fn fail(e: paas_core::Error) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

type RawTx = (u32, u8, u8, i64, bool);

fn raw_tx(ids: u32) -> impl Strategy<Value = RawTx> {
    (
        0..ids,
        0..N_ACCOUNTS,
        0..N_ACCOUNTS,
        1i64..100,
        prop::bool::weighted(0.25),
    )
}

fn batches() -> impl Strategy<Value = Vec<Vec<RawTx>>> {
    prop::collection::vec(prop::collection::vec(raw_tx(40), 1..10), 1..8)
}

/// The books balance and every balance is the sum of the account's history, after every batch.
async fn check_books(case: &Case, l: &dyn Ledger) -> Result<(), TestCaseError> {
    let balances = case.balances(l).await?;
    let sum: i128 = balances
        .iter()
        .map(|b| i128::from(b.credits.micros()) - i128::from(b.debits.micros()))
        .sum();
    prop_assert_eq!(sum, 0, "nets must sum to zero");
    for (i, b) in balances.iter().enumerate() {
        let id = case.account(i as u8);
        let entries = l
            .history(
                id,
                chrono::DateTime::<chrono::Utc>::MIN_UTC,
                chrono::DateTime::<chrono::Utc>::MAX_UTC,
            )
            .await
            .map_err(fail)?;
        let debits: i64 = entries
            .iter()
            .filter(|t| t.debit_account == id)
            .map(|t| t.amount.micros())
            .sum();
        let credits: i64 = entries
            .iter()
            .filter(|t| t.credit_account == id)
            .map(|t| t.amount.micros())
            .sum();
        prop_assert_eq!(
            (b.debits.micros(), b.credits.micros()),
            (debits, credits),
            "account {}",
            i
        );
        if let Some(limit) = LIMITS.get(i) {
            prop_assert!(
                b.debits.micros() <= b.credits.micros() + limit,
                "no-overdraft account {i} went beyond its limit: {b:?}"
            );
        }
    }
    Ok(())
}

fn run<S: Strategy>(
    backends: &Backends,
    rt: &tokio::runtime::Runtime,
    cases: u32,
    strategy: S,
    body: impl for<'a> Fn(
        &'a dyn Ledger,
        S::Value,
    ) -> futures::future::BoxFuture<'a, Result<(), TestCaseError>>,
) where
    S::Value: Clone,
{
    for (name, l) in backends {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&strategy, |v| rt.block_on(body(l.as_ref(), v)));
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
    }
}

fn backends(rt: &tokio::runtime::Runtime) -> Backends {
    rt.block_on(async {
        let mut b: Backends = vec![("memory", common::memory())];
        #[cfg(feature = "sqlite")]
        b.push(("sqlite", common::sqlite().await));
        #[cfg(feature = "postgres")]
        if let Some(pg) = common::postgres().await {
            b.push(("postgres", pg));
        }
        b
    })
}

#[test]
fn books_balance_and_balances_are_sums_of_entries() {
    let rt = common::runtime();
    let backends = backends(&rt);
    run(&backends, &rt, 32, batches(), |l, batches| {
        Box::pin(async move {
            let case = Case::new();
            case.setup(l).await?;
            // Fund the wallets so that some debits of them succeed.
            let fund = [(100_000, 5, 0, 150, false), (100_001, 5, 1, 150, false)];
            l.post(&fund.map(|r| case.transfer_of(r)))
                .await
                .map_err(fail)?;
            for batch in batches {
                let batch: Vec<Transfer> = batch.into_iter().map(|r| case.transfer_of(r)).collect();
                l.post(&batch).await.map_err(fail)?;
                check_books(&case, l).await?;
            }
            Ok(())
        })
    });
}

#[test]
fn reposting_changes_nothing() {
    let rt = common::runtime();
    let backends = backends(&rt);
    run(&backends, &rt, 32, batches(), |l, batches| {
        Box::pin(async move {
            let case = Case::new();
            case.setup(l).await?;
            let mut created = Vec::new();
            for batch in batches {
                let batch: Vec<Transfer> = batch.into_iter().map(|r| case.transfer_of(r)).collect();
                let outcomes = l.post(&batch).await.map_err(fail)?;
                created.extend(
                    batch
                        .into_iter()
                        .zip(outcomes)
                        .filter(|(_, o)| *o == Ok(Posted::Created))
                        .map(|(t, _)| t),
                );
            }
            let before = case.balances(l).await?;
            // Re-post everything that was created, unlinked (a chain's members stand alone
            // now), in reverse order: every one is Exists and nothing moves.
            let mut again: Vec<Transfer> = created
                .iter()
                .cloned()
                .map(|mut t| {
                    t.linked = false;
                    t
                })
                .collect();
            again.reverse();
            let outcomes = l.post(&again).await.map_err(fail)?;
            prop_assert!(
                outcomes.iter().all(|o| *o == Ok(Posted::Exists)),
                "{outcomes:?}"
            );
            // The same ids with other content are refused, and nothing moves either.
            let changed: Vec<Transfer> = again
                .iter()
                .cloned()
                .map(|mut t| {
                    t.amount = Money::from_micros(t.amount.micros() + 1);
                    t
                })
                .collect();
            let outcomes = l.post(&changed).await.map_err(fail)?;
            prop_assert!(
                outcomes
                    .iter()
                    .all(|o| *o == Err(Rejected::ExistsWithDifferentContent)),
                "{outcomes:?}"
            );
            prop_assert_eq!(before, case.balances(l).await?);
            for t in &created {
                let stored = l.transfer(t.id).await.map_err(fail)?;
                prop_assert_eq!(Some(t), stored.as_ref());
            }
            Ok(())
        })
    });
}

/// A linked chain with one bad member somewhere: nothing of it may be applied.
fn poisoned_chain() -> impl Strategy<Value = (Vec<RawTx>, prop::sample::Index, u8)> {
    (
        prop::collection::vec(raw_tx(1_000), 1..8),
        any::<prop::sample::Index>(),
        0u8..4,
    )
}

#[test]
fn a_rejected_batch_changes_nothing() {
    let rt = common::runtime();
    let backends = backends(&rt);
    run(
        &backends,
        &rt,
        32,
        poisoned_chain(),
        |l, (chain, at, poison)| {
            Box::pin(async move {
                let case = Case::new();
                case.setup(l).await?;
                l.post(&[case.transfer_of((5_000, 5, 0, 100, false))])
                    .await
                    .map_err(fail)?;
                let before = case.balances(l).await?;
                let at = at.index(chain.len());
                let mut batch: Vec<Transfer> = chain
                    .into_iter()
                    .enumerate()
                    .map(|(i, (_, d, c, amount, _))| {
                        // Distinct fresh ids; every member valid on its own (no self-transfer).
                        let c = if c == d { (d + 1) % N_ACCOUNTS } else { c };
                        case.transfer_of((10_000 + i as u32, d, c, amount, true))
                    })
                    .collect();
                let last = batch.len() - 1;
                batch[last].linked = false;
                match poison {
                    0 => batch[at].amount = Money::ZERO,
                    1 => batch[at].credit_account = AccountId(case.salt + 999),
                    2 => {
                        // More than the no-overdraft wallet 0 can ever pay.
                        batch[at].debit_account = case.account(0);
                        batch[at].credit_account = case.account(3);
                        batch[at].amount = Money::from_micros(1_000_000_000);
                    }
                    _ => batch[last].linked = true, // the chain is never closed
                }
                let outcomes = l.post(&batch).await.map_err(fail)?;
                prop_assert!(outcomes.iter().all(|o| o.is_err()), "{outcomes:?}");
                prop_assert_eq!(before, case.balances(l).await?);
                for t in &batch {
                    prop_assert_eq!(None, l.transfer(t.id).await.map_err(fail)?);
                }
                Ok(())
            })
        },
    );
}

#[test]
fn a_no_overdraft_wallet_never_goes_negative() {
    let rt = common::runtime();
    let backends = backends(&rt);
    // Mostly debits of the wallets, to push them against their limits.
    let strategy = prop::collection::vec(
        prop::collection::vec(
            (
                0u32..10_000,
                0u8..2,
                2u8..N_ACCOUNTS,
                1i64..80,
                prop::bool::weighted(0.2),
            ),
            1..12,
        ),
        1..10,
    );
    run(&backends, &rt, 32, strategy, |l, batches| {
        Box::pin(async move {
            let case = Case::new();
            case.setup(l).await?;
            l.post(&[
                case.transfer_of((50_000, 5, 0, 120, false)),
                case.transfer_of((50_001, 5, 1, 30, false)),
            ])
            .await
            .map_err(fail)?;
            for batch in batches {
                let batch: Vec<Transfer> = batch.into_iter().map(|r| case.transfer_of(r)).collect();
                let outcomes = l.post(&batch).await.map_err(fail)?;
                prop_assert!(outcomes.iter().any(|o| o.is_ok()) || !outcomes.is_empty());
                for (w, limit) in LIMITS.iter().enumerate() {
                    let b = l.balance(case.account(w as u8)).await.map_err(fail)?;
                    prop_assert!(
                        b.debits.micros() <= b.credits.micros() + limit,
                        "wallet {w}: {b:?}"
                    );
                }
            }
            check_books(&case, l).await
        })
    });
}

/// 16 posters at once on Postgres, on shared accounts and partly shared transfer ids.
#[cfg(feature = "postgres")]
#[test]
fn sixteen_concurrent_posters_on_postgres_keep_every_invariant() {
    use rand::{Rng, SeedableRng};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let Some(ledger) = rt.block_on(common::postgres()) else {
        return;
    };
    rt.block_on(async move {
        let case = Arc::new(Case::new());
        case.setup(ledger.as_ref()).await.unwrap();
        // Fund the two wallets generously once; then everyone drains them at once.
        ledger
            .post(&[
                case.transfer_of((900_000, 5, 0, 5_000, false)),
                case.transfer_of((900_001, 5, 1, 5_000, false)),
            ])
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for worker in 0..16u64 {
            let ledger = ledger.clone();
            let case = case.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(worker);
                let mut created = Vec::new();
                for _ in 0..25 {
                    let batch: Vec<Transfer> = (0..20)
                        .map(|_| {
                            let d = rng.random_range(0..N_ACCOUNTS);
                            let c = (d + rng.random_range(1..N_ACCOUNTS)) % N_ACCOUNTS;
                            // Ids from a pool all workers share: some collide on purpose.
                            let id = rng.random_range(0..4_000u32);
                            let linked = rng.random_bool(0.2);
                            case.transfer_of((id, d, c, rng.random_range(1..60), linked))
                        })
                        .collect();
                    let outcomes = ledger.post(&batch).await.unwrap();
                    assert_eq!(outcomes.len(), batch.len());
                    for (t, o) in batch.iter().zip(&outcomes) {
                        if *o == Ok(Posted::Created) {
                            created.push(t.id);
                        }
                    }
                }
                created
            }));
        }
        let mut created = Vec::new();
        for t in tasks {
            created.extend(t.await.unwrap());
        }
        let total = created.len();
        created.sort_unstable();
        created.dedup();
        assert_eq!(
            created.len(),
            total,
            "a transfer id was reported Created twice"
        );
        for id in &created {
            assert!(ledger.transfer(*id).await.unwrap().is_some());
        }
        check_books(&case, ledger.as_ref()).await.unwrap();
        // Everything the workers were told is Created is in the books, and nothing more.
        let mut in_books = std::collections::BTreeSet::new();
        for i in 0..N_ACCOUNTS {
            for t in ledger
                .history(
                    case.account(i),
                    chrono::DateTime::<chrono::Utc>::MIN_UTC,
                    chrono::DateTime::<chrono::Utc>::MAX_UTC,
                )
                .await
                .unwrap()
            {
                in_books.insert(t.id);
            }
        }
        in_books.remove(&case.transfer(900_000));
        in_books.remove(&case.transfer(900_001));
        assert_eq!(in_books.into_iter().collect::<Vec<_>>(), created);
    });
}
