//! Retention on PostgreSQL: expiring old payloads, attempt content and idempotency keys
//! in small batches, and expunging one message's content on request.
//!
//! **Invariants:**
//! - A batch is one statement (one short transaction) that walks a partial index of
//!   what may still expire, oldest first, and stops at its limit. It locks its rows with
//!   `SKIP LOCKED`, so nodes running retention at once split the work instead of waiting
//!   for each other, and `FOR NO KEY UPDATE`, which does not conflict with key-share
//!   locks (a foreign-key check's): retention never makes a publish or an outcome wait.
//!   (Since migration 0010 deliveries and attempts check no key on their message at all.)
//! - A payload is never expired while its message has an unfinished delivery (status
//!   pending or sending); an expunge instead fails those deliveries, each with an attempt
//!   that says why, and clears their leases so a worker's late outcome cannot bring them
//!   back. The expunge is one transaction.

use hookd_core::ids::{ApplicationId, MessageId};
use hookd_core::model::{Attempt, MessageStatus};
use hookd_core::Timestamp;
use hookd_store::{payload_gone_attempt, ExpiryKind, StoreError, StoreResult};
use tokio_postgres::types::Json;

use crate::db::Db;
use crate::rows::{delivery_from_row, get, status_code, trigger_code, DELIVERY_COLUMNS};

/// The statement that expires one batch of `kind`: `$1` is the cutoff, `$2` the limit.
/// Each locking subquery walks the partial index the 0002 migration made for it and runs
/// once (an ARRAY of ids); the write then finds each row by its primary key.
pub(crate) fn expire_sql(kind: ExpiryKind) -> &'static str {
    match kind {
        // NOT EXISTS reads the (msg_id, endpoint_id) unique index of deliveries.
        ExpiryKind::MessagePayloads => {
            "UPDATE messages SET payload = '', source_headers = NULL WHERE id = ANY(ARRAY( \
                 SELECT m.id FROM messages m \
                 WHERE m.created_at < $1 AND m.payload <> '' \
                   AND NOT EXISTS (SELECT 1 FROM deliveries d \
                       WHERE d.msg_id = m.id AND d.status IN (1, 3)) \
                 ORDER BY m.created_at LIMIT $2 \
                 FOR NO KEY UPDATE OF m SKIP LOCKED))"
        }
        ExpiryKind::AttemptContent => {
            "UPDATE attempts SET response = 'EXPUNGED', request_headers = '{}'::jsonb \
             WHERE id = ANY(ARRAY( \
                 SELECT t.id FROM attempts t \
                 WHERE t.created_at < $1 AND t.response <> 'EXPUNGED' \
                 ORDER BY t.created_at LIMIT $2 \
                 FOR NO KEY UPDATE OF t SKIP LOCKED))"
        }
        ExpiryKind::IdempotencyKeys => {
            "DELETE FROM idempotency_keys WHERE key = ANY(ARRAY( \
                 SELECT k.key FROM idempotency_keys k WHERE k.created_at < $1 \
                 ORDER BY k.created_at LIMIT $2 \
                 FOR UPDATE OF k SKIP LOCKED))"
        }
    }
}

/// Expires up to `limit` records of `kind` created before `cutoff`; returns how many.
pub(crate) async fn expire_batch(
    db: &Db,
    kind: ExpiryKind,
    cutoff: Timestamp,
    limit: usize,
) -> StoreResult<u64> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    db.execute(expire_sql(kind), &[&cutoff, &limit]).await
}

/// Empties the message's payload and its attempts' content, and fails its unfinished
/// deliveries with an attempt each, in one transaction; returns how many deliveries
/// were stopped.
pub(crate) async fn expunge_message_content(
    db: &Db,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    now: Timestamp,
) -> StoreResult<u64> {
    let mut client = db.client().await?;
    let map = |error| db.error(error);
    let transaction = client.transaction().await.map_err(map)?;
    let found = transaction
        .execute(
            "UPDATE messages SET payload = '', source_headers = NULL WHERE app_id = $1 AND id = $2",
            &[&app_id.as_str(), &msg_id.as_str()],
        )
        .await
        .map_err(map)?;
    if found == 0 {
        return Err(StoreError::NotFound("message"));
    }
    // Before the stop attempts are written, so that theirs stay readable.
    transaction
        .execute(
            "UPDATE attempts SET response = $2, request_headers = '{}'::jsonb \
             WHERE msg_id = $1",
            &[&msg_id.as_str(), &Attempt::EXPUNGED_RESPONSE],
        )
        .await
        .map_err(map)?;
    let stop_sql = format!(
        "WITH stopped AS ( \
             UPDATE deliveries d SET status = {fail}, next_attempt_at = NULL, \
                 lease_token = NULL, lease_expires_at = NULL, updated_at = $2 \
             WHERE d.msg_id = $1 AND d.status IN (1, 3) \
             RETURNING {DELIVERY_COLUMNS} \
         ) \
         SELECT stopped.*, e.url FROM stopped JOIN endpoints e ON e.id = stopped.endpoint_id",
        fail = status_code(MessageStatus::Fail),
    );
    let stopped = transaction
        .query(&stop_sql, &[&msg_id.as_str(), &now])
        .await
        .map_err(map)?;
    let insert = transaction
        .prepare(
            "INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, \
                 response_status_code, response, response_duration_ms, trigger_type, \
                 request_headers, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .await
        .map_err(map)?;
    for row in &stopped {
        let delivery = delivery_from_row(row)?;
        let url: String = get(row, 10)?;
        let attempt = payload_gone_attempt(&delivery, &url, now);
        transaction
            .execute(
                &insert,
                &[
                    &attempt.id.as_str(),
                    &attempt.app_id.as_str(),
                    &attempt.msg_id.as_str(),
                    &attempt.endpoint_id.as_str(),
                    &attempt.url,
                    &status_code(attempt.status),
                    &i32::from(attempt.response_status_code),
                    &attempt.response,
                    &0_i64,
                    &trigger_code(attempt.trigger),
                    &Json(&attempt.request_headers),
                    &attempt.created_at,
                ],
            )
            .await
            .map_err(map)?;
    }
    transaction.commit().await.map_err(map)?;
    Ok(u64::try_from(stopped.len()).unwrap_or(u64::MAX))
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use hookd_store::conformance::fixtures;
    use hookd_store::ExpiryKind;

    use super::expire_sql;
    use crate::testing;

    /// Every retention batch reads its candidates from an index in age order: with
    /// sequential scans and sorts priced out, neither appears, and the expected index
    /// does. Runs only with `HOOKD_TEST_PG_URL` set.
    #[tokio::test]
    async fn retention_batches_walk_an_index() {
        let Some((store, _database)) = testing::fresh_store().await else {
            return;
        };
        let client = store.db.client().await.unwrap();
        client
            .batch_execute("SET enable_seqscan = off; SET enable_sort = off")
            .await
            .unwrap();
        let cutoff = fixtures::now();
        let limit: i64 = 500;
        let expected = [
            (
                ExpiryKind::MessagePayloads,
                "messages_payload_expiry",
                "messages_pkey",
            ),
            (
                ExpiryKind::AttemptContent,
                "attempts_content_expiry",
                "attempts_pkey",
            ),
            (
                ExpiryKind::IdempotencyKeys,
                "idempotency_keys_by_created",
                "idempotency_keys_pkey",
            ),
        ];
        for (kind, index, primary_key) in expected {
            let sql = expire_sql(kind);
            let plan: Vec<String> = client
                .query(&format!("EXPLAIN {sql}"), &[&cutoff, &limit])
                .await
                .unwrap_or_else(|error| panic!("EXPLAIN {sql}: {error:?}"))
                .iter()
                .map(|row| row.get(0))
                .collect();
            let plan = plan.join("\n");
            assert!(
                !plan.contains("Seq Scan") && !plan.contains("Sort"),
                "{sql}\nis not served by an index in order:\n{plan}"
            );
            assert!(
                plan.contains(index),
                "{kind:?} does not use {index}:\n{plan}"
            );
            assert!(
                plan.contains(&format!("Index Scan on {primary_key}"))
                    || plan.contains(&format!("Index Scan using {primary_key}")),
                "{kind:?} does not write through {primary_key}:\n{plan}"
            );
            if kind == ExpiryKind::MessagePayloads {
                // By message (the unique key), or through the queue's own index of
                // unfinished deliveries: the planner's choice, both indexed.
                assert!(
                    plan.contains("deliveries_msg_endpoint_key") || plan.contains("deliveries_due"),
                    "the unfinished-delivery check reads an index:\n{plan}"
                );
            }
        }
    }
}
