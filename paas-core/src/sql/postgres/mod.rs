//! The SQL store on PostgreSQL: connection, configuration, migrations and the wake-up channel.

mod id_allocator;
mod queue;
mod store;
mod usage;

pub use id_allocator::PgIdAllocator;

use crate::ports::Pools;
use crate::sql::common::Wakeup;
use crate::sql::error::{map_migrate_error, map_sqlx_error};
use crate::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) const BACKEND: &str = "postgres";

/// The channel workers are woken on (`pg_notify` by enqueue, retry, complete and fail). The
/// payload is the notifying session's schema, so stores in other schemas of the same database
/// ignore each other's work.
const WORK_CHANNEL: &str = "paas_work";

/// How to reach PostgreSQL. `Debug` never shows the password.
///
/// ```
/// use paas_core::sql::PgConfig;
/// let config = PgConfig::new("postgres://paas:s3cret@db.internal:5432/paas")
///     .max_connections(20)
///     .schema("tenant_a")
///     .unwrap();
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct PgConfig {
    url: String,
    max_connections: u32,
    acquire_timeout: Duration,
    schema: Option<String>,
}

impl PgConfig {
    /// A configuration for `url` (`postgres://user:password@host:port/database?sslmode=...`),
    /// with 16 connections at most and a 10 s wait for a free one.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            schema: None,
        }
    }

    /// The most connections the store opens (at least 2: one is kept for the wake-up channel
    /// while workers wait).
    #[must_use]
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(2);
        self
    }

    /// How long a query waits for a free connection before failing with `Unavailable`.
    #[must_use]
    pub fn acquire_timeout(mut self, d: Duration) -> Self {
        self.acquire_timeout = d;
        self
    }

    /// Keeps the store's tables in this schema (created by `migrate()` if missing) instead of
    /// the user's default: several platforms, or tests, can share one database. The name must
    /// be a plain identifier: 1-63 of `[a-z0-9_]`, not starting with a digit.
    pub fn schema(mut self, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(Error::invalid_input(format!(
                "'{}' is not a usable schema name: use 1-63 of a-z, 0-9 and _, not starting with \
                 a digit",
                name.escape_debug()
            )));
        }
        self.schema = Some(name);
        Ok(self)
    }

    fn connect_options(&self) -> Result<PgConnectOptions> {
        let mut opts = PgConnectOptions::from_str(&self.url).map_err(|e| {
            Error::invalid_input(format!(
                "the PostgreSQL URL {} is not valid ({e}): expected \
                 postgres://user:password@host:port/database",
                redact_url(&self.url)
            ))
            .with_backend(BACKEND)
        })?;
        opts = opts.application_name("paas");
        if let Some(schema) = &self.schema {
            opts = opts.options([("search_path", schema.as_str())]);
        }
        Ok(opts)
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("schema", &self.schema)
            .finish()
    }
}

/// The URL with the password (in the user-info part or a `password=` parameter) replaced.
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "[redacted]");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=[redacted]"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// The records, the operation queue and the events on PostgreSQL: a [`Store`](crate::ports::Store).
///
/// Cheap to clone (the clones share one connection pool). Several processes may use the same
/// database at once: uniqueness, versions, leases and event numbering are enforced by the
/// database, and idle workers in any process are woken through `LISTEN`/`NOTIFY`.
///
/// ```no_run
/// # async fn demo() -> paas_core::Result<()> {
/// use paas_core::sql::PgStore;
/// use paas_core::ports::{Pools, Store};
/// let store = PgStore::connect("postgres://paas@127.0.0.1:5432/paas").await?;
/// store.migrate().await?;
/// let ids = store.id_allocator(Pools::default());
/// let orgs = store.list_orgs_all().await?;
/// # let _ = (ids, orgs); Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    schema: Option<String>,
    wake: Arc<Wakeup>,
    listener: Mutex<Option<AbortOnDrop>>,
}

/// Stops the wake-up listener when the last clone of the store goes.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.inner.schema)
            .field("connections", &self.inner.pool.size())
            .finish()
    }
}

impl PgStore {
    /// Connects to `url` with the default [`PgConfig`]. Does not migrate: call
    /// [`PgStore::migrate`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(PgConfig::new(url)).await
    }

    /// Connects with a configuration (pool size, schema).
    pub async fn connect_with(config: PgConfig) -> Result<Self> {
        let opts = config.connect_options()?;
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(opts)
            .await
            .map_err(|e| {
                map_sqlx_error(
                    BACKEND,
                    format!("connecting to PostgreSQL at {}", redact_url(&config.url)),
                    e,
                )
            })?;
        Ok(Self::from_parts(pool, config.schema))
    }

    /// Uses an existing pool. Its connections' `search_path` decides where the tables are.
    pub fn from_pool(pool: PgPool) -> Self {
        Self::from_parts(pool, None)
    }

    fn from_parts(pool: PgPool, schema: Option<String>) -> Self {
        PgStore {
            inner: Arc::new(Inner {
                pool,
                schema,
                wake: Arc::new(Wakeup::default()),
                listener: Mutex::new(None),
            }),
        }
    }

    /// The connection pool (shared with the id allocators made from this store).
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Applies the store's embedded migrations that are not applied yet (creating the schema
    /// first if one was configured). Idempotent, and safe when several processes start at
    /// once: sqlx's migrator holds a PostgreSQL advisory lock while it applies migrations, so
    /// the others wait and then find nothing to do.
    pub async fn migrate(&self) -> Result<()> {
        if let Some(schema) = &self.inner.schema {
            // CREATE SCHEMA IF NOT EXISTS can still fail with a duplicate-key error when two
            // sessions race; a transaction-scoped advisory lock serialises them. The name was
            // validated as a plain identifier, so quoting it is enough.
            let mut tx = self
                .inner
                .pool
                .begin()
                .await
                .map_err(|e| map_sqlx_error(BACKEND, "creating the store's schema", e))?;
            sqlx::query("SELECT pg_advisory_xact_lock(7268110155113520611)")
                .execute(&mut *tx)
                .await
                .map_err(|e| map_sqlx_error(BACKEND, "creating the store's schema", e))?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .execute(&mut *tx)
            .await
            .map_err(|e| map_sqlx_error(BACKEND, format!("creating schema '{schema}'"), e))?;
            tx.commit()
                .await
                .map_err(|e| map_sqlx_error(BACKEND, "creating the store's schema", e))?;
        }
        sqlx::migrate!("./migrations/postgres")
            .run(&self.inner.pool)
            .await
            .map_err(|e| map_migrate_error(BACKEND, e))
    }

    /// An id allocator over this store's database, serving `pools`.
    pub fn id_allocator(&self, pools: Pools) -> PgIdAllocator {
        PgIdAllocator::new(self.inner.pool.clone(), pools)
    }

    /// Closes every connection (and stops the wake-up listener).
    pub async fn close(&self) {
        if let Ok(mut l) = self.inner.listener.lock() {
            l.take();
        }
        self.inner.pool.close().await;
    }

    pub(crate) fn db(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Wakes this process's idle workers at once (other processes hear the `NOTIFY`).
    pub(crate) fn wake_local(&self) {
        self.inner.wake.wake();
    }

    pub(crate) fn lease_started(&self) {
        self.inner.wake.lease_started();
    }

    /// Waits for a wake-up or the timeout, starting the `LISTEN` task on first use.
    pub(crate) async fn wait(&self, timeout: Duration) {
        self.ensure_listener();
        self.inner.wake.wait(timeout).await;
    }

    fn ensure_listener(&self) {
        let Ok(mut slot) = self.inner.listener.lock() else {
            return;
        };
        if slot.as_ref().is_some_and(|h| !h.0.is_finished()) {
            return;
        }
        let pool = self.inner.pool.clone();
        let wake = Arc::clone(&self.inner.wake);
        *slot = Some(AbortOnDrop(tokio::spawn(listen(pool, wake))));
    }
}

/// Forwards `NOTIFY paas_work` of this store's schema to the local waiters, reconnecting with
/// a back-off when the connection drops.
async fn listen(pool: PgPool, wake: Arc<Wakeup>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen_once(&pool, &wake).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "paas store: the LISTEN connection failed; retrying");
                // Work may have been enqueued while we were deaf.
                wake.wake();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn listen_once(pool: &PgPool, wake: &Wakeup) -> std::result::Result<(), sqlx::Error> {
    if pool.is_closed() {
        return Ok(());
    }
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(WORK_CHANNEL).await?;
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut listener)
        .await?;
    let schema = schema.unwrap_or_default();
    loop {
        match listener.try_recv().await? {
            Some(n) => {
                if schema.is_empty() || n.payload() == schema {
                    wake.wake();
                }
            }
            // Connection lost: try_recv reconnects on the next call; wake the waiters in case a
            // notification was missed meanwhile.
            None => wake.wake(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_in_userinfo_and_query() {
        assert_eq!(
            redact_url("postgres://paas:s3cret@host:5432/db"),
            "postgres://paas:[redacted]@host:5432/db"
        );
        assert_eq!(
            redact_url("postgres://host/db?user=a&password=s3cret&sslmode=require"),
            "postgres://host/db?user=a&password=[redacted]&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://paas@host/db"),
            "postgres://paas@host/db"
        );
        assert_eq!(
            redact_url("postgres://a:b:c@h/d"),
            "postgres://a:[redacted]@h/d"
        );
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(PgConfig::new("postgres://h/d").schema("t_1a").is_ok());
        for bad in ["", "1a", "A", "a-b", "a\"b", &"a".repeat(64)] {
            assert!(
                PgConfig::new("postgres://h/d").schema(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_hides_password() {
        let c = PgConfig::new("postgres://u:hunter2@h/d?password=hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
