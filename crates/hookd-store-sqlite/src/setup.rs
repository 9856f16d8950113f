//! Opening the database: URL parsing, connection settings and schema migrations.
//!
//! **Invariant:** a connection handed out has foreign keys on and a busy timeout; the
//! writer's connection has put the file in WAL mode with `synchronous=FULL` and brought
//! the schema to [`SCHEMA_VERSION`] (recorded in `PRAGMA user_version`) before any reader
//! opens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookd_store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};

use crate::error::{map, unavailable, MachineryError};

/// Schema migrations in order; migration `n` (1-based) brings `user_version` to `n`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_retention.sql"),
    include_str!("../migrations/0003_sources.sql"),
    include_str!("../migrations/0004_send_slots.sql"),
    include_str!("../migrations/0005_streams.sql"),
    include_str!("../migrations/0006_bins.sql"),
    include_str!("../migrations/0007_inbound_by_message.sql"),
    include_str!("../migrations/0008_forwarded_headers.sql"),
    include_str!("../migrations/0009_stream_seq.sql"),
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a connection waits for another process's lock before giving up with
/// `Unavailable` (only `hookd migrate` or a second server can hold one).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The file path named by a `--database` value: `sqlite://relative.db`,
/// `sqlite:///absolute/path.db`, `sqlite:relative.db` or a bare path. A `?query` suffix
/// is ignored.
pub(crate) fn path_from_url(url: &str) -> StoreResult<PathBuf> {
    let rest = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(unavailable(MachineryError::NotSqliteUrl(url.to_owned())));
    } else {
        url
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err(unavailable(MachineryError::NotSqliteUrl(url.to_owned())));
    }
    Ok(PathBuf::from(path))
}

/// Prepared statements each connection keeps. The store prepares about 70 distinct
/// statements through `prepare_cached`; rusqlite's default of 16 made the hot ones evict
/// each other and be parsed again.
const STATEMENT_CACHE: usize = 128;

/// Opens (creating if missing) the database at `path` for writing, sets it up and
/// migrates it.
pub(crate) fn open_writer(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(|e| at_path(path, map(e)))?;
    configure_writer(&connection).map_err(|e| at_path(path, e))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    migrate(&connection).map_err(|e| at_path(path, e))?;
    Ok(connection)
}

/// Opens a read connection to the database at `path`, which the writer has set up.
pub(crate) fn open_reader(path: &Path) -> StoreResult<Connection> {
    // Read-write at the file level so the WAL index can be used, but `query_only`, so
    // nothing can write through it by mistake.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(|e| at_path(path, map(e)))?;
    let configure = || -> rusqlite::Result<()> {
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.pragma_update(None, "query_only", "ON")?;
        Ok(())
    };
    configure().map_err(|e| at_path(path, map(e)))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

/// Caps the database at `bytes` (rounded down to whole pages, at least one page more than
/// it holds now, so opening never fails on its own cap).
pub(crate) fn cap_size(connection: &Connection, bytes: u64) -> StoreResult<()> {
    let page_size: u64 = connection
        .pragma_query_value(None, "page_size", |row| row.get(0))
        .map_err(map)?;
    let pages_now: u64 = connection
        .pragma_query_value(None, "page_count", |row| row.get(0))
        .map_err(map)?;
    let pages = (bytes / page_size.max(1)).max(pages_now + 1);
    connection
        .pragma_update(None, "max_page_count", pages)
        .map_err(map)?;
    Ok(())
}

fn configure_writer(connection: &Connection) -> StoreResult<()> {
    connection.busy_timeout(BUSY_TIMEOUT).map_err(map)?;
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(map)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(unavailable(MachineryError::NotWal(mode)));
    }
    // FULL, not NORMAL: in WAL mode NORMAL skips the fsync at commit, so a power cut can
    // lose the last commits, and a 2xx must mean the message is on disk. Group commit
    // pays for the fsync once per batch instead of once per write.
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(map)?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(map)?;
    // Every write runs in its own SAVEPOINT (so one write's conflict does not undo the
    // batch); keep the savepoint journals in memory instead of spilling to temp files.
    connection
        .pragma_update(None, "temp_store", "MEMORY")
        .map_err(map)?;
    Ok(())
}

/// Applies every migration newer than the file's `user_version`, each in its own
/// transaction together with the version bump.
fn migrate(connection: &Connection) -> StoreResult<()> {
    let found: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(map)?;
    if found > SCHEMA_VERSION {
        return Err(unavailable(MachineryError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        }));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let version = index + 1;
        let script = format!("BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;");
        if let Err(error) = connection.execute_batch(&script) {
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            tracing::error!(%error, version, "sqlite migration failed");
            return Err(map(error));
        }
        tracing::info!(version, "sqlite schema migrated");
    }
    Ok(())
}

/// `error` with the database path appended to an `Unavailable` detail.
pub(crate) fn at_path(path: &Path, error: StoreError) -> StoreError {
    match error {
        StoreError::Unavailable { detail, source } => StoreError::Unavailable {
            detail: format!("{detail} ({})", path.display()),
            source,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::path_from_url;
    use std::path::PathBuf;

    #[test]
    fn database_urls() {
        let cases = [
            ("sqlite://hookd.db", "hookd.db"),
            ("sqlite://data/hookd.db", "data/hookd.db"),
            (
                "sqlite:///var/lib/hookd/hookd.db",
                "/var/lib/hookd/hookd.db",
            ),
            ("sqlite:hookd.db", "hookd.db"),
            ("sqlite://hookd.db?mode=rwc", "hookd.db"),
            ("hookd.db", "hookd.db"),
            ("/tmp/x.db", "/tmp/x.db"),
        ];
        for (url, expected) in cases {
            assert_eq!(
                path_from_url(url).unwrap(),
                PathBuf::from(expected),
                "{url}"
            );
        }
        for url in ["postgres://localhost/hookd", "sqlite://", ""] {
            assert!(path_from_url(url).is_err(), "{url} should be rejected");
        }
    }
}
