//! Schema migrations: the SQL files in `migrations/`, embedded in the binary and applied
//! when a store connects.
//!
//! **Invariant:** migrations run inside one transaction that first takes a
//! transaction-scoped advisory lock, so any number of nodes may start at once: one
//! applies what is missing, the others wait for it and then find nothing to do. Each
//! applied version is a row of `hookd_schema_migrations`, written in the same
//! transaction as the migration itself, so a migration is applied fully or not at all.
//! A database with a version this build does not know is refused, never downgraded.

use std::collections::BTreeSet;

use hookd_store::StoreResult;

use crate::error::{self, unavailable, MachineryError};

/// One schema change.
pub(crate) struct Migration {
    /// The `NNNN` of `migrations/NNNN_name.sql`.
    pub(crate) version: i32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, in order. N.B.: they run inside a transaction, so a migration cannot
/// use statements that refuse one (`CREATE INDEX CONCURRENTLY`, `VACUUM`).
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "retention",
        sql: include_str!("../migrations/0002_retention.sql"),
    },
    Migration {
        version: 3,
        name: "sources",
        sql: include_str!("../migrations/0003_sources.sql"),
    },
    Migration {
        version: 4,
        name: "send_slots",
        sql: include_str!("../migrations/0004_send_slots.sql"),
    },
    Migration {
        version: 5,
        name: "streams",
        sql: include_str!("../migrations/0005_streams.sql"),
    },
    Migration {
        version: 6,
        name: "bins",
        sql: include_str!("../migrations/0006_bins.sql"),
    },
    Migration {
        version: 7,
        name: "inbound_by_message",
        sql: include_str!("../migrations/0007_inbound_by_message.sql"),
    },
    Migration {
        version: 8,
        name: "forwarded_headers",
        sql: include_str!("../migrations/0008_forwarded_headers.sql"),
    },
    Migration {
        version: 9,
        name: "attempts_by_app",
        sql: include_str!("../migrations/0009_attempts_by_app.sql"),
    },
    Migration {
        version: 10,
        name: "fewer_foreign_keys",
        sql: include_str!("../migrations/0010_fewer_foreign_keys.sql"),
    },
    Migration {
        version: 11,
        name: "event_id_partial",
        sql: include_str!("../migrations/0011_event_id_partial.sql"),
    },
];

/// The advisory lock key that serialises migrations across nodes ("hookd" in ASCII,
/// then 1): any constant works as long as every hookd uses the same one.
const MIGRATION_LOCK: i64 = 0x686f_6f6b_6400_0001;

/// Applies every migration the database lacks; returns the versions applied now.
///
/// # Errors
/// `Unavailable` when the server fails or the schema is newer than this build knows.
pub(crate) async fn migrate(
    client: &mut tokio_postgres::Client,
    server: &str,
) -> StoreResult<Vec<i32>> {
    let map = |error| error::map(server, error);
    let transaction = client.transaction().await.map_err(map)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(map)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS hookd_schema_migrations ( \
                 version    integer PRIMARY KEY, \
                 name       text NOT NULL, \
                 applied_at timestamptz NOT NULL DEFAULT now() \
             )",
        )
        .await
        .map_err(map)?;
    let applied: BTreeSet<i32> = transaction
        .query("SELECT version FROM hookd_schema_migrations", &[])
        .await
        .map_err(map)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(map)?;

    let supported = MIGRATIONS.last().map_or(0, |migration| migration.version);
    if let Some(&found) = applied.last() {
        if found > supported {
            return Err(unavailable(MachineryError::SchemaTooNew {
                found,
                supported,
            }));
        }
    }
    let mut applied_now = Vec::new();
    for migration in MIGRATIONS {
        if applied.contains(&migration.version) {
            continue;
        }
        transaction
            .batch_execute(migration.sql)
            .await
            .map_err(map)?;
        transaction
            .execute(
                "INSERT INTO hookd_schema_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await
            .map_err(map)?;
        applied_now.push(migration.version);
    }
    transaction.commit().await.map_err(map)?;
    if !applied_now.is_empty() {
        tracing::info!(server, versions = ?applied_now, "applied PostgreSQL schema migrations");
    }
    Ok(applied_now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions start at 1 and only go up. A gap is allowed: numbers are handed out to
    /// changes made in parallel, so one may land before a lower-numbered one; the runner
    /// applies whatever versions a database lacks.
    #[test]
    fn versions_increase_from_one() {
        assert_eq!(
            MIGRATIONS.first().map(|migration| migration.version),
            Some(1)
        );
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version, "{}", pair[1].name);
        }
        for migration in MIGRATIONS {
            assert!(!migration.name.is_empty() && !migration.sql.trim().is_empty());
        }
    }
}
