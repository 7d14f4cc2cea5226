//! In-memory [`Ledger`]: double-entry accounts and immutable transfers behind one lock.
//!
//! This is the ledger the benchmark measures (goal: a million postings a second), so `post`
//! takes the lock once per batch, does only hash lookups per transfer, and makes a linked
//! chain atomic with an undo log of what it applied (never by copying the state).

use crate::model::{Money, Timestamp};
use crate::ports::{
    Account, AccountId, Balance, Ledger, Posted, Rejected, Transfer, TransferId, TransferOutcome,
};
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

/// An in-memory [`Ledger`] with exactly the port's semantics. Clones share the same books.
///
/// ```
/// use paas_core::memory::MemoryLedger;
/// use paas_core::model::Money;
/// use paas_core::ports::{Account, AccountFlags, AccountId, Ledger, Posted, Transfer, TransferId};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let ledger = MemoryLedger::new();
/// let cash = Account { id: AccountId(1), code: 3, flags: AccountFlags::default(), credit_limit: Money::ZERO };
/// let wallet = Account {
///     id: AccountId(2),
///     code: 1,
///     flags: AccountFlags { debits_must_not_exceed_credits: true },
///     credit_limit: Money::ZERO,
/// };
/// ledger.create_account(&cash).await?;
/// ledger.create_account(&wallet).await?;
/// let top_up = Transfer {
///     id: TransferId(10),
///     debit_account: cash.id,
///     credit_account: wallet.id,
///     amount: Money::from_units(5).unwrap(),
///     code: 1,
///     memo: "payment 42".into(),
///     at: chrono::Utc::now(),
///     linked: false,
/// };
/// assert_eq!(ledger.post(&[top_up.clone()]).await?, vec![Ok(Posted::Created)]);
/// // The id is the idempotency key: posting again changes nothing.
/// assert_eq!(ledger.post(&[top_up]).await?, vec![Ok(Posted::Exists)]);
/// assert_eq!(ledger.balance(wallet.id).await?.net(), Money::from_units(5).unwrap());
/// # Ok::<(), paas_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct MemoryLedger {
    books: Arc<Mutex<Books>>,
}

impl std::fmt::Debug for MemoryLedger {
    /// Counts only: the books may hold millions of transfers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // try_lock: formatting must never wait for (or deadlock with) a post in progress.
        match self.books.try_lock() {
            Ok(books) => f
                .debug_struct("MemoryLedger")
                .field("accounts", &books.accounts.len())
                .field("transfers", &books.transfers.len())
                .finish(),
            Err(_) => f.write_str("MemoryLedger { <busy> }"),
        }
    }
}

/// A fast hasher for the 128-bit ids (one folded multiply). Ids are client-chosen; this
/// backend is for tests and benchmarks, where hash flooding is not a concern.
#[derive(Default)]
struct IdHasher(u64);

impl IdHasher {
    fn mix(&mut self, lo: u64, hi: u64) {
        const K: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835;
        let m = u128::from(self.0 ^ lo ^ hi.rotate_left(29)).wrapping_mul(K);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(b), 0);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64, (n >> 64) as u64);
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

struct AccountState {
    account: Account,
    debits: i64,
    credits: i64,
    /// Indexes into `Books::transfers`, in posting order.
    entries: Vec<usize>,
}

#[derive(Default)]
struct Books {
    /// Accounts by position; `account_index` maps ids to positions, so a posting hashes each
    /// account once and then updates it in place.
    accounts: Vec<AccountState>,
    account_index: IdMap<AccountId, usize>,
    transfers: Vec<Transfer>,
    by_id: IdMap<TransferId, usize>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        // A panic while holding the lock cannot leave the books half-written: every mutation
        // completes (or is undone) before the guard drops, so a poisoned lock is still sound.
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Books {
    fn account(&self, id: &AccountId) -> Option<&AccountState> {
        self.account_index
            .get(id)
            .and_then(|&i| self.accounts.get(i))
    }

    /// Posts one transfer against the books as they are now (earlier members of its chain
    /// included, as they are already applied): `Created` applies it, anything else changes
    /// nothing.
    fn post_one(&mut self, t: &Transfer) -> TransferOutcome {
        let next = self.transfers.len();
        let slot = match self.by_id.entry(t.id) {
            Entry::Occupied(e) => {
                return match self.transfers.get(*e.get()) {
                    Some(existing) if existing.same_content(t) => Ok(Posted::Exists),
                    _ => Err(Rejected::ExistsWithDifferentContent),
                };
            }
            Entry::Vacant(slot) => slot,
        };
        if t.debit_account == t.credit_account {
            return Err(Rejected::SameAccount);
        }
        if !t.amount.is_positive() {
            return Err(Rejected::NonPositiveAmount);
        }
        let find = |id: &AccountId| {
            self.account_index
                .get(id)
                .copied()
                .filter(|&i| i < self.accounts.len())
                .ok_or(Rejected::AccountNotFound(*id))
        };
        let (d, c) = (find(&t.debit_account)?, find(&t.credit_account)?);
        let amount = t.amount.micros();
        let debit = &self.accounts[d];
        let new_debits = debit.debits.checked_add(amount).ok_or(Rejected::Overflow)?;
        let new_credits = self.accounts[c]
            .credits
            .checked_add(amount)
            .ok_or(Rejected::Overflow)?;
        if debit.account.flags.debits_must_not_exceed_credits {
            // i128: credits plus a large credit limit must not wrap into a false refusal.
            let allowed =
                i128::from(debit.credits) + i128::from(debit.account.credit_limit.micros());
            if i128::from(new_debits) > allowed {
                return Err(Rejected::InsufficientFunds(t.debit_account));
            }
        }
        let debit = &mut self.accounts[d];
        debit.debits = new_debits;
        debit.entries.push(next);
        let credit = &mut self.accounts[c];
        credit.credits = new_credits;
        credit.entries.push(next);
        slot.insert(next);
        self.transfers.push(t.clone());
        Ok(Posted::Created)
    }

    /// Undoes the last created transfer (chains unwind in reverse order, so this is exact).
    fn unpost_last(&mut self) {
        let Some(t) = self.transfers.pop() else {
            return;
        };
        let amount = t.amount.micros();
        if let Some(&d) = self.account_index.get(&t.debit_account)
            && let Some(debit) = self.accounts.get_mut(d)
        {
            debit.debits -= amount;
            debit.entries.pop();
        }
        if let Some(&c) = self.account_index.get(&t.credit_account)
            && let Some(credit) = self.accounts.get_mut(c)
        {
            credit.credits -= amount;
            credit.entries.pop();
        }
        self.by_id.remove(&t.id);
    }

    fn post_chain(&mut self, chain: &[Transfer], open: bool, out: &mut Vec<TransferOutcome>) {
        let start = out.len();
        if open {
            // The batch ended inside the chain: it can never close, so nothing of it is applied.
            let last = chain.len().saturating_sub(1);
            out.extend(chain.iter().enumerate().map(|(i, _)| {
                Err(if i == last {
                    Rejected::LinkedChainOpen
                } else {
                    Rejected::LinkedTransferFailed
                })
            }));
            return;
        }
        let mut applied = 0usize;
        let mut failure = None;
        for (i, t) in chain.iter().enumerate() {
            match self.post_one(t) {
                Ok(posted) => {
                    if posted == Posted::Created {
                        applied += 1;
                    }
                    out.push(Ok(posted));
                }
                Err(reason) => {
                    failure = Some((i, reason));
                    break;
                }
            }
        }
        if let Some((failed_at, reason)) = failure {
            for _ in 0..applied {
                self.unpost_last();
            }
            out.truncate(start);
            out.extend((0..chain.len()).map(|i| {
                Err(if i == failed_at {
                    reason.clone()
                } else {
                    Rejected::LinkedTransferFailed
                })
            }));
        }
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn create_account(&self, account: &Account) -> Result<Posted> {
        let mut books = self.books();
        if let Some(existing) = books.account(&account.id) {
            return if existing.account == *account {
                Ok(Posted::Exists)
            } else {
                Err(Error::conflict(format!(
                    "account {} already exists with other code, flags or credit limit; \
                     accounts are immutable: use a new id",
                    account.id
                )))
            };
        }
        let position = books.accounts.len();
        books.accounts.push(AccountState {
            account: account.clone(),
            debits: 0,
            credits: 0,
            entries: Vec::new(),
        });
        books.account_index.insert(account.id, position);
        Ok(Posted::Created)
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        Ok(self.books().account(&id).map(|a| a.account.clone()))
    }

    async fn post(&self, transfers: &[Transfer]) -> Result<Vec<TransferOutcome>> {
        let mut out = Vec::with_capacity(transfers.len());
        let mut books = self.books();
        let mut i = 0;
        while i < transfers.len() {
            let mut end = i;
            while end < transfers.len() && transfers[end].linked {
                end += 1;
            }
            if end == i {
                out.push(books.post_one(&transfers[i]));
                i += 1;
            } else {
                // transfers[i..end] are linked; the chain closes with transfers[end] if any.
                let open = end == transfers.len();
                let close = if open { end } else { end + 1 };
                books.post_chain(&transfers[i..close], open, &mut out);
                i = close;
            }
        }
        Ok(out)
    }

    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>> {
        let books = self.books();
        Ok(books
            .by_id
            .get(&id)
            .and_then(|&i| books.transfers.get(i))
            .cloned())
    }

    async fn balance(&self, account: AccountId) -> Result<Balance> {
        let books = self.books();
        let a = books.account(&account).ok_or_else(|| {
            Error::not_found(format!(
                "ledger account {account} does not exist: create it before asking its balance"
            ))
        })?;
        Ok(Balance {
            debits: Money::from_micros(a.debits),
            credits: Money::from_micros(a.credits),
        })
    }

    async fn history(
        &self,
        account: AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Transfer>> {
        let books = self.books();
        // An unknown account has no history; unlike `balance`, that is not an error.
        let Some(a) = books.account(&account) else {
            return Ok(Vec::new());
        };
        let mut found: Vec<Transfer> = a
            .entries
            .iter()
            .filter_map(|&i| books.transfers.get(i))
            .filter(|t| t.at >= from && t.at < to)
            .cloned()
            .collect();
        drop(books);
        found.sort_by(|x, y| x.at.cmp(&y.at).then(x.id.cmp(&y.id)));
        Ok(found)
    }
}
