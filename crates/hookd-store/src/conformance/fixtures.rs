//! Builders for valid records with fresh ids, shared by the conformance suite and by
//! other crates' tests.
//!
//! Every timestamp these builders produce is whole milliseconds, the precision every
//! backend keeps, so a record read back compares equal to the one written.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookd_core::ids::{ApplicationId, AttemptId, EndpointId, MessageId};
use hookd_core::model::{Application, Attempt, Endpoint, EventType, Message, MessageStatus};
use hookd_core::signature::SignatureScheme;
use hookd_core::Timestamp;

use crate::{
    ClaimedDelivery, DeliveryOutcome, EndpointHealth, Ordering, OutcomeRecord, PageRequest,
};

/// The current time, truncated to whole milliseconds.
pub fn now() -> Timestamp {
    at_ms(Utc::now().timestamp_millis())
}

/// The instant `unix_ms` milliseconds after the Unix epoch.
///
/// # Panics
/// When `unix_ms` is outside chrono's range (hundreds of millions of years).
pub fn at_ms(unix_ms: i64) -> Timestamp {
    DateTime::from_timestamp_millis(unix_ms).expect("test timestamps are within chrono's range")
}

/// `base` moved forward by `offset`.
pub fn later(base: Timestamp, offset: Duration) -> Timestamp {
    base + chrono::Duration::from_std(offset).expect("test offsets are small")
}

/// `base` moved back by `offset`.
pub fn earlier(base: Timestamp, offset: Duration) -> Timestamp {
    base - chrono::Duration::from_std(offset).expect("test offsets are small")
}

/// 14 random bytes for an id body.
pub fn random_bytes() -> [u8; 14] {
    rand::random()
}

fn unix_ms(at: Timestamp) -> u64 {
    u64::try_from(at.timestamp_millis()).expect("test timestamps are after 1970")
}

/// A fresh application id created now.
pub fn application_id() -> ApplicationId {
    ApplicationId::new(unix_ms(now()), random_bytes())
}

/// A fresh endpoint id created now.
pub fn endpoint_id() -> EndpointId {
    EndpointId::new(unix_ms(now()), random_bytes())
}

/// A fresh message id created at `created_at`.
pub fn message_id_at(created_at: Timestamp) -> MessageId {
    MessageId::new(unix_ms(created_at), random_bytes())
}

/// A fresh attempt id created at `created_at`.
pub fn attempt_id_at(created_at: Timestamp) -> AttemptId {
    AttemptId::new(unix_ms(created_at), random_bytes())
}

/// An application named `name`, without uid or metadata, created now.
pub fn application(name: &str) -> Application {
    let created_at = now();
    Application {
        id: ApplicationId::new(unix_ms(created_at), random_bytes()),
        uid: None,
        name: name.to_owned(),
        throttle_rate: None,
        metadata: BTreeMap::new(),
        created_at,
        updated_at: created_at,
    }
}

/// An application named `name` with the user-chosen `uid`.
pub fn application_with_uid(name: &str, uid: &str) -> Application {
    Application {
        uid: Some(uid.to_owned()),
        ..application(name)
    }
}

/// An enabled endpoint of `app_id` posting to `url`: every event type, every channel,
/// Standard Webhooks signatures with a fixed valid secret.
pub fn endpoint(app_id: &ApplicationId, url: &str) -> Endpoint {
    let created_at = now();
    Endpoint {
        id: EndpointId::new(unix_ms(created_at), random_bytes()),
        app_id: app_id.clone(),
        uid: None,
        url: url.to_owned(),
        description: String::new(),
        disabled: false,
        event_types: None,
        channels: None,
        throttle_rate: None,
        metadata: BTreeMap::new(),
        headers: BTreeMap::new(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        retired_secrets: Vec::new(),
        signature_scheme: SignatureScheme::Standard,
        signature_header: None,
        forward_source_headers: false,
        failing_since: None,
        created_at,
        updated_at: created_at,
    }
}

/// An endpoint of `app_id` with the user-chosen `uid`.
pub fn endpoint_with_uid(app_id: &ApplicationId, url: &str, uid: &str) -> Endpoint {
    Endpoint {
        uid: Some(uid.to_owned()),
        ..endpoint(app_id, url)
    }
}

/// An active event type named `name`, without schemas.
pub fn event_type(name: &str) -> EventType {
    let created_at = now();
    EventType {
        name: name.to_owned(),
        description: format!("{name} happened"),
        archived: false,
        deprecated: false,
        schemas: None,
        group_name: None,
        feature_flags: None,
        created_at,
        updated_at: created_at,
    }
}

/// A message of `app_id` created now, without eventId, channels or tags.
pub fn message(app_id: &ApplicationId, event_type: &str, payload: &str) -> Message {
    message_at(app_id, event_type, payload, now())
}

/// A message of `app_id` created (and so due) at `created_at`.
pub fn message_at(
    app_id: &ApplicationId,
    event_type: &str,
    payload: &str,
    created_at: Timestamp,
) -> Message {
    Message {
        id: message_id_at(created_at),
        app_id: app_id.clone(),
        event_id: None,
        event_type: event_type.to_owned(),
        payload: payload.to_owned(),
        channels: Vec::new(),
        tags: Vec::new(),
        source_headers: Vec::new(),
        created_at,
    }
}

/// A message of `app_id` carrying the producer's `event_id`.
pub fn message_with_event_id(app_id: &ApplicationId, event_type: &str, event_id: &str) -> Message {
    Message {
        event_id: Some(event_id.to_owned()),
        ..message(app_id, event_type, r#"{"ok":true}"#)
    }
}

/// The attempt a worker would record for `claimed`: `response_status_code` 200-299 means
/// Success, anything else Fail.
pub fn attempt(
    claimed: &ClaimedDelivery,
    response_status_code: u16,
    created_at: Timestamp,
) -> Attempt {
    let status = if (200..300).contains(&response_status_code) {
        MessageStatus::Success
    } else {
        MessageStatus::Fail
    };
    let mut request_headers = BTreeMap::new();
    request_headers.insert("content-type".to_owned(), "application/json".to_owned());
    request_headers.insert("webhook-id".to_owned(), claimed.message.id.to_string());
    Attempt {
        id: attempt_id_at(created_at),
        app_id: claimed.message.app_id.clone(),
        msg_id: claimed.message.id.clone(),
        endpoint_id: claimed.endpoint.id.clone(),
        url: claimed.endpoint.url.clone(),
        status,
        response_status_code,
        response: format!("answer {response_status_code}"),
        response_duration_ms: 12,
        trigger: claimed.delivery.trigger,
        request_headers,
        created_at,
    }
}

/// An outcome for `claimed` made with the lease it was claimed with.
pub fn outcome(
    claimed: &ClaimedDelivery,
    attempt: Option<Attempt>,
    delivery: DeliveryOutcome,
    endpoint_health: EndpointHealth,
    now: Timestamp,
) -> OutcomeRecord {
    OutcomeRecord {
        lease: claimed.lease.clone(),
        attempt,
        delivery,
        endpoint_health,
        now,
    }
}

/// The first page of at most `limit` items in ascending order.
pub fn first_page(limit: usize) -> PageRequest {
    PageRequest {
        limit,
        iterator: None,
        order: Ordering::Ascending,
    }
}
