//! The delivery queue: claiming due deliveries under a lease, recording outcomes,
//! releases, manual runs (resend, recover) and the counts built on deliveries.
//!
//! **Invariants:**
//! - `next_attempt_at` is set exactly while a delivery is unfinished (Pending or
//!   Sending); the partial index on it is the queue.
//! - A delivery changes only under its current lease token: a claim issues a fresh
//!   random token, and an outcome or release carrying any other token touches nothing
//!   but the attempt log. Resend and recover clear the token, taking the delivery back.
//! - Every function that writes here runs on the single writer, so a claim's select and
//!   lease update cannot interleave with another claim.

use std::time::Duration;

use hookd_core::ids::{ApplicationId, DeliveryId, EndpointId, MessageId};
use hookd_core::model::{Delivery, MessageStatus, TriggerType};
use hookd_core::Timestamp;
use hookd_store::{
    DeliveryOutcome, EndpointHealth, EndpointStats, Lease, OutcomeRecord, QueueDepth, StoreError,
    StoreResult, TimeWindow,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::applications::require_endpoint;
use crate::error::DbResultExt;
use crate::messages::{insert_attempt, new_delivery_id};
use crate::rows::{
    delivery_from_row, endpoint_from_row, message_from_row, millis, opt_millis, opt_timestamp,
    DELIVERY_COLUMNS, DELIVERY_WIDTH, ENDPOINT_COLUMNS, MESSAGE_COLUMNS, MESSAGE_WIDTH,
};

const PENDING: i64 = MessageStatus::Pending as i64;
const SENDING: i64 = MessageStatus::Sending as i64;
const FAIL: i64 = MessageStatus::Fail as i64;

/// The claim query: due, unfinished, unleased (or lease expired), oldest due first. It
/// walks the `deliveries_due` partial index in order.
pub(crate) fn claim_sql() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS}, {MESSAGE_COLUMNS}, {ENDPOINT_COLUMNS} \
         FROM deliveries d \
         JOIN messages m ON m.id = d.msg_id \
         JOIN endpoints e ON e.id = d.endpoint_id \
         WHERE d.next_attempt_at <= ?1 \
           AND d.status IN ({PENDING}, {SENDING}) \
           AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ?1) \
         ORDER BY d.next_attempt_at, d.id \
         LIMIT ?2"
    )
}

/// Reads up to `limit` due, unleased deliveries with their messages and endpoints: the
/// candidates of a claim. Runs on a reader, so the join never occupies the writer; the
/// candidates are only leased by [`lease_candidates`], which re-checks each one.
pub(crate) fn claim_candidates(
    connection: &Connection,
    now: Timestamp,
    limit: usize,
) -> StoreResult<
    Vec<(
        Delivery,
        hookd_core::model::Message,
        hookd_core::model::Endpoint,
    )>,
> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut select = connection.prepare_cached(&claim_sql()).db()?;
    let due = select
        .query_map(params![millis(now), limit], |row| {
            let delivery = delivery_from_row(row, 0)?;
            let message = message_from_row(row, DELIVERY_WIDTH)?;
            let endpoint = endpoint_from_row(row, DELIVERY_WIDTH + MESSAGE_WIDTH)?;
            Ok((delivery, message, endpoint))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    Ok(due)
}

/// Leases each candidate that is still due and unleased at `now`, until `now + lease`.
///
/// A candidate read from a snapshot may have been claimed, finished or rescheduled since;
/// the conditional update skips it, so the writer's serial order alone decides who holds
/// a lease. Returns each candidate's lease token, in order, `None` where it was skipped.
pub(crate) fn lease_candidates(
    connection: &Connection,
    candidates: &[DeliveryId],
    now: Timestamp,
    lease: Duration,
) -> StoreResult<Vec<Option<String>>> {
    let now_ms = millis(now);
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let expires_at = now_ms.saturating_add(lease_ms);
    let mut take = connection
        .prepare_cached(&format!(
            "UPDATE deliveries SET lease_token = ?2, lease_expires_at = ?3, next_attempt_at = ?3 \
             WHERE id = ?1 AND next_attempt_at <= ?4 AND status IN ({PENDING}, {SENDING}) \
               AND (lease_expires_at IS NULL OR lease_expires_at <= ?4)"
        ))
        .db()?;
    let mut tokens = Vec::with_capacity(candidates.len());
    for delivery_id in candidates {
        let token = new_lease_token();
        let taken = take
            .execute(params![delivery_id.as_str(), token, expires_at, now_ms])
            .db()?;
        tokens.push((taken > 0).then_some(token));
    }
    Ok(tokens)
}

/// Records one outcome; returns whether the lease was still held.
///
/// The common case (the lease is still held, the endpoint's health unchanged) is one
/// conditional update plus the attempt insert. Only a change of the endpoint's health
/// reads which endpoint the delivery belongs to, and only a lost lease pays a second look
/// to learn whether the delivery still exists to attach the attempt to.
pub(crate) fn record_outcome(connection: &Connection, record: &OutcomeRecord) -> StoreResult<bool> {
    let (status, next_attempt_at) = match &record.delivery {
        DeliveryOutcome::Succeeded => (MessageStatus::Success, None),
        DeliveryOutcome::RetryAt(due_at) => (MessageStatus::Sending, Some(*due_at)),
        DeliveryOutcome::Failed => (MessageStatus::Fail, None),
    };
    // N.B.: no RETURNING here. SQLite runs RETURNING as a trigger, and a statement with a
    // trigger copies every page it changes into a statement journal.
    let held = connection
        .prepare_cached(
            "UPDATE deliveries SET status = ?3, next_attempt_at = ?4, \
             n_attempts = n_attempts + ?5, lease_token = NULL, lease_expires_at = NULL, \
             updated_at = ?6 WHERE id = ?1 AND lease_token = ?2",
        )
        .db()?
        .execute(params![
            record.lease.delivery_id.as_str(),
            record.lease.token,
            status.code(),
            opt_millis(next_attempt_at),
            i64::from(record.attempt.is_some()),
            millis(record.now),
        ])
        .db()?
        > 0;
    if !held {
        // The lease was lost (expired and re-claimed, or taken back by a resend). The
        // attempt still happened and is logged, unless its delivery is gone with its
        // message or endpoint and there is nothing left to attach it to.
        let exists = connection
            .prepare_cached("SELECT 1 FROM deliveries WHERE id = ?1")
            .db()?
            .exists([record.lease.delivery_id.as_str()])
            .db()?;
        if exists {
            if let Some(attempt) = &record.attempt {
                insert_attempt(connection, attempt)?;
            }
        }
        return Ok(false);
    };
    if let Some(attempt) = &record.attempt {
        insert_attempt(connection, attempt)?;
    }
    if record.endpoint_health != EndpointHealth::Unchanged {
        let (app_id, endpoint_id): (String, String) = connection
            .prepare_cached("SELECT app_id, endpoint_id FROM deliveries WHERE id = ?1")
            .db()?
            .query_row([record.lease.delivery_id.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .db()?;
        apply_endpoint_health(connection, &app_id, &endpoint_id, &record.endpoint_health)?;
    }
    Ok(true)
}

fn apply_endpoint_health(
    connection: &Connection,
    app_id: &str,
    endpoint_id: &str,
    health: &EndpointHealth,
) -> StoreResult<()> {
    let scope = "WHERE app_id = ?1 AND id = ?2";
    let changed = match health {
        EndpointHealth::Unchanged => return Ok(()),
        // Both updates skip a row already in the wanted state, so the common case (a
        // success on a healthy endpoint) writes nothing.
        EndpointHealth::Healthy => connection
            .prepare_cached(&format!(
                "UPDATE endpoints SET failing_since = NULL {scope} AND failing_since IS NOT NULL"
            ))
            .db()?
            .execute([app_id, endpoint_id]),
        EndpointHealth::Failing(at) => connection
            .prepare_cached(&format!(
                "UPDATE endpoints SET failing_since = ?3 {scope} AND failing_since IS NULL"
            ))
            .db()?
            .execute(params![app_id, endpoint_id, millis(*at)]),
        EndpointHealth::Disable => connection
            .prepare_cached(&format!("UPDATE endpoints SET disabled = 1 {scope}"))
            .db()?
            .execute([app_id, endpoint_id]),
    };
    changed.db()?;
    Ok(())
}

/// Gives a leased delivery back, due at `due_at`; ignored unless the lease is current.
pub(crate) fn release_delivery(
    connection: &Connection,
    lease: &Lease,
    due_at: Timestamp,
) -> StoreResult<()> {
    connection
        .prepare_cached(&format!(
            "UPDATE deliveries SET next_attempt_at = ?3, lease_token = NULL, \
             lease_expires_at = NULL \
             WHERE id = ?1 AND lease_token = ?2 AND status IN ({PENDING}, {SENDING})"
        ))
        .db()?
        .execute(params![
            lease.delivery_id.as_str(),
            lease.token,
            millis(due_at)
        ])
        .db()?;
    Ok(())
}

/// Starts a manual run of one message to one endpoint, creating the delivery if needed.
pub(crate) fn resend(
    connection: &Connection,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    endpoint_id: &EndpointId,
    now: Timestamp,
) -> StoreResult<()> {
    let message_exists = connection
        .prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND app_id = ?2")
        .db()?
        .exists([msg_id.as_str(), app_id.as_str()])
        .db()?;
    if !message_exists {
        return Err(StoreError::NotFound("message"));
    }
    require_endpoint(connection, app_id, endpoint_id)?;
    connection
        .prepare_cached(
            "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, n_attempts, \
             trigger_type, next_attempt_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?7, ?7) \
             ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = excluded.status, \
             n_attempts = 0, trigger_type = excluded.trigger_type, \
             next_attempt_at = excluded.next_attempt_at, lease_token = NULL, \
             lease_expires_at = NULL, updated_at = excluded.updated_at",
        )
        .db()?
        .execute(params![
            new_delivery_id(now).as_str(),
            app_id.as_str(),
            msg_id.as_str(),
            endpoint_id.as_str(),
            PENDING,
            TriggerType::Manual.code(),
            millis(now),
        ])
        .db()?;
    Ok(())
}

/// Makes the endpoint's failed deliveries whose message was created in `window` due at
/// `now` as manual runs; returns how many.
pub(crate) fn recover_endpoint(
    connection: &Connection,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    window: &TimeWindow,
    now: Timestamp,
) -> StoreResult<u64> {
    require_endpoint(connection, app_id, endpoint_id)?;
    let changed = connection
        .prepare_cached(&format!(
            "UPDATE deliveries SET status = {PENDING}, n_attempts = 0, trigger_type = ?2, \
             next_attempt_at = ?3, lease_token = NULL, lease_expires_at = NULL, updated_at = ?3 \
             WHERE endpoint_id = ?1 AND status = {FAIL} AND EXISTS ( \
                 SELECT 1 FROM messages m WHERE m.id = deliveries.msg_id AND m.payload <> '' \
                 AND (?4 IS NULL OR m.created_at >= ?4) AND (?5 IS NULL OR m.created_at < ?5))"
        ))
        .db()?
        .execute(params![
            endpoint_id.as_str(),
            TriggerType::Manual.code(),
            millis(now),
            opt_millis(window.since),
            opt_millis(window.until),
        ])
        .db()?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

pub(crate) fn delivery(
    connection: &Connection,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    endpoint_id: &EndpointId,
) -> StoreResult<Delivery> {
    connection
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d \
             WHERE d.msg_id = ?1 AND d.endpoint_id = ?2 AND d.app_id = ?3"
        ))
        .db()?
        .query_row(
            [msg_id.as_str(), endpoint_id.as_str(), app_id.as_str()],
            |row| delivery_from_row(row, 0),
        )
        .optional()
        .db()?
        .ok_or(StoreError::NotFound("delivery"))
}

/// The queue-depth query; it reads only the `deliveries_due` partial index.
pub(crate) const QUEUE_DEPTH_SQL: &str = "SELECT count(*) FILTER (WHERE next_attempt_at <= ?1), \
     count(*) FROM deliveries WHERE next_attempt_at IS NOT NULL";

pub(crate) fn queue_depth(connection: &Connection, now: Timestamp) -> StoreResult<QueueDepth> {
    let (due, pending): (i64, i64) = connection
        .prepare_cached(QUEUE_DEPTH_SQL)
        .db()?
        .query_row([millis(now)], |row| Ok((row.get(0)?, row.get(1)?)))
        .db()?;
    Ok(QueueDepth {
        due: u64::try_from(due).unwrap_or(0),
        pending: u64::try_from(pending).unwrap_or(0),
    })
}

/// The endpoint-stats query, served by `deliveries_by_endpoint`.
pub(crate) const ENDPOINT_STATS_SQL: &str = "SELECT status, count(*) FROM deliveries \
     WHERE endpoint_id = ?1 AND (?2 IS NULL OR created_at >= ?2) \
     AND (?3 IS NULL OR created_at < ?3) GROUP BY status";

pub(crate) fn endpoint_stats(
    connection: &Connection,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    window: &TimeWindow,
) -> StoreResult<EndpointStats> {
    require_endpoint(connection, app_id, endpoint_id)?;
    let mut statement = connection.prepare_cached(ENDPOINT_STATS_SQL).db()?;
    let counts = statement
        .query_map(
            params![
                endpoint_id.as_str(),
                opt_millis(window.since),
                opt_millis(window.until)
            ],
            |row| Ok((crate::rows::status(row, 0)?, row.get::<_, i64>(1)?)),
        )
        .db()?;
    let mut stats = EndpointStats::default();
    for count in counts {
        let (status, count) = count.db()?;
        let count = u64::try_from(count).unwrap_or(0);
        match status {
            MessageStatus::Success => stats.success = count,
            MessageStatus::Pending => stats.pending = count,
            MessageStatus::Sending => stats.sending = count,
            MessageStatus::Fail => stats.fail = count,
            MessageStatus::Canceled => stats.canceled = count,
        }
    }
    Ok(stats)
}

/// When the lease on a delivery expires; `None` when unleased or the delivery is gone.
pub(crate) fn lease_of(
    connection: &Connection,
    delivery_id: &DeliveryId,
) -> StoreResult<Option<Timestamp>> {
    let expires: Option<Option<Timestamp>> = connection
        .prepare_cached("SELECT lease_expires_at FROM deliveries WHERE id = ?1")
        .db()?
        .query_row([delivery_id.as_str()], |row| opt_timestamp(row, 0))
        .optional()
        .db()?;
    Ok(expires.flatten())
}

/// A lease token nobody can guess or repeat: 128 random bits as hex.
pub(crate) fn new_lease_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}
