//! # paas-billing
//!
//! Billing for the paas SDK:
//!
//! - [`SqlLedger`]: the `Ledger` port (double-entry accounts, immutable transfers with
//!   idempotency keys, linked chains, no-overdraft accounts) on PostgreSQL or SQLite.
//! - [`Biller`]: hourly metering of running apps into organisation wallets, with the wallet
//!   policy (suspend when the money runs out, resume on top-up) and statements.
//!
//! The ledger keeps its own migrations table ([`MIGRATIONS_TABLE`]) so it can share a
//! database (and schema) with paas-core's SQL store.
//!
//! Measured (criterion, root `benches/`, a loaded 2-core machine, PostgreSQL 15 on localhost):
//! `MemoryLedger` ~1.26 M postings/s (goal 1 M); `SqlLedger` on Postgres with 8 workers and
//! batches of 1,000: ~40 k postings/s on disjoint accounts, ~17 k/s when every transfer hits one
//! hot account (goal 10 k); one billing hour of 100,000 running apps (apps in a `MemoryStore`,
//! ledger on Postgres): ~7.6 s (goal under 10 s).

#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod ledger;

#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use ledger::{MIGRATIONS_TABLE, SqlLedger};

mod metering;

pub use metering::{
    Biller, DEFAULT_BATCH_SIZE, Enforcement, HourReport, Policy, Statement, StatementCharge,
    StatementTopUp, TopUp, account_code, cash_account, revenue_account, transfer_code,
    wallet_account,
};
