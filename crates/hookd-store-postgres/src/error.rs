//! Turning PostgreSQL and pool failures into [`StoreError`]s a caller can act on.
//!
//! **Invariant:** every failure becomes a `StoreError` with the original error kept as
//! its source, and nothing here panics:
//! - the server cannot take work now (unreachable, shutting down, out of resources,
//!   read-only, a pool timeout) → `Unavailable`, with a detail that names the server;
//! - a named unique constraint → `Conflict` (named by the operation that knows the
//!   clashing value); a named foreign key → `NotFound` of the record it points at;
//! - anything else → `Internal`.

use deadpool_postgres::PoolError;
use hookd_store::StoreError;
use tokio_postgres::error::SqlState;

/// Failures of the store's own machinery rather than of PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MachineryError {
    #[error("column {column} holds {value}, which is out of range")]
    OutOfRange { column: &'static str, value: i64 },
    #[error("column {column} holds an unknown value {value:?}")]
    UnknownValue { column: &'static str, value: String },
    #[error("the database schema is version {found}, newer than the {supported} this hookd knows; upgrade hookd")]
    SchemaTooNew { found: i32, supported: i32 },
    #[error("sslmode=require needs TLS, which this build of hookd does not support yet; use sslmode=disable or prefer, or a TLS-terminating proxy")]
    TlsRequired,
    #[error("the LISTEN connection did not answer a health check in time")]
    ListenerTimeout,
}

/// A constraint violation the store knows how to name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation<'a> {
    /// A unique constraint, by name (`applications_uid_key`).
    Unique(&'a str),
    /// A foreign key, by name (`messages_app_id_fkey`).
    ForeignKey(&'a str),
}

/// The named constraint `error` violates, if it is a unique or foreign-key violation.
pub(crate) fn violation(error: &tokio_postgres::Error) -> Option<Violation<'_>> {
    let db = error.as_db_error()?;
    let constraint = db.constraint().unwrap_or("");
    match *db.code() {
        SqlState::UNIQUE_VIOLATION => Some(Violation::Unique(constraint)),
        SqlState::FOREIGN_KEY_VIOLATION => Some(Violation::ForeignKey(constraint)),
        _ => None,
    }
}

/// Maps any PostgreSQL error to a `StoreError`, keeping it as the source. `server`
/// names the server in `Unavailable` details ("127.0.0.1:5432").
pub(crate) fn map(server: &str, error: tokio_postgres::Error) -> StoreError {
    match violation(&error) {
        Some(Violation::ForeignKey(constraint)) => {
            if let Some(what) = missing_record(constraint) {
                return StoreError::NotFound(what);
            }
        }
        Some(Violation::Unique(constraint)) => {
            return StoreError::Conflict(format!("a record with the same {constraint} exists"));
        }
        None => {}
    }
    match unavailable_detail(server, &error) {
        Some(detail) => StoreError::Unavailable {
            detail,
            source: Some(Box::new(error)),
        },
        None => StoreError::internal(error),
    }
}

/// Maps a failure to get a pooled connection.
pub(crate) fn map_pool(server: &str, pool_size: usize, error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => map(server, error),
        PoolError::Timeout(_) => StoreError::Unavailable {
            detail: format!(
                "PostgreSQL at {server} is busy: no connection of the pool ({pool_size}) \
                 became free in time"
            ),
            source: Some(Box::new(error)),
        },
        PoolError::Closed => StoreError::Unavailable {
            detail: "the PostgreSQL connection pool is closed".to_owned(),
            source: Some(Box::new(error)),
        },
        other => StoreError::internal(other),
    }
}

/// A store-machinery failure as `Unavailable` (the caller should try later or fix the
/// configuration).
pub(crate) fn unavailable(error: MachineryError) -> StoreError {
    StoreError::Unavailable {
        detail: error.to_string(),
        source: Some(Box::new(error)),
    }
}

/// A store-machinery failure that is a bug or corrupt data.
pub(crate) fn internal(error: MachineryError) -> StoreError {
    StoreError::internal(error)
}

/// Whether retrying the same transaction may succeed: a deadlock, a serialization
/// failure, or a foreign key whose target was deleted concurrently.
pub(crate) fn is_transient(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED)
            | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            | Some(&SqlState::FOREIGN_KEY_VIOLATION)
    )
}

/// `error` once more, for another caller of a grouped statement: the same kind and
/// words, the source kept as text (a PostgreSQL error cannot be cloned).
pub(crate) fn copy_of(error: &StoreError) -> StoreError {
    match error {
        StoreError::NotFound(what) => StoreError::NotFound(what),
        StoreError::Conflict(detail) => StoreError::Conflict(detail.clone()),
        StoreError::Unavailable { detail, source } => StoreError::Unavailable {
            detail: detail.clone(),
            source: source.as_ref().map(|source| source.to_string().into()),
        },
        StoreError::Internal(source) => StoreError::Internal(source.to_string().into()),
    }
}

/// The record a foreign-key violation says is missing.
fn missing_record(constraint: &str) -> Option<&'static str> {
    Some(match constraint {
        "endpoints_app_id_fkey" | "messages_app_id_fkey" | "sources_app_id_fkey" => "application",
        "inbound_requests_source_id_fkey" | "inbound_dedup_source_id_fkey" => "source",
        "deliveries_endpoint_id_fkey" | "endpoint_send_slots_endpoint_id_fkey" => "endpoint",
        _ => return None,
    })
}

/// A clear sentence for the failures that mean "cannot take work now".
fn unavailable_detail(server: &str, error: &tokio_postgres::Error) -> Option<String> {
    if let Some(db) = error.as_db_error() {
        let why = server_condition(db.code())?;
        return Some(format!("PostgreSQL at {server} {why}: {}", db.message()));
    }
    // Without a server error, tokio-postgres reports connection trouble: refused, reset,
    // closed, a connect or authentication failure. Its error kinds are private, so they
    // are told apart from client-side bugs (a value that does not encode or decode) by
    // their cause and by their fixed messages.
    let io_cause = std::error::Error::source(error)
        .is_some_and(|cause| cause.downcast_ref::<std::io::Error>().is_some());
    let text = error.to_string();
    let connection_trouble = error.is_closed()
        || io_cause
        || CONNECTION_ERRORS
            .iter()
            .any(|prefix| text.starts_with(prefix));
    connection_trouble.then(|| {
        let cause = std::error::Error::source(error)
            .map(|cause| format!(": {cause}"))
            .unwrap_or_default();
        format!("PostgreSQL at {server} is unreachable: {text}{cause}")
    })
}

/// tokio-postgres's messages for failures of the connection itself.
const CONNECTION_ERRORS: &[&str] = &[
    "error connecting to server",
    "error communicating with the server",
    "connection closed",
    "timeout waiting for server",
    "authentication error",
    "error performing TLS handshake",
];

/// What a server error class says about the server, when it means "try later".
fn server_condition(code: &SqlState) -> Option<&'static str> {
    let class = code.code().get(..2).unwrap_or("");
    Some(match class {
        "08" => "is unreachable",
        "53" => "is out of resources",
        "57" => match *code {
            SqlState::QUERY_CANCELED => "cancelled a statement (statement timeout?)",
            SqlState::ADMIN_SHUTDOWN => "ended the session (shutdown or administrator command)",
            SqlState::CRASH_SHUTDOWN => "is restarting after a crash",
            SqlState::CANNOT_CONNECT_NOW => "is starting up or shutting down",
            _ => "is not accepting work",
        },
        "58" => "has a system error",
        "28" => "rejected the credentials",
        "3D" => "has no such database",
        "25" if *code == SqlState::READ_ONLY_SQL_TRANSACTION => {
            "is read-only (a standby, or a failover is in progress)"
        }
        "40" => "aborted the transaction under contention; try again",
        "55" if *code == SqlState::LOCK_NOT_AVAILABLE => "could not take a lock in time",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_conditions_that_mean_try_later() {
        let cases = [
            (
                SqlState::ADMIN_SHUTDOWN,
                Some("ended the session (shutdown or administrator command)"),
            ),
            (
                SqlState::CANNOT_CONNECT_NOW,
                Some("is starting up or shutting down"),
            ),
            (SqlState::DISK_FULL, Some("is out of resources")),
            (SqlState::TOO_MANY_CONNECTIONS, Some("is out of resources")),
            (SqlState::OUT_OF_MEMORY, Some("is out of resources")),
            (SqlState::CONNECTION_FAILURE, Some("is unreachable")),
            (
                SqlState::T_R_DEADLOCK_DETECTED,
                Some("aborted the transaction under contention; try again"),
            ),
            (SqlState::INVALID_PASSWORD, Some("rejected the credentials")),
            (SqlState::UNIQUE_VIOLATION, None),
            (SqlState::SYNTAX_ERROR, None),
            (SqlState::UNDEFINED_TABLE, None),
        ];
        for (code, expected) in cases {
            assert_eq!(server_condition(&code), expected, "{}", code.code());
        }
    }

    #[test]
    fn foreign_keys_name_the_missing_record() {
        assert_eq!(missing_record("messages_app_id_fkey"), Some("application"));
        assert_eq!(missing_record("endpoints_app_id_fkey"), Some("application"));
        assert_eq!(
            missing_record("deliveries_endpoint_id_fkey"),
            Some("endpoint")
        );
        assert_eq!(missing_record("something_else"), None);
    }
}
