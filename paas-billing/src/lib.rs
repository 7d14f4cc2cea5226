//! # paas-billing
//!
//! Billing for the paas SDK:
//!
//! - [`SqlLedger`]: the `Ledger` port (double-entry accounts, immutable transfers with
//!   idempotency keys, linked chains, no-overdraft accounts) on PostgreSQL or SQLite.
//! - [`Biller`]: hourly metering of running apps into organisation wallets, with the wallet
//!   policy (suspend when the money runs out, resume on top-up) and statements.

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
