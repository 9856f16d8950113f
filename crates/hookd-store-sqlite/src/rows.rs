//! Row mapping: the column lists every query selects, and the functions that turn a row
//! back into a domain record (and a record's fields into column values).
//!
//! **Invariant:** each `*_COLUMNS` list and its `*_from_row` function agree column for
//! column; queries always alias tables the same way (`a` applications, `e` endpoints,
//! `v` event types, `m` messages, `d` deliveries, `t` attempts) so the lists can be
//! spliced into joins. Timestamps are integer milliseconds, lists and maps JSON text.

use std::collections::BTreeMap;

use chrono::DateTime;
use hookd_core::ids::{ApplicationId, AttemptId, DeliveryId, EndpointId, MessageId};
use hookd_core::model::{
    Application, Attempt, Delivery, Endpoint, EventType, Message, MessageStatus, TriggerType,
};
use hookd_core::signature::SignatureScheme;
use hookd_core::Timestamp;
use hookd_store::StoreError;
use rusqlite::types::Type;
use rusqlite::Row;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::MachineryError;

pub(crate) const APPLICATION_COLUMNS: &str =
    "a.id, a.uid, a.name, a.throttle_rate, a.metadata, a.created_at, a.updated_at";

pub(crate) const ENDPOINT_COLUMNS: &str = "e.id, e.app_id, e.uid, e.url, e.description, \
    e.disabled, e.event_types, e.channels, e.throttle_rate, e.metadata, e.headers, e.secret, \
    e.retired_secrets, e.signature_scheme, e.signature_header, e.failing_since, e.created_at, \
    e.updated_at";

pub(crate) const EVENT_TYPE_COLUMNS: &str = "v.name, v.description, v.archived, v.deprecated, \
    v.schemas, v.group_name, v.feature_flags, v.created_at, v.updated_at";

pub(crate) const MESSAGE_COLUMNS: &str =
    "m.id, m.app_id, m.event_id, m.event_type, m.payload, m.channels, m.tags, m.created_at";
pub(crate) const MESSAGE_WIDTH: usize = 8;

pub(crate) const DELIVERY_COLUMNS: &str = "d.id, d.app_id, d.msg_id, d.endpoint_id, d.status, \
    d.n_attempts, d.trigger_type, d.next_attempt_at, d.created_at, d.updated_at";
pub(crate) const DELIVERY_WIDTH: usize = 10;

pub(crate) const ATTEMPT_COLUMNS: &str = "t.id, t.app_id, t.msg_id, t.endpoint_id, t.url, \
    t.status, t.response_status_code, t.response, t.response_duration_ms, t.trigger_type, \
    t.request_headers, t.created_at";

/// A timestamp as stored: milliseconds since the Unix epoch.
pub(crate) fn millis(at: Timestamp) -> i64 {
    at.timestamp_millis()
}

/// An optional timestamp as stored.
pub(crate) fn opt_millis(at: Option<Timestamp>) -> Option<i64> {
    at.map(millis)
}

/// A value as JSON text.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    // Encoding plain maps and lists cannot fail; if it ever does it is a bug, not an
    // outage, hence Internal.
    serde_json::to_string(value)
        .map_err(|error| StoreError::internal(MachineryError::Encode(error)))
}

/// An optional value as JSON text, `None` staying NULL.
pub(crate) fn opt_json<T: Serialize>(value: Option<&T>) -> Result<Option<String>, StoreError> {
    value.map(to_json).transpose()
}

pub(crate) fn application_from_row(row: &Row, at: usize) -> rusqlite::Result<Application> {
    Ok(Application {
        id: ApplicationId::from_trusted(row.get(at)?),
        uid: row.get(at + 1)?,
        name: row.get(at + 2)?,
        throttle_rate: row.get(at + 3)?,
        metadata: json(row, at + 4)?,
        created_at: timestamp(row, at + 5)?,
        updated_at: timestamp(row, at + 6)?,
    })
}

pub(crate) fn endpoint_from_row(row: &Row, at: usize) -> rusqlite::Result<Endpoint> {
    let scheme: String = row.get(at + 13)?;
    let signature_scheme = SignatureScheme::parse(&scheme)
        .ok_or_else(|| conversion_error(at + 13, Type::Text, format!("unknown scheme {scheme}")))?;
    Ok(Endpoint {
        id: EndpointId::from_trusted(row.get(at)?),
        app_id: ApplicationId::from_trusted(row.get(at + 1)?),
        uid: row.get(at + 2)?,
        url: row.get(at + 3)?,
        description: row.get(at + 4)?,
        disabled: row.get(at + 5)?,
        event_types: opt_json_column(row, at + 6)?,
        channels: opt_json_column(row, at + 7)?,
        throttle_rate: row.get(at + 8)?,
        metadata: json(row, at + 9)?,
        headers: json(row, at + 10)?,
        secret: row.get(at + 11)?,
        retired_secrets: json(row, at + 12)?,
        signature_scheme,
        signature_header: row.get(at + 14)?,
        failing_since: opt_timestamp(row, at + 15)?,
        created_at: timestamp(row, at + 16)?,
        updated_at: timestamp(row, at + 17)?,
    })
}

pub(crate) fn event_type_from_row(row: &Row, at: usize) -> rusqlite::Result<EventType> {
    Ok(EventType {
        name: row.get(at)?,
        description: row.get(at + 1)?,
        archived: row.get(at + 2)?,
        deprecated: row.get(at + 3)?,
        schemas: opt_json_column(row, at + 4)?,
        group_name: row.get(at + 5)?,
        feature_flags: opt_json_column(row, at + 6)?,
        created_at: timestamp(row, at + 7)?,
        updated_at: timestamp(row, at + 8)?,
    })
}

pub(crate) fn message_from_row(row: &Row, at: usize) -> rusqlite::Result<Message> {
    Ok(Message {
        id: MessageId::from_trusted(row.get(at)?),
        app_id: ApplicationId::from_trusted(row.get(at + 1)?),
        event_id: row.get(at + 2)?,
        event_type: row.get(at + 3)?,
        payload: row.get(at + 4)?,
        channels: json(row, at + 5)?,
        tags: json(row, at + 6)?,
        created_at: timestamp(row, at + 7)?,
    })
}

pub(crate) fn delivery_from_row(row: &Row, at: usize) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: DeliveryId::from_trusted(row.get(at)?),
        app_id: ApplicationId::from_trusted(row.get(at + 1)?),
        msg_id: MessageId::from_trusted(row.get(at + 2)?),
        endpoint_id: EndpointId::from_trusted(row.get(at + 3)?),
        status: status(row, at + 4)?,
        n_attempts: row.get(at + 5)?,
        trigger: TriggerType::from_code(row.get(at + 6)?),
        next_attempt_at: opt_timestamp(row, at + 7)?,
        created_at: timestamp(row, at + 8)?,
        updated_at: timestamp(row, at + 9)?,
    })
}

pub(crate) fn attempt_from_row(row: &Row, at: usize) -> rusqlite::Result<Attempt> {
    let duration_ms: i64 = row.get(at + 8)?;
    Ok(Attempt {
        id: AttemptId::from_trusted(row.get(at)?),
        app_id: ApplicationId::from_trusted(row.get(at + 1)?),
        msg_id: MessageId::from_trusted(row.get(at + 2)?),
        endpoint_id: EndpointId::from_trusted(row.get(at + 3)?),
        url: row.get(at + 4)?,
        status: status(row, at + 5)?,
        response_status_code: row.get(at + 6)?,
        response: row.get(at + 7)?,
        response_duration_ms: u64::try_from(duration_ms).unwrap_or(0),
        trigger: TriggerType::from_code(row.get(at + 9)?),
        request_headers: json::<BTreeMap<String, String>>(row, at + 10)?,
        created_at: timestamp(row, at + 11)?,
    })
}

/// A status column holding a `MessageStatus` code.
pub(crate) fn status(row: &Row, index: usize) -> rusqlite::Result<MessageStatus> {
    let code: i64 = row.get(index)?;
    MessageStatus::from_code(code)
        .ok_or_else(|| conversion_error(index, Type::Integer, format!("unknown status {code}")))
}

/// A NOT NULL timestamp column.
pub(crate) fn timestamp(row: &Row, index: usize) -> rusqlite::Result<Timestamp> {
    let unix_ms: i64 = row.get(index)?;
    from_millis(unix_ms, index)
}

/// A nullable timestamp column.
pub(crate) fn opt_timestamp(row: &Row, index: usize) -> rusqlite::Result<Option<Timestamp>> {
    let unix_ms: Option<i64> = row.get(index)?;
    unix_ms
        .map(|unix_ms| from_millis(unix_ms, index))
        .transpose()
}

fn from_millis(unix_ms: i64, index: usize) -> rusqlite::Result<Timestamp> {
    DateTime::from_timestamp_millis(unix_ms).ok_or_else(|| {
        conversion_error(
            index,
            Type::Integer,
            format!("timestamp {unix_ms} out of range"),
        )
    })
}

/// A NOT NULL JSON text column.
fn json<T: DeserializeOwned>(row: &Row, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
    })
}

/// A nullable JSON text column.
pub(crate) fn opt_json_column<T: DeserializeOwned>(
    row: &Row,
    index: usize,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
        })
    })
    .transpose()
}

fn conversion_error(index: usize, column_type: Type, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, column_type, message.into())
}
