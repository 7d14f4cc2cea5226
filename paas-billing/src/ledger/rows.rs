//! Conversions between the ledger's types and its SQL columns, and the mapping of database
//! errors to the SDK's [`Error`].

use paas_core::model::{Money, Timestamp};
use paas_core::ports::{Account, AccountFlags, AccountId, Transfer, TransferId};
use paas_core::{Error, Result};
use uuid::Uuid;

use super::batch::AccountState;

/// A 128-bit id as the uuid the tables store (big-endian, so the database orders ids as
/// numbers).
pub(crate) fn uuid_of(id: u128) -> Uuid {
    Uuid::from_u128(id)
}

/// `at` as (seconds, nanoseconds) since the epoch: exact, unlike a SQL timestamp.
pub(crate) fn split_time(at: Timestamp) -> (i64, i32) {
    // Subsecond nanos are below 2e9 (a leap second), which fits an i32.
    (
        at.timestamp(),
        i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(i32::MAX),
    )
}

/// The columns of a transfer row, decoded.
pub(crate) struct TransferRow {
    pub id: Uuid,
    pub debit_account: Uuid,
    pub credit_account: Uuid,
    pub amount: i64,
    pub code: i32,
    pub memo: String,
    pub at_secs: i64,
    pub at_nanos: i32,
    pub linked: bool,
}

impl TransferRow {
    pub(crate) fn into_transfer(self) -> Result<Transfer> {
        let at = u32::try_from(self.at_nanos)
            .ok()
            .and_then(|n| chrono::DateTime::from_timestamp(self.at_secs, n))
            .ok_or_else(|| {
                corrupt(format!(
                    "transfer {} has an impossible time ({}s {}ns)",
                    self.id, self.at_secs, self.at_nanos
                ))
            })?;
        Ok(Transfer {
            id: TransferId(self.id.as_u128()),
            debit_account: AccountId(self.debit_account.as_u128()),
            credit_account: AccountId(self.credit_account.as_u128()),
            amount: Money::from_micros(self.amount),
            code: code_of(self.code, "transfer", self.id)?,
            memo: self.memo,
            at,
            linked: self.linked,
        })
    }
}

/// The columns of an account row, decoded.
pub(crate) struct AccountRow {
    pub id: Uuid,
    pub code: i32,
    pub no_overdraft: bool,
    pub credit_limit: i64,
    pub debits: i64,
    pub credits: i64,
}

impl AccountRow {
    pub(crate) fn into_state(self) -> Result<AccountState> {
        Ok(AccountState {
            account: Account {
                id: AccountId(self.id.as_u128()),
                code: code_of(self.code, "account", self.id)?,
                flags: AccountFlags {
                    debits_must_not_exceed_credits: self.no_overdraft,
                },
                credit_limit: Money::from_micros(self.credit_limit),
            },
            debits: self.debits,
            credits: self.credits,
        })
    }
}

fn code_of(code: i32, what: &str, id: Uuid) -> Result<u16> {
    u16::try_from(code)
        .map_err(|_| corrupt(format!("{what} {id} has code {code}, outside 0..=65535")))
}

fn corrupt(message: String) -> Error {
    Error::internal(format!(
        "the ledger's tables hold a row the SDK did not write: {message}"
    ))
}

/// Whether two account records have the same content (what `create_account` compares).
pub(crate) fn same_account(a: &Account, b: &Account) -> bool {
    a.id == b.id && a.code == b.code && a.flags == b.flags && a.credit_limit == b.credit_limit
}

/// Whether a database error is transient for a transaction: retrying the whole transaction
/// may succeed (deadlock, serialisation failure, SQLite busy or locked).
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code();
            matches!(
                code.as_deref(),
                Some("40001" | "40P01" | "55P03" | "5" | "6" | "261" | "517")
            )
        }
        _ => false,
    }
}

/// Maps a database error to the SDK's error, saying what was being done.
pub(crate) fn db_error(e: sqlx::Error, backend: &'static str, doing: &str) -> Error {
    let err = match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::unavailable(format!(
                "{doing}: the database is unreachable or overloaded ({e}); retry later"
            ))
        }
        sqlx::Error::Tls(_) => {
            Error::unavailable(format!("{doing}: TLS to the database failed: {e}"))
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::conflict(format!("{doing}: {}", db.message()))
        }
        sqlx::Error::Database(_) if is_transient(&e) => Error::unavailable(format!(
            "{doing}: the database gave up on a busy transaction ({e}); retry"
        )),
        sqlx::Error::Migrate(m) => Error::backend_error(format!(
            "{doing}: applying the ledger's migrations failed: {m}"
        )),
        _ => Error::backend_error(format!("{doing}: {e}")),
    };
    err.with_backend(backend).with_source(e)
}
