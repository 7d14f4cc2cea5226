//! Metering and the wallet policy: [`Biller`].
//!
//! Every organisation has a wallet account in the ledger. Each hour [`Biller::bill_hour`]
//! charges every running app plan price x replicas from its organisation's wallet to the
//! platform's revenue account, with a transfer id derived from (app, hour): a re-run, or a
//! re-run after a crash halfway, charges nothing twice and misses nothing. When a wallet runs
//! out, billing enqueues `Suspend` operations for the organisation's running apps; a top-up
//! that brings it back above the threshold enqueues `Resume` for the apps billing suspended.

mod accounts;
mod enforce;
mod hour;
mod statement;

pub use accounts::{account_code, cash_account, revenue_account, transfer_code, wallet_account};
pub use enforce::Enforcement;
pub use hour::HourReport;
pub use statement::{Statement, StatementCharge, StatementTopUp};

use paas_core::model::{Money, OrgId, Timestamp};
use paas_core::ports::{
    Account, AccountFlags, AccountId, Clock, Ledger, Posted, Rejected, Store, Transfer,
};
use paas_core::{Error, ErrorKind, Result};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// When an hour is charged, and what happens when it cannot be paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Charge the hour that just finished; a wallet may go below zero. When it is at or below
    /// zero after charging, the organisation's running apps are suspended.
    #[default]
    InArrears,
    /// Charge the hour about to start, from a wallet that may not go below zero. An app whose
    /// hour cannot be paid is suspended instead of charged. An app resumed by a top-up in the
    /// middle of an hour is charged from the next hour billed.
    Prepaid,
}

/// How many transfers go into one `Ledger::post` call (and how many apps are read per page).
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// How many store calls (usage records, wallet checks) billing keeps in flight at once.
pub(crate) const CONCURRENCY: usize = 32;

/// Hourly metering, wallets, suspension and resume, and statements.
///
/// Built from the store (apps, plans, usage records, the operation queue), the ledger and a
/// clock. Any number of processes may run it at once: every effect is idempotent.
///
/// ```
/// use paas_billing::{Biller, Policy};
/// use paas_core::memory::{ManualClock, MemoryLedger, MemoryStore};
/// use paas_core::model::{Money, OrgId};
/// use std::sync::Arc;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let biller = Biller::new(
///     Arc::new(MemoryStore::new()),
///     Arc::new(MemoryLedger::new()),
///     Arc::new(ManualClock::starting_now()),
///     Policy::InArrears,
/// );
/// let org = OrgId::new();
/// biller.top_up(org, Money::from_units(10).unwrap(), "payment-1").await?;
/// biller.top_up(org, Money::from_units(10).unwrap(), "payment-1").await?; // same payment: no-op
/// assert_eq!(biller.wallet_balance(org).await?, Money::from_units(10).unwrap());
/// # Ok::<(), paas_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Biller {
    store: Arc<dyn Store>,
    ledger: Arc<dyn Ledger>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    resume_threshold: Money,
    batch_size: usize,
    system_accounts_ready: Arc<AtomicBool>,
}

impl fmt::Debug for Biller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Biller")
            .field("store", &self.store)
            .field("ledger", &self.ledger)
            .field("policy", &self.policy)
            .field("resume_threshold", &self.resume_threshold)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

/// What a top-up did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUp {
    /// `Created` for a new payment, `Exists` when this payment reference was already paid in.
    pub posted: Posted,
    /// The wallet's balance afterwards.
    pub balance: Money,
    /// What the wallet policy did afterwards (apps resumed).
    pub enforcement: Enforcement,
}

impl Biller {
    /// A biller with `policy`, a resume threshold of zero and batches of
    /// [`DEFAULT_BATCH_SIZE`].
    pub fn new(
        store: Arc<dyn Store>,
        ledger: Arc<dyn Ledger>,
        clock: Arc<dyn Clock>,
        policy: Policy,
    ) -> Self {
        Biller {
            store,
            ledger,
            clock,
            policy,
            resume_threshold: Money::ZERO,
            batch_size: DEFAULT_BATCH_SIZE,
            system_accounts_ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Apps suspended for an empty wallet are resumed only once the balance is above this
    /// (default zero: any positive balance).
    #[must_use]
    pub fn with_resume_threshold(mut self, threshold: Money) -> Self {
        self.resume_threshold = threshold;
        self
    }

    /// Transfers per `Ledger::post` call, 1..=8190 (clamped).
    #[must_use]
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.clamp(1, 8190);
        self
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Creates the platform's revenue and cash accounts if they do not exist (idempotent; the
    /// other calls do it on first use).
    pub async fn ensure_system_accounts(&self) -> Result<()> {
        if self.system_accounts_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        for (id, code) in [
            (revenue_account(), account_code::REVENUE),
            (cash_account(), account_code::CASH),
        ] {
            let account = Account {
                id,
                code,
                flags: AccountFlags::default(),
                credit_limit: Money::ZERO,
            };
            self.ledger
                .create_account(&account)
                .await
                .map_err(|e| e.context("creating the platform's billing accounts"))?;
        }
        self.system_accounts_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// The wallet account this policy creates for an organisation.
    fn wallet_for(&self, org: OrgId) -> Account {
        Account {
            id: wallet_account(org),
            code: account_code::WALLET,
            flags: AccountFlags {
                debits_must_not_exceed_credits: self.policy == Policy::Prepaid,
            },
            credit_limit: Money::ZERO,
        }
    }

    /// Creates `org`'s wallet if it has none, and returns its account id.
    ///
    /// A wallet keeps the flags it was created with (ledger accounts are immutable): a wallet
    /// made under another policy is used as it is.
    pub async fn ensure_wallet(&self, org: OrgId) -> Result<AccountId> {
        let wallet = self.wallet_for(org);
        match self.ledger.create_account(&wallet).await {
            Ok(_) => Ok(wallet.id),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                let existing = self.ledger.account(wallet.id).await?;
                match existing {
                    Some(a) if a.code == account_code::WALLET => {
                        tracing::warn!(%org, flags = ?a.flags, "wallet was created under another billing policy; using it as it is");
                        Ok(wallet.id)
                    }
                    _ => Err(e.context(format!("creating the wallet of organisation {org}"))),
                }
            }
            Err(e) => Err(e.context(format!("creating the wallet of organisation {org}"))),
        }
    }

    /// What `org`'s wallet holds (credits minus debits); zero for an organisation that has
    /// no wallet yet.
    pub async fn wallet_balance(&self, org: OrgId) -> Result<Money> {
        match self.ledger.balance(wallet_account(org)).await {
            Ok(b) => b.credits.checked_sub(b.debits),
            Err(e) if e.is_not_found() => Ok(Money::ZERO),
            Err(e) => Err(e.context(format!("reading the wallet of organisation {org}"))),
        }
    }

    /// Pays `amount` into `org`'s wallet, once per `payment_ref` (the payment provider's id of
    /// the payment: the same reference again changes nothing), then applies the wallet
    /// policy, which resumes the apps billing suspended if the balance is now above the
    /// threshold.
    ///
    /// Errors: `InvalidInput` for a non-positive amount or an empty reference; `Conflict` when
    /// the reference was already used for another amount or organisation.
    pub async fn top_up(&self, org: OrgId, amount: Money, payment_ref: &str) -> Result<TopUp> {
        if !amount.is_positive() {
            return Err(Error::invalid_input(format!(
                "a top-up must be a positive amount, got {amount}"
            )));
        }
        if payment_ref.trim().is_empty() {
            return Err(Error::invalid_input(
                "a top-up needs the payment's reference (its idempotency key); got an empty one",
            ));
        }
        self.ensure_system_accounts().await?;
        let wallet = self.ensure_wallet(org).await?;
        let transfer = Transfer {
            id: accounts::top_up_transfer_id(payment_ref),
            debit_account: cash_account(),
            credit_account: wallet,
            amount,
            code: transfer_code::TOP_UP,
            memo: payment_ref.to_owned(),
            at: self.clock.now(),
            linked: false,
        };
        let outcome = self.ledger.post(std::slice::from_ref(&transfer)).await?;
        let posted = match outcome.into_iter().next() {
            Some(Ok(posted)) => posted,
            Some(Err(Rejected::ExistsWithDifferentContent)) => {
                return Err(Error::conflict(format!(
                    "payment '{payment_ref}' was already paid in with another amount or to \
                     another organisation; use the payment's own unique reference"
                )));
            }
            Some(Err(why)) => {
                return Err(Error::internal(format!(
                    "the ledger refused top-up '{payment_ref}' of {amount} for organisation \
                     {org}: {why}"
                )));
            }
            None => {
                return Err(Error::internal(
                    "the ledger answered no outcome for a top-up",
                ));
            }
        };
        let enforcement = self.enforce_wallet(org).await?;
        Ok(TopUp {
            posted,
            balance: enforcement.balance,
            enforcement,
        })
    }

    /// Now, from the biller's clock.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
