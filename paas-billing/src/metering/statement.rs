//! Statements: what an organisation was charged and paid in over a period.

use super::Biller;
use super::accounts::{transfer_code, wallet_account};
use paas_core::model::{AppId, Money, OrgId, Timestamp};
use paas_core::ports::TransferId;
use paas_core::{Error, Result};

/// One charged app-hour on a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementCharge {
    /// The app.
    pub app: AppId,
    /// The hour charged (its start).
    pub hour: Timestamp,
    /// Replicas charged.
    pub replicas: u32,
    /// Amount charged.
    pub amount: Money,
    /// The ledger transfer (hex).
    pub transfer_id: String,
}

/// One top-up on a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementTopUp {
    /// When it was paid in.
    pub at: Timestamp,
    /// Amount.
    pub amount: Money,
    /// The payment's reference.
    pub payment_ref: String,
    /// The ledger transfer.
    pub transfer_id: TransferId,
}

/// An organisation's charges and top-ups with `from <= time < to` (a charge's time is the
/// start of the hour it pays for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The organisation.
    pub org: OrgId,
    /// Start of the period (inclusive).
    pub from: Timestamp,
    /// End of the period (exclusive).
    pub to: Timestamp,
    /// Wallet balance at `from`.
    pub opening_balance: Money,
    /// Charges, by hour then app.
    pub charges: Vec<StatementCharge>,
    /// Top-ups, oldest first.
    pub top_ups: Vec<StatementTopUp>,
    /// Sum of `charges`.
    pub total_charged: Money,
    /// Sum of `top_ups`.
    pub total_topped_up: Money,
    /// Wallet balance at `to`: the opening balance plus every wallet movement of the period.
    pub closing_balance: Money,
}

impl Biller {
    /// `org`'s statement for `from <= time < to`: each charged app-hour (from the usage
    /// records), each top-up (from the wallet's ledger history), their totals, and the wallet
    /// balance at both ends.
    ///
    /// ```
    /// # use paas_billing::{Biller, Policy};
    /// # use paas_core::memory::{ManualClock, MemoryLedger, MemoryStore};
    /// # use paas_core::model::{Money, OrgId};
    /// # use std::sync::Arc;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let clock = ManualClock::at("2026-03-01T10:30:00Z".parse().unwrap());
    /// # let biller = Biller::new(Arc::new(MemoryStore::new()), Arc::new(MemoryLedger::new()),
    /// #     Arc::new(clock), Policy::InArrears);
    /// let org = OrgId::new();
    /// biller.top_up(org, Money::from_units(5).unwrap(), "pay-1").await?;
    /// let s = biller
    ///     .statement(org, "2026-03-01T00:00:00Z".parse().unwrap(), "2026-03-02T00:00:00Z".parse().unwrap())
    ///     .await?;
    /// assert_eq!(s.total_topped_up, Money::from_units(5).unwrap());
    /// assert_eq!(s.closing_balance, Money::from_units(5).unwrap());
    /// # Ok::<(), paas_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn statement(&self, org: OrgId, from: Timestamp, to: Timestamp) -> Result<Statement> {
        if from > to {
            return Err(Error::invalid_input(format!(
                "a statement's period must not end ({to}) before it starts ({from})"
            )));
        }
        let wallet = wallet_account(org);
        let before = self
            .ledger
            .history(wallet, chrono::DateTime::<chrono::Utc>::MIN_UTC, from)
            .await
            .map_err(|e| e.context(format!("reading the wallet history of organisation {org}")))?;
        let during =
            self.ledger.history(wallet, from, to).await.map_err(|e| {
                e.context(format!("reading the wallet history of organisation {org}"))
            })?;
        let net = |transfers: &[paas_core::ports::Transfer], start: Money| -> Result<Money> {
            transfers.iter().try_fold(start, |acc, t| {
                if t.credit_account == wallet {
                    acc.checked_add(t.amount)
                } else {
                    acc.checked_sub(t.amount)
                }
            })
        };
        let opening_balance = net(&before, Money::ZERO)?;
        let closing_balance = net(&during, opening_balance)?;

        let top_ups: Vec<StatementTopUp> = during
            .iter()
            .filter(|t| t.code == transfer_code::TOP_UP && t.credit_account == wallet)
            .map(|t| StatementTopUp {
                at: t.at,
                amount: t.amount,
                payment_ref: t.memo.clone(),
                transfer_id: t.id,
            })
            .collect();
        let charges: Vec<StatementCharge> = self
            .store
            .list_usage(org, from, to)
            .await
            .map_err(|e| e.context(format!("reading the usage of organisation {org}")))?
            .into_iter()
            .map(|u| StatementCharge {
                app: u.app,
                hour: u.hour,
                replicas: u.replicas,
                amount: u.amount,
                transfer_id: u.transfer_id,
            })
            .collect();
        let total_charged = charges
            .iter()
            .try_fold(Money::ZERO, |acc, c| acc.checked_add(c.amount))?;
        let total_topped_up = top_ups
            .iter()
            .try_fold(Money::ZERO, |acc, t| acc.checked_add(t.amount))?;
        Ok(Statement {
            org,
            from,
            to,
            opening_balance,
            charges,
            top_ups,
            total_charged,
            total_topped_up,
            closing_balance,
        })
    }
}
