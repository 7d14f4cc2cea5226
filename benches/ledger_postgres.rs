//! Postings per second into the ledger on PostgreSQL, batched, with 8 workers (goal: at least
//! 10,000/s).
//!
//! Each worker posts batches of 1,000 transfers with fresh ids. Two shapes:
//! - `disjoint_accounts`: each worker moves money among its own 1,000 accounts;
//! - `shared_hot_account`: every transfer credits one shared account (billing's revenue
//!   account), so every batch of every worker locks the same row.
//!
//! Needs `PAAS_BENCH_DATABASE_URL` or `PAAS_TEST_DATABASE_URL` (skipped with a note without).
//! Ids are random per run, so it can share a database with the tests.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paas_billing::SqlLedger;
use paas_core::model::{Money, Timestamp};
use paas_core::ports::{Account, AccountFlags, AccountId, Ledger, Transfer, TransferId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WORKERS: u64 = 8;
const BATCH: u64 = 1000;
const ACCOUNTS_PER_WORKER: u64 = 1000;

fn database_url() -> Option<String> {
    std::env::var("PAAS_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("PAAS_TEST_DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty())
}

struct Setup {
    ledger: Arc<SqlLedger>,
    /// High bits of every id of this run.
    salt: u128,
    hot: AccountId,
    next: AtomicU64,
}

impl Setup {
    fn account(&self, worker: u64, i: u64) -> AccountId {
        AccountId(self.salt | (u128::from(worker) << 32) | u128::from(i))
    }

    fn batch(&self, worker: u64, hot: bool, at: Timestamp) -> Vec<Transfer> {
        let first = self.next.fetch_add(BATCH, Ordering::Relaxed);
        (0..BATCH)
            .map(|k| {
                let n = first + k;
                let debit = self.account(worker, n % ACCOUNTS_PER_WORKER);
                let credit = if hot {
                    self.hot
                } else {
                    self.account(worker, (n * 7 + 1) % ACCOUNTS_PER_WORKER)
                };
                let credit = if credit == debit {
                    self.account(worker, (n + 1) % ACCOUNTS_PER_WORKER)
                } else {
                    credit
                };
                Transfer {
                    id: TransferId(self.salt | (1 << 80) | u128::from(n)),
                    debit_account: debit,
                    credit_account: credit,
                    amount: Money::from_micros(1 + (n % 997) as i64),
                    code: 2,
                    memo: String::new(),
                    at,
                    linked: false,
                }
            })
            .collect()
    }
}

fn bench(c: &mut Criterion) {
    let Some(url) = database_url() else {
        eprintln!(
            "note: PAAS_BENCH_DATABASE_URL / PAAS_TEST_DATABASE_URL not set; skipping ledger_postgres"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let setup = rt.block_on(async {
        let ledger = Arc::new(SqlLedger::connect(&url).await.unwrap());
        let salt = u128::from(paas_core::model::OrgId::new().as_uuid().as_u64_pair().0) << 64;
        let setup = Arc::new(Setup {
            ledger,
            salt,
            hot: AccountId(salt | (1 << 60)),
            next: AtomicU64::new(0),
        });
        let plain = |id| Account {
            id,
            code: 1,
            flags: AccountFlags::default(),
            credit_limit: Money::ZERO,
        };
        setup
            .ledger
            .create_account(&plain(setup.hot))
            .await
            .unwrap();
        for w in 0..WORKERS {
            for i in 0..ACCOUNTS_PER_WORKER {
                setup
                    .ledger
                    .create_account(&plain(setup.account(w, i)))
                    .await
                    .unwrap();
            }
        }
        setup
    });

    let mut group = c.benchmark_group("ledger_postgres_8_workers");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(WORKERS * BATCH));
    for (name, hot) in [("disjoint_accounts", false), ("shared_hot_account", true)] {
        group.bench_function(format!("{name}/batches_of_1000"), |b| {
            b.iter_custom(|iters| {
                let setup = setup.clone();
                rt.block_on(async move {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..WORKERS)
                        .map(|w| {
                            let setup = setup.clone();
                            tokio::spawn(async move {
                                for _ in 0..iters {
                                    let batch = setup.batch(w, hot, at);
                                    let out = setup.ledger.post(&batch).await.unwrap();
                                    assert!(
                                        out.iter().all(|o| o.is_ok()),
                                        "{:?}",
                                        out.iter().find(|o| o.is_err())
                                    );
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
