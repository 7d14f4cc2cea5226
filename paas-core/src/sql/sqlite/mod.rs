//! The SQL store on SQLite: opening the database, migrations and waking idle workers.

mod id_allocator;
mod queue;
mod store;
mod usage;

pub use id_allocator::SqliteIdAllocator;

use crate::ports::Pools;
use crate::sql::common::Wakeup;
use crate::sql::error::{map_migrate_error, map_sqlx_error};
use crate::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const BACKEND: &str = "sqlite";

/// The records, the operation queue and the events in SQLite: a [`Store`](crate::ports::Store)
/// for one machine (a single control-plane process, or several sharing one database file).
///
/// SQLite has one writer at a time, which is what makes it correct here: every write is a
/// single statement or a `BEGIN IMMEDIATE` transaction, so a lease, an allocation or an
/// event number is decided under the database's write lock. Idle workers of this process are
/// woken at once by enqueue, retry, complete and fail; workers of another process sharing the
/// file notice new work at their next `wait_for_work` timeout.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> paas_core::Result<()> {
/// use paas_core::sql::SqliteStore;
/// use paas_core::ports::{Pools, Store};
/// let store = SqliteStore::open("sqlite::memory:").await?;
/// store.migrate().await?;
/// assert!(store.list_orgs_all().await?.is_empty());
/// let _ids = store.id_allocator(Pools::default());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    wake: Arc<Wakeup>,
    target: Arc<str>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("database", &self.target)
            .field("connections", &self.pool.size())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `target`: a file path, a
    /// `sqlite://path?mode=...` URL, or `sqlite::memory:` / `:memory:` for a private in-memory
    /// database (one connection, gone when the store is dropped). Files use write-ahead logging
    /// and wait up to 10 s for a busy database. Does not migrate: call
    /// [`SqliteStore::migrate`].
    pub async fn open(target: &str) -> Result<Self> {
        let memory = matches!(target, ":memory:" | "sqlite::memory:" | "sqlite://:memory:");
        let opts = if memory {
            SqliteConnectOptions::from_str("sqlite::memory:")
        } else if target.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(target)
        } else {
            Ok(SqliteConnectOptions::new().filename(target))
        }
        .map_err(|e| {
            Error::invalid_input(format!(
                "'{}' is not a SQLite database path or URL ({e})",
                target.escape_debug()
            ))
            .with_backend(BACKEND)
        })?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
        let pool_opts = if memory {
            // Every connection to :memory: is a different database: keep exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        };
        let opts = if memory {
            opts
        } else {
            opts.journal_mode(SqliteJournalMode::Wal)
        };
        let pool = pool_opts
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .map_err(|e| {
                map_sqlx_error(BACKEND, format!("opening SQLite database '{target}'"), e)
            })?;
        Ok(SqliteStore {
            pool,
            wake: Arc::new(Wakeup::default()),
            target: Arc::from(target),
        })
    }

    /// Uses an existing pool (its connections must have foreign keys on, sqlx's default).
    pub fn from_pool(pool: SqlitePool) -> Self {
        SqliteStore {
            pool,
            wake: Arc::new(Wakeup::default()),
            target: Arc::from("(pool)"),
        }
    }

    /// The connection pool (shared with the id allocators made from this store).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Applies the store's embedded migrations that are not applied yet. Idempotent, and safe
    /// when several processes open the same file at once: a migration is one transaction, and
    /// a run that loses the race to another (and fails on its duplicate) is retried, finding
    /// the work done.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = sqlx::migrate!("./migrations/sqlite");
        let mut attempt = 0;
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "sqlite migration raced; retrying");
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
                Err(e) => return Err(map_migrate_error(BACKEND, e)),
            }
        }
    }

    /// An id allocator over this store's database, serving `pools`.
    pub fn id_allocator(&self, pools: Pools) -> SqliteIdAllocator {
        SqliteIdAllocator::new(self.pool.clone(), pools)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn db(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) fn wake_local(&self) {
        self.wake.wake();
    }

    pub(crate) fn lease_started(&self) {
        self.wake.lease_started();
    }

    pub(crate) async fn wait(&self, timeout: Duration) {
        self.wake.wait(timeout).await;
    }
}
