//! Replaying to an endpoint what it never got: the messages of its application, in a time
//! window, that it accepts and that have no delivery to it (an endpoint made after them,
//! or whose filters changed), each given a manual delivery due now.
//!
//! **Invariant:** one call is one writer command that looks at a bounded number of
//! messages, so a replay over a long window never holds the writer for long; a message
//! that already has a delivery to the endpoint is never touched.

use hookd_core::ids::{ApplicationId, EndpointId, MessageId};
use hookd_core::model::{MessageStatus, TriggerType};
use hookd_core::Timestamp;
use hookd_store::{endpoint_accepts_message, ReplayBatch, StoreResult, TimeWindow};
use rusqlite::{params, Connection};

use crate::applications;
use crate::error::DbResultExt;
use crate::messages::new_delivery_id;
use crate::rows::{message_from_row, millis, opt_millis, MESSAGE_COLUMNS};

pub(crate) fn replay_missing(
    connection: &Connection,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    window: &TimeWindow,
    after: Option<&MessageId>,
    scan: usize,
    now: Timestamp,
) -> StoreResult<ReplayBatch> {
    let endpoint = applications::endpoint(connection, app_id, endpoint_id.as_str())?;
    let candidates_sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m \
         WHERE m.app_id = ?1 AND m.id > ?2 AND m.payload <> '' \
           AND (?3 IS NULL OR m.created_at >= ?3) AND (?4 IS NULL OR m.created_at < ?4) \
           AND NOT EXISTS (SELECT 1 FROM deliveries d \
                           WHERE d.msg_id = m.id AND d.endpoint_id = ?5) \
         ORDER BY m.id LIMIT ?6"
    );
    let candidates = connection
        .prepare_cached(&candidates_sql)
        .db()?
        .query_map(
            params![
                app_id.as_str(),
                after.map_or("", MessageId::as_str),
                opt_millis(window.since),
                opt_millis(window.until),
                endpoint.id.as_str(),
                i64::try_from(scan).unwrap_or(i64::MAX),
            ],
            |row| message_from_row(row, 0),
        )
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, n_attempts, \
             trigger_type, next_attempt_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?7, ?7)",
        )
        .db()?;
    let mut replayed = 0;
    for message in candidates
        .iter()
        .filter(|message| endpoint_accepts_message(&endpoint, message))
    {
        insert
            .execute(params![
                new_delivery_id(now).as_str(),
                app_id.as_str(),
                message.id.as_str(),
                endpoint.id.as_str(),
                MessageStatus::Pending.code(),
                TriggerType::Manual.code(),
                millis(now),
            ])
            .db()?;
        replayed += 1;
    }
    let next = (candidates.len() == scan)
        .then(|| candidates.last().map(|message| message.id.clone()))
        .flatten();
    Ok(ReplayBatch { replayed, next })
}
