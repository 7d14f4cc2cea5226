//! The billing chart of accounts: which ledger accounts exist, their ids and codes.

use paas_core::model::OrgId;
use paas_core::ports::{AccountId, TransferId};

/// Ledger account codes billing uses.
pub mod account_code {
    /// An organisation's wallet.
    pub const WALLET: u16 = 1;
    /// The platform's revenue: credited by every charge.
    pub const REVENUE: u16 = 2;
    /// Where top-up money comes from (payments received): debited by every top-up.
    pub const CASH: u16 = 3;
}

/// Ledger transfer codes billing uses.
pub mod transfer_code {
    /// Money paid into a wallet.
    pub const TOP_UP: u16 = 1;
    /// One app's hour, charged to its organisation's wallet.
    pub const CHARGE: u16 = 2;
}

/// The wallet account of `org`: derived from the org id, so every process finds the same one.
///
/// ```
/// use paas_billing::wallet_account;
/// use paas_core::model::OrgId;
/// let org = OrgId::new();
/// assert_eq!(wallet_account(org), wallet_account(org));
/// ```
pub fn wallet_account(org: OrgId) -> AccountId {
    AccountId::derive(&[b"paas-billing/wallet", org.as_uuid().as_bytes()])
}

/// The platform's revenue account.
pub fn revenue_account() -> AccountId {
    AccountId::derive(&[b"paas-billing/revenue"])
}

/// The account top-ups are paid from (payments received).
pub fn cash_account() -> AccountId {
    AccountId::derive(&[b"paas-billing/cash"])
}

/// The transfer that charges `app` for the hour starting at `hour_rfc3339`.
pub(crate) fn charge_transfer_id(app: &uuid::Uuid, hour_rfc3339: &str) -> TransferId {
    TransferId::derive(&[b"charge", app.as_bytes(), hour_rfc3339.as_bytes()])
}

/// The transfer of the top-up with payment reference `payment_ref`.
pub(crate) fn top_up_transfer_id(payment_ref: &str) -> TransferId {
    TransferId::derive(&[b"top-up", payment_ref.as_bytes()])
}
