//! Small key-value state: instance settings and stored idempotent responses.
//!
//! **Invariant:** the first response stored for an idempotency key is the one kept, and
//! `set_setting_if_absent` never overwrites; both rely on `ON CONFLICT DO NOTHING`, so
//! they hold across nodes without locks.

use hookd_core::Timestamp;
use hookd_store::{StoreResult, StoredResponse};

use crate::db::Db;
use crate::error::{internal, MachineryError};
use crate::rows::get;

pub(crate) async fn setting(db: &Db, key: &str) -> StoreResult<Option<String>> {
    let row = db
        .query_opt("SELECT value FROM settings WHERE key = $1", &[&key])
        .await?;
    row.map(|row| get(&row, 0)).transpose()
}

/// Returns whether the value was set (the key had none).
pub(crate) async fn set_setting_if_absent(db: &Db, key: &str, value: &str) -> StoreResult<bool> {
    let changed = db
        .execute(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )
        .await?;
    Ok(changed == 1)
}

pub(crate) async fn set_setting(db: &Db, key: &str, value: &str) -> StoreResult<()> {
    db.execute(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )
    .await?;
    Ok(())
}

pub(crate) async fn idempotent_response(
    db: &Db,
    key: &str,
    not_before: Timestamp,
) -> StoreResult<Option<StoredResponse>> {
    let row = db
        .query_opt(
            "SELECT status, body FROM idempotency_keys WHERE key = $1 AND created_at >= $2",
            &[&key, &not_before],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let status: i32 = get(&row, 0)?;
    Ok(Some(StoredResponse {
        status: u16::try_from(status).map_err(|_| {
            internal(MachineryError::OutOfRange {
                column: "idempotency_keys.status",
                value: status.into(),
            })
        })?,
        body: get(&row, 1)?,
    }))
}

pub(crate) async fn save_idempotent_response(
    db: &Db,
    key: &str,
    response: &StoredResponse,
    created_at: Timestamp,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO idempotency_keys (key, status, body, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
        &[
            &key,
            &i32::from(response.status),
            &response.body,
            &created_at,
        ],
    )
    .await?;
    Ok(())
}
