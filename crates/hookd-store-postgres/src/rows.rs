//! Row mapping: the column lists queries select, and the functions that turn a row back
//! into a domain record (and a record's numbers into column values).
//!
//! **Invariant:** each `*_COLUMNS` list and its `*_from_row` function agree column for
//! column, starting at column 0; queries alias tables the same way (`a` applications,
//! `e` endpoints, `v` event types, `m` messages, `d` deliveries, `t` attempts). A value
//! that does not fit its domain type is an `Internal` error, never a panic.

use std::collections::BTreeMap;

use hookd_core::ids::{ApplicationId, AttemptId, DeliveryId, EndpointId, MessageId};
use hookd_core::model::{
    Application, Attempt, Delivery, Endpoint, EventType, Message, MessageStatus, TriggerType,
};
use hookd_core::signature::SignatureScheme;
use hookd_store::{StoreError, StoreResult};
use tokio_postgres::types::{FromSql, Json};
use tokio_postgres::Row;

use crate::error::{internal, MachineryError};

pub(crate) const APPLICATION_COLUMNS: &str =
    "a.id, a.uid, a.name, a.throttle_rate, a.metadata, a.created_at, a.updated_at";

pub(crate) const ENDPOINT_COLUMNS: &str = "e.id, e.app_id, e.uid, e.url, e.description, \
    e.disabled, e.event_types, e.channels, e.throttle_rate, e.metadata, e.headers, e.secret, \
    e.retired_secrets, e.signature_scheme, e.signature_header, e.failing_since, e.created_at, \
    e.updated_at, e.forward_source_headers";

pub(crate) const EVENT_TYPE_COLUMNS: &str = "v.name, v.description, v.archived, v.deprecated, \
    v.schemas, v.group_name, v.feature_flags, v.created_at, v.updated_at";

pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.app_id, m.event_id, m.event_type, m.payload, \
    m.channels, m.tags, m.created_at, m.source_headers";

/// How many columns [`MESSAGE_COLUMNS`] has, for queries that read other columns after it.
pub(crate) const MESSAGE_WIDTH: usize = 9;

pub(crate) const DELIVERY_COLUMNS: &str = "d.id, d.app_id, d.msg_id, d.endpoint_id, d.status, \
    d.n_attempts, d.trigger_type, d.next_attempt_at, d.created_at, d.updated_at";

pub(crate) const ATTEMPT_COLUMNS: &str = "t.id, t.app_id, t.msg_id, t.endpoint_id, t.url, \
    t.status, t.response_status_code, t.response, t.response_duration_ms, t.trigger_type, \
    t.request_headers, t.created_at";

/// A status as stored (`smallint`, Svix's numbering).
pub(crate) fn status_code(status: MessageStatus) -> i16 {
    status as i16
}

/// A trigger as stored (`smallint`).
pub(crate) fn trigger_code(trigger: TriggerType) -> i16 {
    trigger as i16
}

/// An optional rate as stored (`integer`).
pub(crate) fn rate(throttle_rate: Option<u16>) -> Option<i32> {
    throttle_rate.map(i32::from)
}

pub(crate) fn application_from_row(row: &Row) -> StoreResult<Application> {
    Ok(Application {
        id: ApplicationId::from_trusted(get(row, 0)?),
        uid: get(row, 1)?,
        name: get(row, 2)?,
        throttle_rate: opt_u16(row, 3, "applications.throttle_rate")?,
        metadata: json(row, 4)?,
        created_at: get(row, 5)?,
        updated_at: get(row, 6)?,
    })
}

pub(crate) fn endpoint_from_row(row: &Row) -> StoreResult<Endpoint> {
    endpoint_from_row_at(row, 0)
}

/// An endpoint whose [`ENDPOINT_COLUMNS`] start at column `first`.
pub(crate) fn endpoint_from_row_at(row: &Row, first: usize) -> StoreResult<Endpoint> {
    let scheme: String = get(row, first + 13)?;
    let signature_scheme = SignatureScheme::parse(&scheme).ok_or_else(|| {
        internal(MachineryError::UnknownValue {
            column: "endpoints.signature_scheme",
            value: scheme.clone(),
        })
    })?;
    Ok(Endpoint {
        id: EndpointId::from_trusted(get(row, first)?),
        app_id: ApplicationId::from_trusted(get(row, first + 1)?),
        uid: get(row, first + 2)?,
        url: get(row, first + 3)?,
        description: get(row, first + 4)?,
        disabled: get(row, first + 5)?,
        event_types: opt_json(row, first + 6)?,
        channels: opt_json(row, first + 7)?,
        throttle_rate: opt_u16(row, first + 8, "endpoints.throttle_rate")?,
        metadata: json(row, first + 9)?,
        headers: json(row, first + 10)?,
        secret: get(row, first + 11)?,
        retired_secrets: json(row, first + 12)?,
        signature_scheme,
        signature_header: get(row, first + 14)?,
        failing_since: get(row, first + 15)?,
        created_at: get(row, first + 16)?,
        updated_at: get(row, first + 17)?,
        forward_source_headers: get(row, first + 18)?,
    })
}

pub(crate) fn event_type_from_row(row: &Row) -> StoreResult<EventType> {
    Ok(EventType {
        name: get(row, 0)?,
        description: get(row, 1)?,
        archived: get(row, 2)?,
        deprecated: get(row, 3)?,
        schemas: opt_json(row, 4)?,
        group_name: get(row, 5)?,
        feature_flags: opt_json(row, 6)?,
        created_at: get(row, 7)?,
        updated_at: get(row, 8)?,
    })
}

pub(crate) fn message_from_row(row: &Row) -> StoreResult<Message> {
    message_from_row_at(row, 0)
}

/// A message whose [`MESSAGE_COLUMNS`] start at column `first`.
pub(crate) fn message_from_row_at(row: &Row, first: usize) -> StoreResult<Message> {
    Ok(Message {
        id: MessageId::from_trusted(get(row, first)?),
        app_id: ApplicationId::from_trusted(get(row, first + 1)?),
        event_id: get(row, first + 2)?,
        event_type: get(row, first + 3)?,
        payload: get(row, first + 4)?,
        channels: json(row, first + 5)?,
        tags: json(row, first + 6)?,
        source_headers: opt_json(row, first + 8)?.unwrap_or_default(),
        created_at: get(row, first + 7)?,
    })
}

pub(crate) fn delivery_from_row(row: &Row) -> StoreResult<Delivery> {
    let n_attempts: i32 = get(row, 5)?;
    Ok(Delivery {
        id: DeliveryId::from_trusted(get(row, 0)?),
        app_id: ApplicationId::from_trusted(get(row, 1)?),
        msg_id: MessageId::from_trusted(get(row, 2)?),
        endpoint_id: EndpointId::from_trusted(get(row, 3)?),
        status: status(row, 4)?,
        n_attempts: u32::try_from(n_attempts)
            .map_err(|_| out_of_range("deliveries.n_attempts", n_attempts.into()))?,
        trigger: trigger(row, 6)?,
        next_attempt_at: get(row, 7)?,
        created_at: get(row, 8)?,
        updated_at: get(row, 9)?,
    })
}

pub(crate) fn attempt_from_row(row: &Row) -> StoreResult<Attempt> {
    let code: i32 = get(row, 6)?;
    let duration_ms: i64 = get(row, 8)?;
    Ok(Attempt {
        id: AttemptId::from_trusted(get(row, 0)?),
        app_id: ApplicationId::from_trusted(get(row, 1)?),
        msg_id: MessageId::from_trusted(get(row, 2)?),
        endpoint_id: EndpointId::from_trusted(get(row, 3)?),
        url: get(row, 4)?,
        status: status(row, 5)?,
        response_status_code: u16::try_from(code)
            .map_err(|_| out_of_range("attempts.response_status_code", code.into()))?,
        response: get(row, 7)?,
        response_duration_ms: u64::try_from(duration_ms)
            .map_err(|_| out_of_range("attempts.response_duration_ms", duration_ms))?,
        trigger: trigger(row, 9)?,
        request_headers: json::<BTreeMap<String, String>>(row, 10)?,
        created_at: get(row, 11)?,
    })
}

/// A status column.
pub(crate) fn status(row: &Row, index: usize) -> StoreResult<MessageStatus> {
    let code: i16 = get(row, index)?;
    MessageStatus::from_code(code.into()).ok_or_else(|| {
        internal(MachineryError::UnknownValue {
            column: "status",
            value: code.to_string(),
        })
    })
}

/// A column of any type tokio-postgres can decode.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> StoreResult<T> {
    row.try_get(index).map_err(StoreError::internal)
}

fn trigger(row: &Row, index: usize) -> StoreResult<TriggerType> {
    let code: i16 = get(row, index)?;
    Ok(TriggerType::from_code(code.into()))
}

fn opt_u16(row: &Row, index: usize, column: &'static str) -> StoreResult<Option<u16>> {
    let value: Option<i32> = get(row, index)?;
    value
        .map(|value| u16::try_from(value).map_err(|_| out_of_range(column, value.into())))
        .transpose()
}

fn json<T: serde::de::DeserializeOwned>(row: &Row, index: usize) -> StoreResult<T> {
    let Json(value) = get::<Json<T>>(row, index)?;
    Ok(value)
}

fn opt_json<T: serde::de::DeserializeOwned>(row: &Row, index: usize) -> StoreResult<Option<T>> {
    let value = get::<Option<Json<T>>>(row, index)?;
    Ok(value.map(|Json(value)| value))
}

fn out_of_range(column: &'static str, value: i64) -> StoreError {
    internal(MachineryError::OutOfRange { column, value })
}

#[cfg(test)]
mod tests {
    use super::{MESSAGE_COLUMNS, MESSAGE_WIDTH};

    #[test]
    fn message_width_counts_the_message_columns() {
        assert_eq!(MESSAGE_COLUMNS.split(',').count(), MESSAGE_WIDTH);
    }
}
