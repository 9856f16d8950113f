//! Small key-value state: instance settings and stored idempotent responses.
//!
//! **Invariant:** the first response stored for an idempotency key is the one kept;
//! `set_setting_if_absent` never overwrites.

use hookd_core::Timestamp;
use hookd_store::{StoreResult, StoredResponse};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::DbResultExt;
use crate::rows::millis;

pub(crate) fn setting(connection: &Connection, key: &str) -> StoreResult<Option<String>> {
    connection
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")
        .db()?
        .query_row([key], |row| row.get(0))
        .optional()
        .db()
}

/// Returns whether the value was set (the key had none).
pub(crate) fn set_setting_if_absent(
    connection: &Connection,
    key: &str,
    value: &str,
) -> StoreResult<bool> {
    let changed = connection
        .prepare_cached(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        )
        .db()?
        .execute([key, value])
        .db()?;
    Ok(changed == 1)
}

pub(crate) fn set_setting(connection: &Connection, key: &str, value: &str) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .db()?
        .execute([key, value])
        .db()?;
    Ok(())
}

pub(crate) fn idempotent_response(
    connection: &Connection,
    key: &str,
    not_before: Timestamp,
) -> StoreResult<Option<StoredResponse>> {
    connection
        .prepare_cached(
            "SELECT status, body FROM idempotency_keys WHERE key = ?1 AND created_at >= ?2",
        )
        .db()?
        .query_row(params![key, millis(not_before)], |row| {
            Ok(StoredResponse {
                status: row.get(0)?,
                body: row.get(1)?,
            })
        })
        .optional()
        .db()
}

pub(crate) fn save_idempotent_response(
    connection: &Connection,
    key: &str,
    response: &StoredResponse,
    created_at: Timestamp,
) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO idempotency_keys (key, status, body, created_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO NOTHING",
        )
        .db()?
        .execute(params![
            key,
            response.status,
            response.body,
            millis(created_at)
        ])
        .db()?;
    Ok(())
}
