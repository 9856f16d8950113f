//! Retention on SQLite: expiring old payloads, attempt content and idempotency keys in
//! small batches, and expunging one message's content on request.
//!
//! **Invariants:**
//! - A batch is one statement that walks a partial index of what may still expire,
//!   oldest first, and stops at its limit; it runs as one writer command, so it holds
//!   the writer only for the few milliseconds a few hundred rows take, between
//!   publishes.
//! - A payload is never expired while its message has an unfinished delivery (one with
//!   `next_attempt_at` set); an expunge instead fails those deliveries, each with an
//!   attempt that says why, and clears their leases so a worker's late outcome cannot
//!   bring them back.

use hookd_core::ids::{ApplicationId, MessageId};
use hookd_core::model::{Attempt, MessageStatus};
use hookd_core::Timestamp;
use hookd_store::{payload_gone_attempt, ExpiryKind, StoreError, StoreResult};
use rusqlite::{params, Connection};

use crate::error::DbResultExt;
use crate::messages::insert_attempt;
use crate::rows::{delivery_from_row, millis, DELIVERY_COLUMNS, DELIVERY_WIDTH};

/// The statement that expires one batch of `kind`: `?1` is the cutoff (ms), `?2` the
/// limit. Each subquery walks the partial index the 0002 migration made for it.
pub(crate) fn expire_sql(kind: ExpiryKind) -> &'static str {
    match kind {
        // NOT EXISTS reads the (msg_id, endpoint_id) unique index of deliveries.
        ExpiryKind::MessagePayloads => {
            "UPDATE messages SET payload = '', source_headers = NULL WHERE id IN ( \
                 SELECT m.id FROM messages m \
                 WHERE m.created_at < ?1 AND m.payload <> '' \
                   AND NOT EXISTS (SELECT 1 FROM deliveries d \
                       WHERE d.msg_id = m.id AND d.next_attempt_at IS NOT NULL) \
                 ORDER BY m.created_at LIMIT ?2)"
        }
        ExpiryKind::AttemptContent => {
            "UPDATE attempts SET response = 'EXPUNGED', request_headers = '{}' WHERE id IN ( \
                 SELECT t.id FROM attempts t \
                 WHERE t.created_at < ?1 AND t.response <> 'EXPUNGED' \
                 ORDER BY t.created_at LIMIT ?2)"
        }
        ExpiryKind::IdempotencyKeys => {
            "DELETE FROM idempotency_keys WHERE key IN ( \
                 SELECT k.key FROM idempotency_keys k WHERE k.created_at < ?1 \
                 ORDER BY k.created_at LIMIT ?2)"
        }
    }
}

/// Expires up to `limit` records of `kind` created before `cutoff`; returns how many.
pub(crate) fn expire_batch(
    connection: &Connection,
    kind: ExpiryKind,
    cutoff: Timestamp,
    limit: usize,
) -> StoreResult<u64> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let changed = connection
        .prepare_cached(expire_sql(kind))
        .db()?
        .execute(params![millis(cutoff), limit])
        .db()?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// Empties the message's payload and its attempts' content, and fails its unfinished
/// deliveries with an attempt each; returns how many deliveries were stopped.
pub(crate) fn expunge_message_content(
    connection: &Connection,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    now: Timestamp,
) -> StoreResult<u64> {
    let found = connection
        .prepare_cached(
            "UPDATE messages SET payload = '', source_headers = NULL WHERE app_id = ?1 AND id = ?2",
        )
        .db()?
        .execute([app_id.as_str(), msg_id.as_str()])
        .db()?;
    if found == 0 {
        return Err(StoreError::NotFound("message"));
    }
    // Before the stop attempts are written, so that theirs stay readable.
    connection
        .prepare_cached(
            "UPDATE attempts SET response = ?2, request_headers = '{}' WHERE msg_id = ?1",
        )
        .db()?
        .execute([msg_id.as_str(), Attempt::EXPUNGED_RESPONSE])
        .db()?;

    let unfinished_sql = format!(
        "SELECT {DELIVERY_COLUMNS}, e.url FROM deliveries d \
         JOIN endpoints e ON e.id = d.endpoint_id \
         WHERE d.msg_id = ?1 AND d.next_attempt_at IS NOT NULL"
    );
    let unfinished = connection
        .prepare_cached(&unfinished_sql)
        .db()?
        .query_map([msg_id.as_str()], |row| {
            Ok((
                delivery_from_row(row, 0)?,
                row.get::<_, String>(DELIVERY_WIDTH)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut stop = connection
        .prepare_cached(
            "UPDATE deliveries SET status = ?2, next_attempt_at = NULL, lease_token = NULL, \
             lease_expires_at = NULL, updated_at = ?3 WHERE id = ?1",
        )
        .db()?;
    for (delivery, url) in &unfinished {
        stop.execute(params![
            delivery.id.as_str(),
            MessageStatus::Fail.code(),
            millis(now)
        ])
        .db()?;
        insert_attempt(connection, &payload_gone_attempt(delivery, url, now))?;
    }
    Ok(u64::try_from(unfinished.len()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::expire_sql;
    use crate::setup;
    use hookd_store::ExpiryKind;

    fn plan(connection: &Connection, sql: &str) -> Vec<String> {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap_or_else(|error| panic!("{error}: {sql}"));
        statement
            .query_map([1_i64, 500], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Every retention batch reads its candidates from an index in age order: no scan
    /// of a table, no sort.
    #[test]
    fn retention_batches_walk_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let connection = setup::open_writer(&dir.path().join("plans.db")).unwrap();
        let expected = [
            (ExpiryKind::MessagePayloads, "messages_payload_expiry"),
            (ExpiryKind::AttemptContent, "attempts_content_expiry"),
            (ExpiryKind::IdempotencyKeys, "idempotency_keys_by_created"),
        ];
        for (kind, index) in expected {
            let sql = expire_sql(kind);
            let plan = plan(&connection, sql);
            for step in &plan {
                let full_scan = step.starts_with("SCAN ") && !step.contains(" USING ");
                assert!(!full_scan, "full scan in {plan:?}\nfor {sql}");
                assert!(!step.contains("TEMP B-TREE"), "sort in {plan:?}\nfor {sql}");
            }
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{kind:?} does not use {index}: {plan:?}"
            );
            if kind == ExpiryKind::MessagePayloads {
                assert!(
                    plan.iter()
                        .any(|step| step.contains("sqlite_autoindex_deliveries")),
                    "the unfinished-delivery check reads an index: {plan:?}"
                );
            }
        }
    }
}
