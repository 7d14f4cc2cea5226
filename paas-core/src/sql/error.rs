//! The one table from sqlx errors to the SDK's [`Error`].

use crate::Error;
use std::fmt::Display;

/// Maps a sqlx error to the SDK's error: the one place that decides kinds and retryability.
///
/// - unique violation -> `Conflict` (a record with that id, slug, name, number, value or
///   owner exists);
/// - foreign-key violation -> `NotFound` (the organisation, plan or app referenced does not
///   exist);
/// - check violation, bad configuration -> `InvalidInput`;
/// - pool timeout, connection and I/O errors, serialization failures, deadlocks, lock
///   timeouts, "database is busy/locked", server shutdown or overload -> `Unavailable`,
///   retryable;
/// - a row that does not decode -> `Internal` (the schema and the code disagree);
/// - anything else -> `Backend`, not retryable.
///
/// `doing` says what was asked ("creating app 'shop'"); every error names `backend`.
pub(crate) fn map_sqlx_error(backend: &'static str, doing: impl Display, err: sqlx::Error) -> Error {
    use sqlx::Error as E;
    let mapped = match &err {
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let constraint = db.constraint().map(|c| format!(" ({c})")).unwrap_or_default();
            if db.is_unique_violation() {
                Error::conflict(format!(
                    "{doing}: a record with the same unique key already exists{constraint}; \
                     use another id/name or read the existing record"
                ))
            } else if db.is_foreign_key_violation() {
                Error::not_found(format!(
                    "{doing}: a record it refers to (organisation, plan or app) does not \
                     exist{constraint}; create it first"
                ))
            } else if db.is_check_violation() {
                Error::invalid_input(format!(
                    "{doing}: a value is out of the allowed range{constraint}: {}",
                    db.message()
                ))
            } else if is_transient_code(backend, &code) {
                Error::unavailable(format!(
                    "{doing}: the database is busy or unavailable (code {code}: {}); retry",
                    db.message()
                ))
            } else {
                Error::backend_error(format!(
                    "{doing}: the database refused the query (code {code}): {}",
                    db.message()
                ))
            }
        }
        E::PoolTimedOut => Error::unavailable(format!(
            "{doing}: no database connection became free in time; the pool is exhausted or \
             the server is slow: retry, or raise the pool size"
        )),
        E::Io(_) | E::Tls(_) | E::Protocol(_) | E::WorkerCrashed | E::BeginFailed => {
            Error::unavailable(format!("{doing}: lost the connection to the database; retry"))
        }
        E::PoolClosed => Error::unavailable(format!(
            "{doing}: the store's connection pool was closed (the store is shutting down)"
        ))
        .retryable(false),
        E::RowNotFound => Error::not_found(format!("{doing}: no such record")),
        E::Configuration(_) | E::InvalidArgument(_) => Error::invalid_input(format!(
            "{doing}: the database configuration is invalid: {err}"
        )),
        E::ColumnDecode { .. } | E::Decode(_) | E::ColumnNotFound(_) | E::TypeNotFound { .. } => {
            Error::internal(format!(
                "{doing}: a stored row does not match the expected shape ({err}); the schema \
                 is older or newer than this SDK: run migrate()"
            ))
        }
        _ => Error::backend_error(format!("{doing}: {err}")),
    };
    mapped.with_backend(backend).with_source(err)
}

/// Database error codes worth a retry.
fn is_transient_code(backend: &str, code: &str) -> bool {
    if backend == "sqlite" {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes (code & 0xff).
        return code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
    }
    matches!(
        code,
        // serialization_failure, deadlock_detected, lock_not_available, query_canceled
        "40001" | "40P01" | "55P03" | "57014"
        // too_many_connections, cannot_connect_now, admin/crash shutdown
        | "53300" | "57P03" | "57P01" | "57P02"
    ) || code.starts_with("08") // connection exceptions
        || code.starts_with("53") // insufficient resources
}

/// Maps a migration error.
pub(crate) fn map_migrate_error(backend: &'static str, err: sqlx::migrate::MigrateError) -> Error {
    use sqlx::migrate::MigrateError as M;
    match err {
        M::Execute(e) => map_sqlx_error(backend, "applying the store's migrations", e),
        M::ExecuteMigration(e, version) => {
            map_sqlx_error(backend, format!("applying the store's migration {version}"), e)
        }
        other => Error::backend_error(format!(
            "applying the store's migrations: {other}; the database's schema history does not \
             match this SDK's migrations (was it migrated by another version?)"
        ))
        .with_backend(backend)
        .with_source(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn pool_timeout_is_retryable_unavailable_with_backend() {
        let e = map_sqlx_error("postgres", "listing apps", sqlx::Error::PoolTimedOut);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        assert_eq!(e.backend(), Some("postgres"));
        assert!(e.message().starts_with("listing apps: "));
    }

    #[test]
    fn closed_pool_is_not_retryable() {
        let e = map_sqlx_error("sqlite", "x", sqlx::Error::PoolClosed);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(!e.is_retryable());
    }

    #[test]
    fn transient_codes() {
        assert!(is_transient_code("postgres", "40001"));
        assert!(is_transient_code("postgres", "40P01"));
        assert!(is_transient_code("postgres", "08006"));
        assert!(!is_transient_code("postgres", "23505"));
        assert!(is_transient_code("sqlite", "5"));
        assert!(is_transient_code("sqlite", "517"));
        assert!(is_transient_code("sqlite", "6"));
        assert!(!is_transient_code("sqlite", "2067"));
    }
}
