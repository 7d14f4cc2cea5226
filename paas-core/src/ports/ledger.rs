//! The `Ledger` port: double-entry accounts and immutable transfers, TigerBeetle-style.

use crate::Result;
use crate::model::{Money, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::{self, Debug};

macro_rules! id128 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u128);

        impl $name {
            /// An id derived from `parts` (SHA-256, first 128 bits): the same parts always give
            /// the same id, which is what makes a re-run charge nothing twice.
            pub fn derive(parts: &[&[u8]]) -> Self {
                let mut h = Sha256::new();
                for p in parts {
                    h.update((p.len() as u64).to_be_bytes());
                    h.update(p);
                }
                let d = h.finalize();
                let mut b = [0u8; 16];
                b.copy_from_slice(&d[..16]);
                $name(u128::from_be_bytes(b))
            }

            /// Lowercase hex, 32 digits.
            pub fn to_hex(self) -> String {
                format!("{:032x}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:032x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }
    };
}

id128!(
    /// A ledger account.
    AccountId
);
id128!(
    /// A transfer; chosen by the client, and its idempotency key.
    TransferId
);

/// Rules an account enforces on every transfer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFlags {
    /// Debits may not exceed credits plus the account's `credit_limit` (a prepaid wallet).
    pub debits_must_not_exceed_credits: bool,
}

/// An account. Accounts are immutable once created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// What it is for (application-defined, e.g. 1 = wallet, 2 = revenue, 3 = cash).
    pub code: u16,
    /// Rules.
    pub flags: AccountFlags,
    /// With `debits_must_not_exceed_credits`, how far debits may exceed credits.
    pub credit_limit: Money,
}

/// A movement of `amount` from `debit_account` to `credit_account`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Idempotency key.
    pub id: TransferId,
    /// Account debited.
    pub debit_account: AccountId,
    /// Account credited.
    pub credit_account: AccountId,
    /// Strictly positive amount.
    pub amount: Money,
    /// What it is (application-defined, e.g. 1 = top-up, 2 = hourly charge).
    pub code: u16,
    /// Free-form reference (app and hour of a charge, payment id of a top-up).
    pub memo: String,
    /// When it happened (recorded as given; not part of the idempotency comparison).
    pub at: Timestamp,
    /// Linked to the next transfer of the batch: the chain succeeds or fails as one.
    pub linked: bool,
}

impl Transfer {
    /// Whether `other` has the same content: everything but `at` and `linked`.
    pub fn same_content(&self, other: &Transfer) -> bool {
        self.id == other.id
            && self.debit_account == other.debit_account
            && self.credit_account == other.credit_account
            && self.amount == other.amount
            && self.code == other.code
            && self.memo == other.memo
    }
}

/// A transfer that was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Posted {
    /// Newly posted.
    Created,
    /// Already posted with the same content; nothing changed.
    Exists,
}

/// Why a transfer was refused; a refused transfer changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Rejected {
    /// The id is taken by a transfer with other content.
    #[error("transfer id already used with different content")]
    ExistsWithDifferentContent,
    /// An account does not exist.
    #[error("account {0} does not exist")]
    AccountNotFound(AccountId),
    /// Debit and credit are the same account.
    #[error("debit and credit account are the same")]
    SameAccount,
    /// The amount is zero or negative.
    #[error("amount must be positive")]
    NonPositiveAmount,
    /// The debit account may not go beyond its credits (plus credit limit).
    #[error("account {0} has insufficient funds")]
    InsufficientFunds(AccountId),
    /// Another transfer of its linked chain failed.
    #[error("a linked transfer in the same chain failed")]
    LinkedTransferFailed,
    /// The batch's last transfer is marked linked: the chain is never closed.
    #[error("linked chain is open: the last transfer of a batch must not be linked")]
    LinkedChainOpen,
    /// Posting would overflow an account's totals.
    #[error("amount overflows the account's totals")]
    Overflow,
}

/// The outcome of one transfer of a batch.
pub type TransferOutcome = std::result::Result<Posted, Rejected>;

/// Posted totals of an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Sum of posted debits.
    pub debits: Money,
    /// Sum of posted credits.
    pub credits: Money,
}

impl Balance {
    /// Credits minus debits: what a wallet holds.
    pub fn net(&self) -> Money {
        Money::from_micros(self.credits.micros().saturating_sub(self.debits.micros()))
    }
}

/// Double-entry accounts and immutable transfers.
///
/// Semantics every implementation honours (the `testkit` suite checks them):
/// - `create_account` with an existing id and the same content is `Ok(Posted::Exists)`;
///   with other content it is `Conflict`.
/// - `post` answers one outcome per transfer, in order. A transfer's id is its idempotency key:
///   the same id with the same content is `Exists` and changes nothing; with other content it is
///   `ExistsWithDifferentContent` and changes nothing. Transfers flagged `linked` form a chain
///   with the transfers after them up to the first unlinked one: if one fails, all fail (the
///   others with `LinkedTransferFailed`) and none is applied. Unlinked transfers of a batch
///   stand alone.
/// - An account with `debits_must_not_exceed_credits` never has debits above credits plus its
///   credit limit, under any concurrency.
/// - Balances always equal the sum of the account's posted transfers; the sum of all
///   accounts' nets is zero.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Ledger: Send + Sync + Debug + 'static {
    /// Creates an account (idempotent for the same content).
    async fn create_account(&self, account: &Account) -> Result<Posted>;

    /// Looks an account up.
    async fn account(&self, id: AccountId) -> Result<Option<Account>>;

    /// Posts a batch of transfers.
    async fn post(&self, transfers: &[Transfer]) -> Result<Vec<TransferOutcome>>;

    /// Looks a transfer up by id.
    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>>;

    /// Posted totals of an account; `NotFound` for an unknown account.
    async fn balance(&self, account: AccountId) -> Result<Balance>;

    /// Transfers debiting or crediting `account` with `from <= at < to`, oldest first (ties
    /// by id).
    async fn history(
        &self,
        account: AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Transfer>>;
}
