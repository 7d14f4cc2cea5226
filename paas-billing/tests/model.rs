//! Model-based test: random operation sequences (accounts, batches with linked chains,
//! repeated ids, overdraft attempts, bad amounts) run on every ledger backend and on a simple
//! reference model written here; every answer and every balance must agree.

mod common;

use paas_core::model::{Money, Timestamp};
use paas_core::ports::{
    Account, AccountFlags, AccountId, Balance, Ledger, Posted, Rejected, Transfer, TransferId,
    TransferOutcome,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeMap;
use std::sync::Arc;

const ACCOUNTS: u8 = 6;
/// Account indices up to this are named by transfers; the last ones are never created.
const NAMED_ACCOUNTS: u8 = 8;

/// The reference: the port's documented semantics, as plainly as possible.
#[derive(Clone, Default)]
struct Model {
    accounts: BTreeMap<AccountId, (Account, i64, i64)>,
    transfers: BTreeMap<TransferId, Transfer>,
}

impl Model {
    fn create_account(&mut self, a: &Account) -> Result<Posted, ()> {
        match self.accounts.get(&a.id) {
            Some((existing, _, _)) if existing == a => Ok(Posted::Exists),
            Some(_) => Err(()),
            None => {
                self.accounts.insert(a.id, (a.clone(), 0, 0));
                Ok(Posted::Created)
            }
        }
    }

    fn post_one(&mut self, t: &Transfer) -> TransferOutcome {
        if let Some(e) = self.transfers.get(&t.id) {
            return if e.same_content(t) {
                Ok(Posted::Exists)
            } else {
                Err(Rejected::ExistsWithDifferentContent)
            };
        }
        if t.debit_account == t.credit_account {
            return Err(Rejected::SameAccount);
        }
        if t.amount.micros() <= 0 {
            return Err(Rejected::NonPositiveAmount);
        }
        let Some(d) = self.accounts.get(&t.debit_account).cloned() else {
            return Err(Rejected::AccountNotFound(t.debit_account));
        };
        let Some(c) = self.accounts.get(&t.credit_account).cloned() else {
            return Err(Rejected::AccountNotFound(t.credit_account));
        };
        let a = t.amount.micros();
        let (Some(nd), Some(_)) = (d.1.checked_add(a), c.2.checked_add(a)) else {
            return Err(Rejected::Overflow);
        };
        if d.0.flags.debits_must_not_exceed_credits
            && i128::from(nd) > i128::from(d.2) + i128::from(d.0.credit_limit.micros())
        {
            return Err(Rejected::InsufficientFunds(t.debit_account));
        }
        self.accounts.get_mut(&t.debit_account).unwrap().1 += a;
        self.accounts.get_mut(&t.credit_account).unwrap().2 += a;
        self.transfers.insert(t.id, t.clone());
        Ok(Posted::Created)
    }

    fn post(&mut self, batch: &[Transfer]) -> Vec<TransferOutcome> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < batch.len() {
            let mut end = i;
            while end < batch.len() && batch[end].linked {
                end += 1;
            }
            if end == batch.len() {
                for k in i..batch.len() {
                    out.push(Err(if k == batch.len() - 1 {
                        Rejected::LinkedChainOpen
                    } else {
                        Rejected::LinkedTransferFailed
                    }));
                }
                break;
            }
            let saved = self.clone();
            let mut chain = Vec::new();
            let mut failed = None;
            for (k, t) in batch[i..=end].iter().enumerate() {
                match self.post_one(t) {
                    Ok(p) => chain.push(Ok(p)),
                    Err(r) => {
                        failed = Some((k, r));
                        break;
                    }
                }
            }
            if let Some((k, r)) = failed {
                *self = saved;
                chain = (0..=end - i)
                    .map(|j| {
                        Err(if j == k {
                            r.clone()
                        } else {
                            Rejected::LinkedTransferFailed
                        })
                    })
                    .collect();
            }
            out.extend(chain);
            i = end + 1;
        }
        out
    }

    fn balance(&self, id: AccountId) -> Option<Balance> {
        self.accounts.get(&id).map(|(_, d, c)| Balance {
            debits: Money::from_micros(*d),
            credits: Money::from_micros(*c),
        })
    }

    fn history(&self, id: AccountId, from: Timestamp, to: Timestamp) -> Vec<Transfer> {
        let mut v: Vec<Transfer> = self
            .transfers
            .values()
            .filter(|t| t.debit_account == id || t.credit_account == id)
            .filter(|t| t.at >= from && t.at < to)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
        v
    }
}

#[derive(Clone, Debug)]
struct Tx {
    id: u8,
    debit: u8,
    credit: u8,
    amount: i64,
    code: u16,
    memo: u8,
    at: u8,
    linked: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        account: u8,
        code: u16,
        no_overdraft: bool,
        limit: i64,
    },
    Post(Vec<Tx>),
    Balance(u8),
    Transfer(u8),
    History {
        account: u8,
        from: u8,
        to: u8,
    },
}

fn tx() -> impl Strategy<Value = Tx> {
    (
        0u8..24,
        0u8..NAMED_ACCOUNTS,
        0u8..NAMED_ACCOUNTS,
        prop_oneof![8 => 1i64..200, 1 => -3i64..=0, 1 => Just(i64::MAX - 10)],
        0u16..3,
        0u8..3,
        0u8..12,
        prop::bool::weighted(0.3),
    )
        .prop_map(|(id, debit, credit, amount, code, memo, at, linked)| Tx {
            id,
            debit,
            credit,
            amount,
            code,
            memo,
            at,
            linked,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..ACCOUNTS, 0u16..2, any::<bool>(), prop_oneof![Just(0i64), 0i64..100])
            .prop_map(|(account, code, no_overdraft, limit)| Op::Create { account, code, no_overdraft, limit }),
        5 => prop::collection::vec(tx(), 1..8).prop_map(Op::Post),
        1 => (0..NAMED_ACCOUNTS).prop_map(Op::Balance),
        1 => (0u8..24).prop_map(Op::Transfer),
        1 => (0..NAMED_ACCOUNTS, 0u8..13, 0u8..13).prop_map(|(account, from, to)| Op::History { account, from, to }),
    ]
}

/// Ids for one case: a random salt keeps cases apart on a shared database.
struct Ids {
    salt: u128,
    base: Timestamp,
}

impl Ids {
    fn account(&self, i: u8) -> AccountId {
        AccountId(self.salt.wrapping_add(u128::from(i)))
    }
    fn transfer(&self, i: u8) -> TransferId {
        TransferId(self.salt.wrapping_add(1000 + u128::from(i)))
    }
    fn at(&self, i: u8) -> Timestamp {
        self.base + chrono::Duration::nanoseconds(i64::from(i) * 1_000_000_007)
    }
    fn transfer_of(&self, t: &Tx) -> Transfer {
        Transfer {
            id: self.transfer(t.id),
            debit_account: self.account(t.debit),
            credit_account: self.account(t.credit),
            amount: Money::from_micros(t.amount),
            code: t.code,
            memo: format!("memo-{}", t.memo),
            at: self.at(t.at),
            linked: t.linked,
        }
    }
}

async fn run_case(
    backends: &[(&'static str, Arc<dyn Ledger>)],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let ids = Ids {
        salt: rand_salt(),
        base: "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap(),
    };
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Create {
                account,
                code,
                no_overdraft,
                limit,
            } => {
                let a = Account {
                    id: ids.account(*account),
                    code: *code,
                    flags: AccountFlags {
                        debits_must_not_exceed_credits: *no_overdraft,
                    },
                    credit_limit: Money::from_micros(*limit),
                };
                let want = model.create_account(&a);
                for (name, l) in backends {
                    let got = l.create_account(&a).await;
                    match (&want, got) {
                        (Ok(w), Ok(g)) => prop_assert_eq!(*w, g, "{} create_account", name),
                        (Err(()), Err(e)) => prop_assert!(e.is_conflict(), "{name}: {e:?}"),
                        (w, g) => prop_assert!(
                            false,
                            "{}: create_account model {:?} backend {:?}",
                            name,
                            w,
                            g
                        ),
                    }
                }
            }
            Op::Post(txs) => {
                let batch: Vec<Transfer> = txs.iter().map(|t| ids.transfer_of(t)).collect();
                let want = model.post(&batch);
                for (name, l) in backends {
                    let got = l
                        .post(&batch)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
                    prop_assert_eq!(&want, &got, "{} post {:?}", name, batch);
                }
            }
            Op::Balance(i) => {
                let want = model.balance(ids.account(*i));
                for (name, l) in backends {
                    let got = l.balance(ids.account(*i)).await;
                    match (&want, got) {
                        (Some(w), Ok(g)) => prop_assert_eq!(*w, g, "{} balance", name),
                        (None, Err(e)) => prop_assert!(e.is_not_found(), "{name}: {e:?}"),
                        (w, g) => {
                            prop_assert!(false, "{}: balance model {:?} backend {:?}", name, w, g)
                        }
                    }
                }
            }
            Op::Transfer(i) => {
                let want = model.transfers.get(&ids.transfer(*i)).cloned();
                for (name, l) in backends {
                    let got = l
                        .transfer(ids.transfer(*i))
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&want, &got, "{} transfer", name);
                }
            }
            Op::History { account, from, to } => {
                let (from, to) = (ids.at(*from), ids.at(*to));
                let want = model.history(ids.account(*account), from, to);
                for (name, l) in backends {
                    let got = l
                        .history(ids.account(*account), from, to)
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&want, &got, "{} history", name);
                }
            }
        }
    }
    // Every balance agrees at the end, and the books balance.
    let mut sum: i128 = 0;
    for i in 0..NAMED_ACCOUNTS {
        let want = model.balance(ids.account(i));
        if let Some(w) = want {
            sum += i128::from(w.credits.micros()) - i128::from(w.debits.micros());
        }
        for (name, l) in backends {
            let got = l.balance(ids.account(i)).await.ok();
            prop_assert_eq!(want, got, "{} final balance of account {}", name, i);
        }
    }
    prop_assert_eq!(sum, 0);
    Ok(())
}

fn rand_salt() -> u128 {
    uuid::Uuid::new_v4().as_u128() & !0xffff
}

fn run(backends: Vec<(&'static str, Arc<dyn Ledger>)>, rt: &tokio::runtime::Runtime, cases: u32) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(op(), 1..40), |ops| {
            rt.block_on(run_case(&backends, &ops))
        })
        .unwrap();
}

#[test]
fn model_memory_and_sqlite_agree_with_the_reference() {
    let rt = common::runtime();
    let backends = rt.block_on(async {
        vec![
            ("memory", common::memory()),
            ("sqlite", common::sqlite().await),
        ]
    });
    run(backends, &rt, 128);
}

#[cfg(feature = "postgres")]
#[test]
fn model_postgres_agrees_with_the_reference_and_the_others() {
    let rt = common::runtime();
    let Some(pg) = rt.block_on(common::postgres()) else {
        return;
    };
    let backends = rt.block_on(async {
        vec![
            ("memory", common::memory()),
            ("sqlite", common::sqlite().await),
            ("postgres", pg),
        ]
    });
    run(backends, &rt, 48);
}
