//! Turning SQLite failures into [`StoreError`]s a caller can act on.
//!
//! **Invariant:** every SQLite error becomes a `StoreError` with the original error kept
//! as its source: resource trouble (disk full, I/O, locked, read-only) is `Unavailable`,
//! a unique clash is `Conflict` (named by the operation that knows what clashed), and
//! anything else is `Internal`. Nothing here panics.

use std::sync::Arc;

use hookd_store::StoreError;
use rusqlite::ErrorCode;

/// Why a write that succeeded on its own was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum BatchError {
    /// `BEGIN`, `SAVEPOINT` or `COMMIT` of the batch failed.
    #[error("the write batch could not be committed")]
    Commit(#[source] Arc<rusqlite::Error>),
    /// Another write of the same batch failed in a way that rolled back the whole
    /// transaction (SQLite does that on, for example, a full disk).
    #[error("the write was rolled back with its batch after another write failed")]
    RolledBack,
}

/// Failures of the store's own machinery rather than of SQLite.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MachineryError {
    #[error("the database writer thread has stopped")]
    WriterStopped,
    #[error("the write was dropped without an answer (the writer hit a bug)")]
    WriteDropped,
    #[error("the read connection pool is closed")]
    ReadersClosed,
    #[error("a stored value could not be encoded as JSON")]
    Encode(#[source] serde_json::Error),
    #[error("unsupported database URL {0:?}: expected sqlite://relative.db, sqlite:///absolute.db or a file path")]
    NotSqliteUrl(String),
    #[error("the database schema is version {found}, newer than the {supported} this hookd knows; upgrade hookd")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("journal_mode is {0:?} instead of WAL")]
    NotWal(String),
    #[error("settings.stream_seq_reserved is {0:?}, not a number")]
    BadStreamReservation(String),
}

/// Maps any SQLite error to a `StoreError`, keeping it as the source.
pub(crate) fn map(error: rusqlite::Error) -> StoreError {
    match unavailable_detail(&error) {
        Some(detail) => StoreError::Unavailable {
            detail: detail.to_owned(),
            source: Some(Box::new(error)),
        },
        None => StoreError::internal(error),
    }
}

/// Maps a batch failure to the `StoreError` each caller of the batch receives.
pub(crate) fn map_batch(error: BatchError) -> StoreError {
    let detail = match &error {
        BatchError::Commit(cause) => unavailable_detail(cause).unwrap_or("commit failed"),
        BatchError::RolledBack => "the write was rolled back; try again",
    };
    StoreError::Unavailable {
        detail: detail.to_owned(),
        source: Some(Box::new(error)),
    }
}

/// A store-machinery failure as `Unavailable` (the caller should try later).
pub(crate) fn unavailable(error: MachineryError) -> StoreError {
    StoreError::Unavailable {
        detail: error.to_string(),
        source: Some(Box::new(error)),
    }
}

/// The columns named by a unique-constraint failure (`"applications.uid"`), or `None`
/// when `error` is anything else.
pub(crate) fn unique_violation(error: &rusqlite::Error) -> Option<&str> {
    match error {
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.code == ErrorCode::ConstraintViolation
                && matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
        {
            Some(message.as_deref().unwrap_or(""))
        }
        _ => None,
    }
}

/// A clear sentence for the SQLite errors that mean "cannot take work now".
fn unavailable_detail(error: &rusqlite::Error) -> Option<&'static str> {
    let rusqlite::Error::SqliteFailure(failure, _) = error else {
        return None;
    };
    Some(match failure.code {
        ErrorCode::DiskFull => "disk full",
        ErrorCode::SystemIoFailure => "disk I/O error",
        ErrorCode::CannotOpen => "cannot open the database file",
        ErrorCode::ReadOnly => "the database is read-only",
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            "the database is locked by another process"
        }
        ErrorCode::OutOfMemory => "out of memory",
        ErrorCode::NotADatabase => "the file is not a SQLite database",
        ErrorCode::PermissionDenied => "permission denied",
        _ => return None,
    })
}

/// `?`-friendly mapping of SQLite results inside store operations.
pub(crate) trait DbResultExt<T> {
    /// Maps the error with [`map`].
    fn db(self) -> Result<T, StoreError>;
}

impl<T> DbResultExt<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn resource_errors_are_unavailable_with_a_clear_detail() {
        let cases = [
            (rusqlite::ffi::SQLITE_FULL, "disk full"),
            (rusqlite::ffi::SQLITE_IOERR, "disk I/O error"),
            (
                rusqlite::ffi::SQLITE_CANTOPEN,
                "cannot open the database file",
            ),
            (rusqlite::ffi::SQLITE_READONLY, "the database is read-only"),
            (
                rusqlite::ffi::SQLITE_BUSY,
                "the database is locked by another process",
            ),
        ];
        for (code, expected) in cases {
            match map(failure(code)) {
                StoreError::Unavailable { detail, source } => {
                    assert_eq!(detail, expected);
                    assert!(source.is_some(), "the SQLite error is kept as the source");
                }
                other => panic!("code {code}: expected Unavailable, got {other:?}"),
            }
        }
        assert!(matches!(
            map(failure(rusqlite::ffi::SQLITE_CORRUPT)),
            StoreError::Internal(_)
        ));
    }

    #[test]
    fn a_failed_commit_is_unavailable_and_keeps_its_cause() {
        let error = BatchError::Commit(Arc::new(failure(rusqlite::ffi::SQLITE_FULL)));
        match map_batch(error) {
            StoreError::Unavailable { detail, source } => {
                assert_eq!(detail, "disk full");
                let source = source.expect("source kept");
                let cause = std::error::Error::source(source.as_ref()).expect("cause kept");
                assert!(cause.to_string().contains("full"), "{cause}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
