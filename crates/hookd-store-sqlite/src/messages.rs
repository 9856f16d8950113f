//! Messages and the attempt log: publishing (a message with its deliveries), lookups
//! and filtered listings.
//!
//! **Invariants:** a message and its deliveries are written by one writer command, so
//! they commit together or not at all; the payload is stored as the exact text given;
//! `eventId` is unique per application; reads are scoped by `app_id`.

use hookd_core::filter::endpoint_accepts;
use hookd_core::ids::{ApplicationId, DeliveryId, EndpointId, MessageId};
use hookd_core::model::{Attempt, Endpoint, Message, MessageStatus, TriggerType};
use hookd_store::{
    endpoint_accepts_message, AttemptFilter, ClaimedDelivery, MessageFilter, Page, PageRequest,
    PublishLease, Published, StoreError, StoreResult,
};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

use crate::applications::require_application;
use crate::error::{map, unique_violation, DbResultExt};
use crate::pagination::Listing;
use crate::queue::new_lease_token;
use crate::rows::{
    attempt_from_row, endpoint_from_row, message_from_row, millis, opt_json_column, to_json,
    ATTEMPT_COLUMNS, ENDPOINT_COLUMNS, MESSAGE_COLUMNS,
};
use crate::stream_positions::StreamPositions;

/// Writes `message`, at the next stream position, and one pending delivery, due at its
/// creation, per endpoint of `endpoint_ids` that exists in the application (an endpoint
/// deleted meanwhile is skipped).
pub(crate) fn create_message(
    connection: &Connection,
    message: &Message,
    endpoint_ids: &[EndpointId],
    positions: &StreamPositions,
) -> StoreResult<()> {
    insert_message(connection, message, positions)?;
    insert_deliveries(connection, message, endpoint_ids)
}

/// Writes the message row alone, at the next stream position (its application must
/// exist).
fn insert_message(
    connection: &Connection,
    message: &Message,
    positions: &StreamPositions,
) -> StoreResult<()> {
    require_application(connection, &message.app_id)?;
    let sql = "INSERT INTO messages (id, app_id, event_id, event_type, payload, channels, \
        tags, created_at, source_headers, stream_seq) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    connection
        .prepare_cached(sql)
        .db()?
        .execute(params![
            message.id.as_str(),
            message.app_id.as_str(),
            message.event_id,
            message.event_type,
            message.payload,
            to_json(&message.channels)?,
            to_json(&message.tags)?,
            millis(message.created_at),
            source_headers_json(message)?,
            positions.take(),
        ])
        .map_err(|error| message_conflict(error, message))?;
    Ok(())
}

/// Writes `message` with one pending delivery per endpoint of its application that is
/// not disabled and whose filters take it, chosen in the same transaction. With `lease`,
/// the first `max_deliveries` of them are written leased until `expires_at` and returned
/// ready to attempt.
pub(crate) fn publish_message(
    connection: &Connection,
    message: &Message,
    lease: Option<&PublishLease>,
    positions: &StreamPositions,
) -> StoreResult<Published> {
    let Some(lease) = lease.filter(|lease| lease.max_deliveries > 0) else {
        let targets = accepting_endpoint_ids(connection, message)?;
        insert_message(connection, message, positions)?;
        for endpoint_id in &targets {
            // Read in this transaction: each endpoint is in the application.
            insert_delivery(connection, message, endpoint_id, None)?;
        }
        return Ok(Published {
            deliveries: targets.len(),
            leased: Vec::new(),
        });
    };
    let endpoints = accepting_endpoints(connection, message)?;
    insert_message(connection, message, positions)?;
    let created_at = millis(message.created_at);
    let duration_ms = i64::try_from(lease.duration.as_millis()).unwrap_or(i64::MAX);
    let expires_at = created_at.saturating_add(duration_ms);
    let mut published = Published {
        deliveries: endpoints.len(),
        leased: Vec::with_capacity(endpoints.len().min(lease.max_deliveries)),
    };
    for endpoint in endpoints {
        if published.leased.len() == lease.max_deliveries {
            insert_delivery(connection, message, &endpoint.id, None)?;
            continue;
        }
        let token = new_lease_token();
        let delivery_id = insert_delivery(
            connection,
            message,
            &endpoint.id,
            Some((&token, expires_at)),
        )?;
        let Some(delivery_id) = delivery_id else {
            continue;
        };
        published.leased.push(ClaimedDelivery::leased_at_publish(
            message,
            endpoint,
            delivery_id,
            token,
            timestamp_of_millis(expires_at, message.created_at),
        ));
    }
    Ok(published)
}

fn timestamp_of_millis(millis: i64, otherwise: hookd_core::Timestamp) -> hookd_core::Timestamp {
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or(otherwise)
}

/// The ids of the application's enabled endpoints whose filters take `message`.
fn accepting_endpoint_ids(
    connection: &Connection,
    message: &Message,
) -> StoreResult<Vec<EndpointId>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT id, event_types, channels FROM endpoints \
             WHERE app_id = ?1 AND disabled = 0 ORDER BY id",
        )
        .db()?;
    let endpoints = statement
        .query_map([message.app_id.as_str()], |row| {
            let event_types: Option<Vec<String>> = opt_json_column(row, 1)?;
            let channels: Option<Vec<String>> = opt_json_column(row, 2)?;
            let accepts = endpoint_accepts(
                event_types.as_deref(),
                channels.as_deref(),
                &message.event_type,
                &message.channels,
            );
            if !accepts {
                return Ok(None);
            }
            Ok(Some(EndpointId::from_trusted(row.get(0)?)))
        })
        .db()?;
    let mut targets = Vec::new();
    for endpoint in endpoints {
        targets.extend(endpoint.db()?);
    }
    Ok(targets)
}

/// The application's enabled endpoints whose filters take `message`, whole (a leased
/// delivery carries its endpoint).
fn accepting_endpoints(connection: &Connection, message: &Message) -> StoreResult<Vec<Endpoint>> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints e \
             WHERE e.app_id = ?1 AND e.disabled = 0 ORDER BY e.id"
        ))
        .db()?;
    let endpoints = statement
        .query_map([message.app_id.as_str()], |row| endpoint_from_row(row, 0))
        .db()?
        .collect::<rusqlite::Result<Vec<Endpoint>>>()
        .db()?;
    Ok(endpoints
        .into_iter()
        .filter(|endpoint| endpoint_accepts_message(endpoint, message))
        .collect())
}

/// The message's source headers as stored: NULL when there are none (every published
/// message), so they cost nothing there.
fn source_headers_json(message: &Message) -> StoreResult<Option<String>> {
    if message.source_headers.is_empty() {
        return Ok(None);
    }
    to_json(&message.source_headers).map(Some)
}

/// Writes one pending delivery of `message` per endpoint of `endpoint_ids` that is in
/// the application (an endpoint deleted meanwhile is skipped).
fn insert_deliveries(
    connection: &Connection,
    message: &Message,
    endpoint_ids: &[EndpointId],
) -> StoreResult<()> {
    // A lookup, not one INSERT … SELECT: SQLite gives a statement that inserts from a
    // SELECT a statement journal, a copy of every page it changes.
    let mut in_application = connection
        .prepare_cached("SELECT 1 FROM endpoints WHERE id = ?1 AND app_id = ?2")
        .db()?;
    for endpoint_id in endpoint_ids {
        let exists = in_application
            .exists([endpoint_id.as_str(), message.app_id.as_str()])
            .db()?;
        if exists {
            insert_delivery(connection, message, endpoint_id, None)?;
        }
    }
    Ok(())
}

/// Writes the delivery of `message` to `endpoint_id` (which the caller knows is in the
/// application), pending and due at the message's creation, or leased with `lease`
/// (token, expiry in ms) and so next up for a claim when the lease expires. Returns its
/// id, or `None` when the endpoint already has a delivery of this message (listed twice).
fn insert_delivery(
    connection: &Connection,
    message: &Message,
    endpoint_id: &EndpointId,
    lease: Option<(&str, i64)>,
) -> StoreResult<Option<DeliveryId>> {
    let created_at = millis(message.created_at);
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, n_attempts, \
             trigger_type, next_attempt_at, created_at, updated_at, lease_token, \
             lease_expires_at) \
             VALUES (?1, ?7, ?2, ?6, ?3, 0, ?4, coalesce(?9, ?5), ?5, ?5, ?8, ?9) \
             ON CONFLICT (msg_id, endpoint_id) DO NOTHING",
        )
        .db()?;
    let delivery_id = new_delivery_id(message.created_at);
    let inserted = insert
        .execute(params![
            delivery_id.as_str(),
            message.id.as_str(),
            MessageStatus::Pending.code(),
            TriggerType::Scheduled.code(),
            created_at,
            endpoint_id.as_str(),
            message.app_id.as_str(),
            lease.map(|(token, _)| token),
            lease.map(|(_, expires_at)| expires_at),
        ])
        .db()?;
    Ok((inserted > 0).then_some(delivery_id))
}
pub(crate) fn message(
    connection: &Connection,
    app_id: &ApplicationId,
    id_or_event_id: &str,
) -> StoreResult<Message> {
    let by_id =
        format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.app_id = ?1 AND m.id = ?2");
    let by_event_id =
        format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.app_id = ?1 AND m.event_id = ?2");
    for sql in [by_id, by_event_id] {
        let found = connection
            .prepare_cached(&sql)
            .db()?
            .query_row([app_id.as_str(), id_or_event_id], |row| {
                message_from_row(row, 0)
            })
            .optional()
            .db()?;
        if let Some(message) = found {
            return Ok(message);
        }
    }
    Err(StoreError::NotFound("message"))
}

/// The listing of one application's messages matching `filter`.
pub(crate) fn messages_listing(app_id: &ApplicationId, filter: &MessageFilter) -> Listing {
    filtered_messages(
        format!("SELECT {MESSAGE_COLUMNS} FROM messages m"),
        app_id,
        filter,
    )
}

/// A listing cut on `m.id` of `select` (which reads `messages m`, maybe joined) kept to
/// the application's messages that `filter` keeps.
pub(crate) fn filtered_messages(
    select: String,
    app_id: &ApplicationId,
    filter: &MessageFilter,
) -> Listing {
    let mut listing =
        Listing::new(select, "m.id").filter("m.app_id = ?", vec![Value::Text(app_id.to_string())]);
    let (conditions, values) = message_conditions(filter);
    if !conditions.is_empty() {
        listing = listing.filter(conditions.join(" AND "), values);
    }
    if let Some(before) = filter.before {
        listing = listing.filter("m.created_at < ?", vec![Value::Integer(millis(before))]);
    }
    if let Some(after) = filter.after {
        listing = listing.filter("m.created_at > ?", vec![Value::Integer(millis(after))]);
    }
    listing
}

pub(crate) fn list_messages(
    connection: &Connection,
    app_id: &ApplicationId,
    filter: &MessageFilter,
    page: &PageRequest,
) -> StoreResult<Page<Message>> {
    messages_listing(app_id, filter).fetch(
        connection,
        page,
        |row| message_from_row(row, 0),
        |message| message.id.to_string(),
    )
}

/// Inserts an attempt unless one with its id is already there (an outcome recorded
/// twice keeps one attempt).
pub(crate) fn insert_attempt(connection: &Connection, attempt: &Attempt) -> StoreResult<()> {
    let sql = "INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, \
        response_status_code, response, response_duration_ms, trigger_type, request_headers, \
        created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
        ON CONFLICT (id) DO NOTHING";
    connection
        .prepare_cached(sql)
        .db()?
        .execute(params![
            attempt.id.as_str(),
            attempt.app_id.as_str(),
            attempt.msg_id.as_str(),
            attempt.endpoint_id.as_str(),
            attempt.url,
            attempt.status.code(),
            attempt.response_status_code,
            attempt.response,
            i64::try_from(attempt.response_duration_ms).unwrap_or(i64::MAX),
            attempt.trigger.code(),
            to_json(&attempt.request_headers)?,
            millis(attempt.created_at),
        ])
        .db()?;
    Ok(())
}

pub(crate) fn attempt(
    connection: &Connection,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    attempt_id: &str,
) -> StoreResult<Attempt> {
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts t \
         WHERE t.id = ?1 AND t.msg_id = ?2 AND t.app_id = ?3"
    );
    connection
        .prepare_cached(&sql)
        .db()?
        .query_row([attempt_id, msg_id.as_str(), app_id.as_str()], |row| {
            attempt_from_row(row, 0)
        })
        .optional()
        .db()?
        .ok_or(StoreError::NotFound("attempt"))
}

/// The listing of one application's attempts matching `filter`.
pub(crate) fn attempts_listing(app_id: &ApplicationId, filter: &AttemptFilter) -> Listing {
    let mut listing = Listing::new(format!("SELECT {ATTEMPT_COLUMNS} FROM attempts t"), "t.id")
        .filter("t.app_id = ?", vec![Value::Text(app_id.to_string())]);
    if let Some(endpoint_id) = &filter.endpoint_id {
        listing = listing.filter(
            "t.endpoint_id = ?",
            vec![Value::Text(endpoint_id.to_string())],
        );
    }
    if let Some(msg_id) = &filter.msg_id {
        listing = listing.filter("t.msg_id = ?", vec![Value::Text(msg_id.to_string())]);
    }
    if let Some(status) = filter.status {
        listing = listing.filter("t.status = ?", vec![Value::Integer(status.code())]);
    }
    if let Some(codes) = &filter.response_status_codes {
        listing = listing.filter(
            "t.response_status_code BETWEEN ? AND ?",
            vec![
                Value::Integer(i64::from(*codes.start())),
                Value::Integer(i64::from(*codes.end())),
            ],
        );
    }
    if let Some(before) = filter.before {
        listing = listing.filter("t.created_at < ?", vec![Value::Integer(millis(before))]);
    }
    if let Some(after) = filter.after {
        listing = listing.filter("t.created_at > ?", vec![Value::Integer(millis(after))]);
    }
    let (conditions, values) = message_conditions(&filter.message);
    if !conditions.is_empty() {
        listing = listing.filter(
            format!(
                "EXISTS (SELECT 1 FROM messages m WHERE m.id = t.msg_id AND {})",
                conditions.join(" AND ")
            ),
            values,
        );
    }
    listing
}

/// The conditions on `messages m` by which `filter` keeps a message, other than its
/// time, with their values.
fn message_conditions(filter: &MessageFilter) -> (Vec<String>, Vec<Value>) {
    let (mut conditions, mut values) = (Vec::new(), Vec::new());
    if let Some(event_types) = &filter.event_types {
        conditions.push(format!(
            "m.event_type IN ({})",
            vec!["?"; event_types.len()].join(", ")
        ));
        values.extend(event_types.iter().cloned().map(Value::Text));
    }
    for (column, value) in [("channels", &filter.channel), ("tags", &filter.tag)] {
        if let Some(value) = value {
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM json_each(m.{column}) WHERE json_each.value = ?)"
            ));
            values.push(Value::Text(value.clone()));
        }
    }
    (conditions, values)
}

pub(crate) fn list_attempts(
    connection: &Connection,
    app_id: &ApplicationId,
    filter: &AttemptFilter,
    page: &PageRequest,
) -> StoreResult<Page<Attempt>> {
    attempts_listing(app_id, filter).fetch(
        connection,
        page,
        |row| attempt_from_row(row, 0),
        |attempt| attempt.id.to_string(),
    )
}

/// A fresh delivery id, time-ordered by `created_at`.
pub(crate) fn new_delivery_id(created_at: hookd_core::Timestamp) -> DeliveryId {
    let unix_ms = u64::try_from(created_at.timestamp_millis()).unwrap_or(0);
    DeliveryId::new(unix_ms, rand::random())
}

fn message_conflict(error: rusqlite::Error, message: &Message) -> StoreError {
    match unique_violation(&error) {
        Some(columns) if columns.contains("event_id") => StoreError::Conflict(format!(
            "a message with eventId {:?} already exists in this application",
            message.event_id.as_deref().unwrap_or_default()
        )),
        Some(_) => StoreError::Conflict(format!("a message with id {} already exists", message.id)),
        None => map(error),
    }
}
