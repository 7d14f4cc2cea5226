//! Postings per second into the in-memory ledger (goal: at least 1,000,000/s).
//!
//! Batches of 8,190 transfers (TigerBeetle's batch size) with fresh ids between 10,000
//! accounts; a fresh ledger per sample so memory stays bounded.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paas_core::memory::MemoryLedger;
use paas_core::model::{Money, Timestamp};
use paas_core::ports::{Account, AccountFlags, AccountId, Ledger, Transfer, TransferId};
use std::time::{Duration, Instant};

const BATCH: usize = 8190;
const ACCOUNTS: u128 = 10_000;

fn batches(n: u64, at: Timestamp, next_id: &mut u128) -> Vec<Vec<Transfer>> {
    (0..n)
        .map(|_| {
            (0..BATCH)
                .map(|_| {
                    *next_id += 1;
                    let id = *next_id;
                    let debit = id.wrapping_mul(7919) % ACCOUNTS;
                    let credit = (debit + 1 + id % (ACCOUNTS - 1)) % ACCOUNTS;
                    Transfer {
                        id: TransferId(id),
                        debit_account: AccountId(debit),
                        credit_account: AccountId(credit),
                        amount: Money::from_micros(1 + (id % 1000) as i64),
                        code: 2,
                        memo: String::new(),
                        at,
                        linked: false,
                    }
                })
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut group = c.benchmark_group("ledger_memory");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("post_batch_of_8190", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let ledger = MemoryLedger::new();
                for id in 0..ACCOUNTS {
                    let account = Account {
                        id: AccountId(id),
                        code: 1,
                        flags: AccountFlags::default(),
                        credit_limit: Money::ZERO,
                    };
                    ledger.create_account(&account).await.unwrap();
                }
                let mut next_id = 0;
                let work = batches(iters, at, &mut next_id);
                let start = Instant::now();
                for batch in &work {
                    let outcomes = ledger.post(batch).await.unwrap();
                    assert!(outcomes.iter().all(|o| o.is_ok()));
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
