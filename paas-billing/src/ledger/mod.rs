//! [`SqlLedger`]: the [`Ledger`] port on PostgreSQL or SQLite.
//!
//! Accounts keep their posted totals in their own row; a batch is posted in one transaction
//! that locks the batch's accounts in a fixed order (sorted ids), decides every outcome with
//! the rules in `batch`, inserts the new transfers and writes the new totals. Two batches that
//! share accounts therefore serialise on the account rows and never deadlock, and a balance is
//! always the sum of the account's transfers.

mod batch;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod shared;
#[cfg(feature = "sqlite")]
mod sqlite;

use async_trait::async_trait;
use paas_core::model::Timestamp;
use paas_core::ports::{
    Account, AccountId, Balance, Ledger, Posted, Transfer, TransferId, TransferOutcome,
};
use paas_core::{Error, Result};
use std::fmt;

/// Name of the table in which the ledger records its own schema migrations, so that it can
/// share a database with the SQL store (which uses sqlx's default `_sqlx_migrations`).
pub const MIGRATIONS_TABLE: &str = "_paas_billing_migrations";

/// How many times a batch is retried after a transient conflict (a deadlock or serialisation
/// failure reported by the database, or a concurrent insert of the same transfer id).
const MAX_ATTEMPTS: u32 = 8;

/// The [`Ledger`] on a SQL database: PostgreSQL (feature `postgres`) or SQLite (feature
/// `sqlite`, the default).
///
/// Create it from a pool with [`SqlLedger::postgres`] / [`SqlLedger::sqlite`], or from a URL
/// with [`SqlLedger::connect`]; all of them apply the ledger's migrations (idempotent; recorded
/// in [`MIGRATIONS_TABLE`]).
///
/// ```no_run
/// # async fn demo() -> paas_core::Result<()> {
/// use paas_billing::SqlLedger;
/// use paas_core::ports::{Account, AccountFlags, AccountId, Ledger};
/// use paas_core::model::Money;
///
/// let ledger = SqlLedger::connect("sqlite::memory:").await?;
/// let wallet = Account {
///     id: AccountId::derive(&[b"wallet", b"acme"]),
///     code: 1,
///     flags: AccountFlags { debits_must_not_exceed_credits: true },
///     credit_limit: Money::ZERO,
/// };
/// ledger.create_account(&wallet).await?;
/// assert_eq!(ledger.balance(wallet.id).await?.net(), Money::ZERO);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlLedger {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

impl fmt::Debug for SqlLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pool's options hold the connection URL (with its password): never print them.
        let backend = match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => "sqlite",
        };
        f.debug_struct("SqlLedger")
            .field("backend", &backend)
            .finish()
    }
}

impl SqlLedger {
    /// A ledger on a PostgreSQL pool; applies the ledger's migrations first.
    ///
    /// ```no_run
    /// # async fn demo() -> paas_core::Result<()> {
    /// let pool = sqlx::PgPool::connect("postgres://paas@localhost/paas").await
    ///     .map_err(|e| paas_core::Error::unavailable(e.to_string()))?;
    /// let ledger = paas_billing::SqlLedger::postgres(pool).await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "postgres")]
    pub async fn postgres(pool: sqlx::PgPool) -> Result<Self> {
        postgres::migrate(&pool).await?;
        Ok(SqlLedger {
            backend: Backend::Postgres(pool),
        })
    }

    /// A ledger on a SQLite pool; applies the ledger's migrations first.
    ///
    /// An in-memory SQLite database lives as long as its one connection: give such a pool
    /// `max_connections(1)` and no idle timeout, or use a file.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(pool: sqlx::SqlitePool) -> Result<Self> {
        sqlite::migrate(&pool).await?;
        Ok(SqlLedger {
            backend: Backend::Sqlite(pool),
        })
    }

    /// Connects to `url` (`postgres://...` or `sqlite:...`) and applies the migrations.
    ///
    /// `sqlite::memory:` gives a private in-memory database (one connection, kept open).
    pub async fn connect(url: &str) -> Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(16)
                    .connect(url)
                    .await
                    .map_err(|e| {
                        rows::db_error(e, "postgres", "connecting the ledger to PostgreSQL")
                    })?;
                Self::postgres(pool).await
            }
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                use std::str::FromStr;
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .map_err(|e| {
                        Error::invalid_input(format!("'{url}' is not a usable SQLite URL: {e}"))
                    })?
                    .create_if_missing(true);
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let mut pool = sqlx::sqlite::SqlitePoolOptions::new();
                if in_memory {
                    pool = pool
                        .max_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                }
                let pool = pool.connect_with(options).await.map_err(|e| {
                    rows::db_error(e, "sqlite", "opening the ledger's SQLite database")
                })?;
                Self::sqlite(pool).await
            }
            _ => Err(Error::invalid_input(format!(
                "cannot open a ledger at a URL with scheme '{scheme}': expected {}",
                supported_schemes()
            ))),
        }
    }
}

fn supported_schemes() -> &'static str {
    match (cfg!(feature = "postgres"), cfg!(feature = "sqlite")) {
        (true, true) => "'postgres://' or 'sqlite:'",
        (true, false) => "'postgres://' (this build has no SQLite support)",
        _ => "'sqlite:' (this build has no PostgreSQL support; enable feature 'postgres')",
    }
}

#[async_trait]
impl Ledger for SqlLedger {
    async fn create_account(&self, account: &Account) -> Result<Posted> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => postgres::create_account(pool, account).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::create_account(pool, account).await,
        }
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => postgres::account(pool, id).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::account(pool, id).await,
        }
        .map(|state| state.map(|s| s.account))
    }

    async fn post(&self, transfers: &[Transfer]) -> Result<Vec<TransferOutcome>> {
        if transfers.is_empty() {
            return Ok(Vec::new());
        }
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => postgres::post(pool, transfers).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::post(pool, transfers).await,
        }
    }

    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => postgres::transfer(pool, id).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::transfer(pool, id).await,
        }
    }

    async fn balance(&self, account: AccountId) -> Result<Balance> {
        let state = match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => postgres::account(pool, account).await?,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::account(pool, account).await?,
        };
        let state = state.ok_or_else(|| {
            Error::not_found(format!(
                "ledger account {account} does not exist: create it before asking its balance"
            ))
        })?;
        Ok(Balance {
            debits: batch::money(state.debits),
            credits: batch::money(state.credits),
        })
    }

    async fn history(
        &self,
        account: AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Transfer>> {
        if from >= to {
            return Ok(Vec::new());
        }
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => postgres::history(pool, account, from, to).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::history(pool, account, from, to).await,
        }
    }
}
