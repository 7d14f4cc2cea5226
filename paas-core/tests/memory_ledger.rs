//! The in-memory ledger against the ledger conformance suite, plus a property test of its
//! invariants over random batches.

use paas_core::memory::MemoryLedger;
use paas_core::model::Money;
use paas_core::ports::{
    Account, AccountFlags, AccountId, Balance, Ledger, Posted, Transfer, TransferId,
};
use paas_core::testkit::ledger;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

#[tokio::test]
async fn memory_ledger_passes_the_conformance_suite() {
    let report =
        ledger::run_all(|| async { Arc::new(MemoryLedger::new()) as Arc<dyn Ledger> }).await;
    assert!(report.passed.len() >= 17, "{report}");
    report.assert_all_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_overdraft_holds_with_parallel_tasks() {
    let ledger = MemoryLedger::new();
    let acct = |id, no_overdraft| Account {
        id: AccountId(id),
        code: 1,
        flags: AccountFlags {
            debits_must_not_exceed_credits: no_overdraft,
        },
        credit_limit: Money::ZERO,
    };
    for a in [acct(1, false), acct(2, true), acct(3, false)] {
        ledger.create_account(&a).await.unwrap();
    }
    let t = |id: u128, d, c, amount| Transfer {
        id: TransferId(id),
        debit_account: AccountId(d),
        credit_account: AccountId(c),
        amount: Money::from_micros(amount),
        code: 1,
        memo: String::new(),
        at: chrono::Utc::now(),
        linked: false,
    };
    ledger.post(&[t(1, 1, 2, 500)]).await.unwrap();
    let mut tasks = Vec::new();
    for p in 0..16u128 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut created = 0;
            for i in 0..50u128 {
                let out = ledger
                    .post(&[t(1000 + p * 100 + i, 2, 3, 1)])
                    .await
                    .unwrap();
                if out[0] == Ok(Posted::Created) {
                    created += 1;
                }
            }
            created
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += task.await.unwrap();
    }
    assert_eq!(created, 500);
    let wallet = ledger.balance(AccountId(2)).await.unwrap();
    assert_eq!(wallet.net(), Money::ZERO);
}

/// One transfer of a generated batch, by index into the generated accounts and ids.
#[derive(Clone, Debug)]
struct Spec {
    id: u128,
    debit: usize,
    credit: usize,
    amount: i64,
    linked: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    // Few ids so repeats (same and other content) are common; few accounts so overdrafts are.
    (
        1u128..40,
        0usize..5,
        0usize..5,
        -3i64..60,
        prop::bool::weighted(0.3),
    )
        .prop_map(|(id, debit, credit, amount, linked)| Spec {
            id,
            debit,
            credit,
            amount,
            linked,
        })
}

fn account_id(i: usize) -> AccountId {
    // Index 4 is never created: transfers touching it are AccountNotFound.
    AccountId(100 + i as u128)
}

fn to_transfer(s: &Spec) -> Transfer {
    Transfer {
        id: TransferId(s.id),
        debit_account: account_id(s.debit),
        credit_account: account_id(s.credit),
        amount: Money::from_micros(s.amount),
        code: 1,
        memo: String::new(),
        at: chrono::DateTime::from_timestamp(1_700_000_000 + s.id as i64, 0).unwrap_or_default(),
        linked: s.linked,
    }
}

async fn snapshot(ledger: &MemoryLedger) -> Vec<Balance> {
    let mut out = Vec::new();
    for i in 0..4 {
        out.push(ledger.balance(account_id(i)).await.unwrap());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_batches_keep_every_invariant(batches in prop::collection::vec(prop::collection::vec(spec(), 1..16), 1..8)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let ledger = MemoryLedger::new();
            // Accounts 1 and 3 are wallets (no overdraft; 3 with a credit limit of 5).
            for i in 0..4 {
                let account = Account {
                    id: account_id(i),
                    code: 1,
                    flags: AccountFlags { debits_must_not_exceed_credits: i % 2 == 1 },
                    credit_limit: Money::from_micros(if i == 3 { 5 } else { 0 }),
                };
                ledger.create_account(&account).await.unwrap();
            }
            // Seed the wallets so some debits succeed.
            let seed = [Spec { id: 1000, debit: 0, credit: 1, amount: 50, linked: false },
                        Spec { id: 1001, debit: 2, credit: 3, amount: 50, linked: false }];
            ledger.post(&seed.iter().map(to_transfer).collect::<Vec<_>>()).await.unwrap();

            let mut stored: HashMap<u128, Transfer> = HashMap::new();
            for s in &seed {
                stored.insert(s.id, to_transfer(s));
            }
            for batch in &batches {
                let transfers: Vec<Transfer> = batch.iter().map(to_transfer).collect();
                let before = snapshot(&ledger).await;
                let out = ledger.post(&transfers).await.unwrap();
                prop_assert_eq!(out.len(), transfers.len());
                let mut expected = before.clone();
                for (t, o) in transfers.iter().zip(&out) {
                    if o == &Ok(Posted::Created) {
                        prop_assert!(stored.insert(t.id.0, t.clone()).is_none(), "created twice: {:?}", t.id);
                        let d = t.debit_account.0 as usize - 100;
                        let c = t.credit_account.0 as usize - 100;
                        expected[d].debits = Money::from_micros(expected[d].debits.micros() + t.amount.micros());
                        expected[c].credits = Money::from_micros(expected[c].credits.micros() + t.amount.micros());
                    }
                    if o == &Ok(Posted::Exists) {
                        prop_assert!(stored.get(&t.id.0).is_some_and(|s| s.same_content(t)));
                    }
                }
                // Only the created transfers moved money: rejected and existing ones changed nothing.
                let after = snapshot(&ledger).await;
                prop_assert_eq!(&after, &expected);
                let total: i64 = after.iter().map(|b| b.credits.micros() - b.debits.micros()).sum();
                prop_assert_eq!(total, 0);
                for (i, b) in after.iter().enumerate() {
                    if i % 2 == 1 {
                        let limit = if i == 3 { 5 } else { 0 };
                        prop_assert!(b.debits.micros() <= b.credits.micros() + limit, "wallet {} overdrawn: {:?}", i, b);
                    }
                    let history = ledger
                        .history(account_id(i), chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(), chrono::Utc::now())
                        .await
                        .unwrap();
                    let debits: i64 = history.iter().filter(|t| t.debit_account == account_id(i)).map(|t| t.amount.micros()).sum();
                    let credits: i64 = history.iter().filter(|t| t.credit_account == account_id(i)).map(|t| t.amount.micros()).sum();
                    prop_assert_eq!((debits, credits), (b.debits.micros(), b.credits.micros()));
                }
            }
            for (id, t) in &stored {
                let found = ledger.transfer(TransferId(*id)).await.unwrap();
                prop_assert!(found.is_some_and(|f| f.same_content(t)));
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn debug_shows_counts_not_the_books() {
    let ledger = MemoryLedger::new();
    let account = Account {
        id: AccountId(7),
        code: 1,
        flags: AccountFlags::default(),
        credit_limit: Money::ZERO,
    };
    ledger.create_account(&account).await.unwrap();
    assert_eq!(
        format!("{ledger:?}"),
        "MemoryLedger { accounts: 1, transfers: 0 }"
    );
}
