//! The SQL store: [`Store`](crate::ports::Store) and [`IdAllocator`](crate::ports::IdAllocator)
//! on PostgreSQL (feature `postgres`) and SQLite (feature `sqlite`).
//!
//! - [`PgStore`] / [`SqliteStore`]: the durable records and the operation queue. Build one from a
//!   URL (`PgStore::connect`, `SqliteStore::open`) or an existing sqlx pool, then call
//!   `migrate()` once at start-up (idempotent; safe when several processes start at once).
//! - [`PgIdAllocator`] / [`SqliteIdAllocator`]: id pools in the same database, made with
//!   `store.id_allocator(pools)`; they share the store's connection pool.
//!
//! Storage choices, the same on both databases:
//! - Timestamps are 64-bit integer nanoseconds since the Unix epoch, so every record read back
//!   equals the record written (timestamptz would keep only microseconds). Times outside
//!   1677-09-21..2262-04-11 are refused with `InvalidInput`.
//! - Ids are uuids (`uuid` on Postgres, 16-byte blobs on SQLite); nested parts of a record are
//!   JSON (`jsonb` / text).
//! - Every rule the port promises is a constraint in the schema: unique slugs (apps: among apps
//!   not deleted, a partial unique index), one allocation per (pool, value) and per
//!   (pool, owner), one running operation per app, gap-free event seqs per app, foreign keys
//!   from apps to their organisation (cascade) and plan (restrict), and from releases,
//!   operations, events and usage to their app (cascade). A missing referenced record is
//!   `NotFound`.
//! - Queries are runtime queries with bound parameters only; no query is built from input.
//!
//! The operation queue on PostgreSQL: `lease` is one `UPDATE ... FROM (SELECT ... FOR UPDATE
//! SKIP LOCKED)` statement (only an app's oldest unfinished operation is eligible; a partial
//! unique index allows one running operation per app). Leases and renewals commit without
//! waiting for the disk (`synchronous_commit` off for that transaction only): a lease lost in
//! a server crash is harmless, the operation is leased again and its steps are idempotent.
//! Enqueue, checkpoint, complete, retry and fail are durable. Idle workers in every process
//! are woken by `NOTIFY paas_work` (payload: the schema), sent in a statement of its own after
//! the durable write, because PostgreSQL serialises the commits of notifying transactions. On
//! SQLite every write runs under the database's single write lock (one statement, or
//! `BEGIN IMMEDIATE`), and only the workers of the same process are woken at once.
//!
//! Id allocation on PostgreSQL is one call of a plpgsql function: concurrent allocators claim
//! candidates with transaction-scoped advisory locks instead of queueing on a lock, search
//! from a low-water mark (never scanning a billion-wide range), and the primary key on
//! (pool, value) guarantees uniqueness whatever the interleaving.

#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod common;
mod error;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod store_impl;

#[cfg(feature = "postgres")]
pub use postgres::{PgConfig, PgIdAllocator, PgStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteIdAllocator, SqliteStore};
