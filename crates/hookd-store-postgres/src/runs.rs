//! Manual runs (resend, recover) and the read-only views built on deliveries: one
//! delivery, queue depth, endpoint statistics, a delivery's lease.
//!
//! **Invariants:** a manual run restarts a delivery from zero attempts, due at `now`,
//! and clears its lease token, which takes the delivery away from any worker holding
//! it; each operation is one statement, so its existence checks and its write see one
//! snapshot; every lookup is scoped by `app_id`.

use hookd_core::ids::{ApplicationId, DeliveryId, EndpointId, MessageId};
use hookd_core::model::{Delivery, MessageStatus, TriggerType};
use hookd_core::Timestamp;
use hookd_store::{EndpointStats, QueueDepth, StoreError, StoreResult, TimeWindow};

use crate::db::{Db, Params};
use crate::messages::new_delivery_id;
use crate::rows::{delivery_from_row, get, status, status_code, trigger_code, DELIVERY_COLUMNS};

/// Starts a manual run of one message to one endpoint, creating the delivery if needed.
pub(crate) async fn resend(
    db: &Db,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    endpoint_id: &EndpointId,
    now: Timestamp,
) -> StoreResult<()> {
    // `target` is empty unless both records exist in the application, so the upsert
    // writes nothing then; the outer SELECT says which one was missing.
    let sql = format!(
        "WITH target AS ( \
             SELECT m.id AS msg_id, e.id AS endpoint_id \
             FROM messages m JOIN endpoints e ON e.app_id = m.app_id \
             WHERE m.app_id = $1 AND m.id = $2 AND e.id = $3 \
         ), upsert AS ( \
             INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, n_attempts, \
                 trigger_type, next_attempt_at, created_at, updated_at) \
             SELECT $4::text, $1::text, target.msg_id, target.endpoint_id, {pending}, 0, \
                 {manual}, $5::timestamptz, $5::timestamptz, $5::timestamptz \
             FROM target \
             ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = excluded.status, \
                 n_attempts = 0, trigger_type = excluded.trigger_type, \
                 next_attempt_at = excluded.next_attempt_at, lease_token = NULL, \
                 lease_expires_at = NULL, updated_at = excluded.updated_at \
         ) \
         SELECT EXISTS (SELECT 1 FROM messages WHERE app_id = $1 AND id = $2), \
                EXISTS (SELECT 1 FROM endpoints WHERE app_id = $1 AND id = $3)",
        pending = status_code(MessageStatus::Pending),
        manual = trigger_code(TriggerType::Manual),
    );
    let delivery_id = new_delivery_id(now).to_string();
    let rows = db
        .query(
            &sql,
            &[
                &app_id.as_str(),
                &msg_id.as_str(),
                &endpoint_id.as_str(),
                &delivery_id,
                &now,
            ],
        )
        .await?;
    let row = rows.first().ok_or(StoreError::NotFound("message"))?;
    if !get::<bool>(row, 0)? {
        return Err(StoreError::NotFound("message"));
    }
    if !get::<bool>(row, 1)? {
        return Err(StoreError::NotFound("endpoint"));
    }
    Ok(())
}

/// Makes the endpoint's failed deliveries whose message was created in `window` due at
/// `now` as manual runs; returns how many.
pub(crate) async fn recover_endpoint(
    db: &Db,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    window: &TimeWindow,
    now: Timestamp,
) -> StoreResult<u64> {
    let (sql, params) = recover_query(app_id, endpoint_id, window, now);
    let rows = db.query(&sql, &params.refs()).await?;
    let row = rows.first().ok_or(StoreError::NotFound("endpoint"))?;
    if get::<i64>(row, 0)? == 0 {
        return Err(StoreError::NotFound("endpoint"));
    }
    Ok(u64::try_from(get::<i64>(row, 1)?).unwrap_or(0))
}

/// The recovery statement: it counts the endpoint (to tell "no such endpoint" from
/// "nothing to recover") and revives the failed deliveries in the window.
pub(crate) fn recover_query(
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    window: &TimeWindow,
    now: Timestamp,
) -> (String, Params) {
    let mut params = Params::default();
    let app = params.bind(app_id.to_string());
    let endpoint = params.bind(endpoint_id.to_string());
    let now = params.bind(now);
    let in_window = created_in(&mut params, window);
    let sql = format!(
        "WITH endpoint AS ( \
             SELECT 1 FROM endpoints WHERE app_id = {app} AND id = {endpoint} \
         ), revived AS ( \
             UPDATE deliveries d SET status = {pending}, n_attempts = 0, \
                 trigger_type = {manual}, next_attempt_at = {now}, lease_token = NULL, \
                 lease_expires_at = NULL, updated_at = {now} \
             FROM messages m \
             WHERE d.app_id = {app} AND d.endpoint_id = {endpoint} AND d.status = {fail} \
               AND m.id = d.msg_id AND m.payload <> ''{in_window} \
             RETURNING 1 \
         ) \
         SELECT (SELECT count(*) FROM endpoint), (SELECT count(*) FROM revived)",
        pending = status_code(MessageStatus::Pending),
        manual = trigger_code(TriggerType::Manual),
        fail = status_code(MessageStatus::Fail),
    );
    (sql, params)
}

/// `AND` conditions that keep messages `m` created in `window`, its bounds bound in
/// `params` (empty for an open window).
pub(crate) fn created_in(params: &mut Params, window: &TimeWindow) -> String {
    let mut conditions = String::new();
    if let Some(since) = window.since {
        conditions.push_str(&format!(" AND m.created_at >= {}", params.bind(since)));
    }
    if let Some(until) = window.until {
        conditions.push_str(&format!(" AND m.created_at < {}", params.bind(until)));
    }
    conditions
}

pub(crate) async fn delivery(
    db: &Db,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    endpoint_id: &EndpointId,
) -> StoreResult<Delivery> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d \
         WHERE d.msg_id = $1 AND d.endpoint_id = $2 AND d.app_id = $3"
    );
    let row = db
        .query_opt(
            &sql,
            &[&msg_id.as_str(), &endpoint_id.as_str(), &app_id.as_str()],
        )
        .await?;
    match row {
        Some(row) => delivery_from_row(&row),
        None => Err(StoreError::NotFound("delivery")),
    }
}

/// Unfinished deliveries, and those of them due at `$1`; it reads only the
/// `deliveries_due` partial index.
pub(crate) const QUEUE_DEPTH_SQL: &str = "SELECT count(*) FILTER (WHERE next_attempt_at <= $1), \
     count(*) FROM deliveries WHERE status IN (1, 3)";

pub(crate) async fn queue_depth(db: &Db, now: Timestamp) -> StoreResult<QueueDepth> {
    let rows = db.query(QUEUE_DEPTH_SQL, &[&now]).await?;
    let Some(row) = rows.first() else {
        return Ok(QueueDepth::default());
    };
    Ok(QueueDepth {
        due: u64::try_from(get::<i64>(row, 0)?).unwrap_or(0),
        pending: u64::try_from(get::<i64>(row, 1)?).unwrap_or(0),
    })
}

/// Counts of the endpoint's deliveries created in `window`, by status.
pub(crate) async fn endpoint_stats(
    db: &Db,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    window: &TimeWindow,
) -> StoreResult<EndpointStats> {
    let (sql, params) = endpoint_stats_query(app_id, endpoint_id, window);
    let rows = db.query(&sql, &params.refs()).await?;
    if rows.is_empty() {
        return Err(StoreError::NotFound("endpoint"));
    }
    let mut stats = EndpointStats::default();
    for row in &rows {
        if get::<Option<i16>>(row, 0)?.is_none() {
            continue;
        }
        let count = u64::try_from(get::<i64>(row, 1)?).unwrap_or(0);
        match status(row, 0)? {
            MessageStatus::Success => stats.success = count,
            MessageStatus::Pending => stats.pending = count,
            MessageStatus::Sending => stats.sending = count,
            MessageStatus::Fail => stats.fail = count,
            MessageStatus::Canceled => stats.canceled = count,
        }
    }
    Ok(stats)
}

/// The statistics query: deliveries of the endpoint by status, through the endpoint.
pub(crate) fn endpoint_stats_query(
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    window: &TimeWindow,
) -> (String, Params) {
    // The LEFT JOIN keeps one row (with a NULL status) for an endpoint without
    // deliveries, so "no rows" means "no such endpoint in this application".
    let mut params = Params::default();
    let app = params.bind(app_id.to_string());
    let endpoint = params.bind(endpoint_id.to_string());
    let mut in_window = String::new();
    if let Some(since) = window.since {
        in_window.push_str(&format!(" AND d.created_at >= {}", params.bind(since)));
    }
    if let Some(until) = window.until {
        in_window.push_str(&format!(" AND d.created_at < {}", params.bind(until)));
    }
    let sql = format!(
        "SELECT d.status, count(d.id) FROM endpoints e \
         LEFT JOIN deliveries d ON d.endpoint_id = e.id{in_window} \
         WHERE e.app_id = {app} AND e.id = {endpoint} \
         GROUP BY d.status"
    );
    (sql, params)
}

/// When the lease on a delivery expires; `None` when unleased or the delivery is gone.
pub(crate) async fn lease_of(db: &Db, delivery_id: &DeliveryId) -> StoreResult<Option<Timestamp>> {
    let row = db
        .query_opt(
            "SELECT lease_expires_at FROM deliveries WHERE id = $1",
            &[&delivery_id.as_str()],
        )
        .await?;
    match row {
        Some(row) => get(&row, 0),
        None => Ok(None),
    }
}
