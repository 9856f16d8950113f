//! Messages and the attempt log: publishing (a message with its deliveries), lookups
//! and filtered listings.
//!
//! **Invariants:** a message and its deliveries are written by one statement, so they
//! commit together or not at all, and the call returns only after that commit; the
//! payload is stored as the exact text given (a `text` column, never jsonb); `eventId`
//! is unique per application; reads are scoped by `app_id`.

use hookd_core::ids::{ApplicationId, DeliveryId, EndpointId, MessageId};
use hookd_core::model::{Attempt, Message, MessageStatus, TriggerType};
use hookd_core::Timestamp;
use hookd_store::{AttemptFilter, MessageFilter, Page, PageRequest, StoreError, StoreResult};
use tokio_postgres::types::{Json, ToSql};

use crate::db::{Db, Param};
use crate::pagination::Listing;
use crate::publisher::Target;
use crate::rows::{
    attempt_from_row, message_from_row, status_code, trigger_code, ATTEMPT_COLUMNS, MESSAGE_COLUMNS,
};

/// Writes `message` and one pending delivery, due at its creation, per endpoint of
/// `endpoint_ids` that exists in the application (an endpoint deleted meanwhile, or one
/// of another application, is skipped; one listed twice gets one delivery). Returns how
/// many deliveries were written.
pub(crate) async fn create_message(
    db: &Db,
    message: &Message,
    endpoint_ids: &[EndpointId],
) -> StoreResult<u64> {
    let targets = Target::unleased_to_each(message, endpoint_ids);
    let params = create_message_params(message, &targets);
    db.execute_naming(&create_message_sql(), &refs(&params), |constraint| {
        message_conflict(constraint, message)
    })
    .await
}

/// The statement that writes a message and its deliveries (parameters from
/// [`create_message_params`]), returning the ids of the deliveries written; the ingest
/// of an inbound request runs it in its own transaction.
pub(crate) fn create_message_sql() -> String {
    // One statement is one transaction: the data-modifying CTE inserts the message, and
    // the outer INSERT fans it out, joined through `endpoints` so that only endpoints
    // of the application get a delivery. A missing application fails the message's
    // foreign key (NotFound); a taken eventId its unique key (Conflict). A delivery
    // written leased is due when its lease expires (the lease is a visibility timeout).
    format!(
        "WITH message AS ( \
             INSERT INTO messages (id, app_id, event_id, event_type, payload, channels, tags, \
                 created_at, source_headers) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $11) \
             RETURNING id, app_id, created_at \
         ) \
         INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, n_attempts, \
             trigger_type, next_attempt_at, created_at, updated_at, lease_token, \
             lease_expires_at) \
         SELECT target.delivery_id, message.app_id, message.id, e.id, {pending}, 0, \
             {scheduled}, coalesce(target.lease_expires_at, message.created_at), \
             message.created_at, message.created_at, target.lease_token, \
             target.lease_expires_at \
         FROM message \
         CROSS JOIN unnest($9::text[], $10::text[], $12::text[], $13::timestamptz[]) \
             AS target (endpoint_id, delivery_id, lease_token, lease_expires_at) \
         JOIN endpoints e ON e.id = target.endpoint_id AND e.app_id = message.app_id \
         RETURNING id",
        pending = status_code(MessageStatus::Pending),
        scheduled = trigger_code(TriggerType::Scheduled),
    )
}

/// The parameters of [`create_message_sql`]: the message's columns, each target's
/// endpoint and delivery id, the source headers (NULL when there are none, as for every
/// published message), then each target's lease token and expiry (NULL when unleased).
pub(crate) fn create_message_params(message: &Message, targets: &[Target]) -> Vec<Param> {
    let endpoint_ids: Vec<String> = targets.iter().map(|t| t.endpoint_id.to_string()).collect();
    let delivery_ids: Vec<String> = targets.iter().map(|t| t.delivery_id.to_string()).collect();
    let lease_tokens: Vec<Option<String>> = targets
        .iter()
        .map(|t| t.lease.as_ref().map(|(token, _)| token.clone()))
        .collect();
    let lease_expiries: Vec<Option<Timestamp>> = targets
        .iter()
        .map(|t| t.lease.as_ref().map(|(_, expires_at)| *expires_at))
        .collect();
    let source_headers =
        (!message.source_headers.is_empty()).then(|| Json(message.source_headers.clone()));
    vec![
        Box::new(message.id.to_string()),
        Box::new(message.app_id.to_string()),
        Box::new(message.event_id.clone()),
        Box::new(message.event_type.clone()),
        Box::new(message.payload.clone()),
        Box::new(Json(message.channels.clone())),
        Box::new(Json(message.tags.clone())),
        Box::new(message.created_at),
        Box::new(endpoint_ids),
        Box::new(delivery_ids),
        Box::new(source_headers),
        Box::new(lease_tokens),
        Box::new(lease_expiries),
    ]
}

/// The parameters as tokio-postgres takes them.
pub(crate) fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// A message of the application by id, or else by its `eventId`.
pub(crate) async fn message(
    db: &Db,
    app_id: &ApplicationId,
    id_or_event_id: &str,
) -> StoreResult<Message> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m \
         WHERE m.app_id = $1 AND (m.id = $2 OR m.event_id = $2) \
         ORDER BY m.id = $2 DESC LIMIT 1"
    );
    match db
        .query_opt(&sql, &[&app_id.as_str(), &id_or_event_id])
        .await?
    {
        Some(row) => message_from_row(&row),
        None => Err(StoreError::NotFound("message")),
    }
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
    let mut listing = Listing::new(select, "m.id");
    let app = listing.bind(app_id.to_string());
    listing.filter(format!("m.app_id = {app}"));
    for condition in message_conditions(&mut listing, filter) {
        listing.filter(condition);
    }
    if let Some(before) = filter.before {
        let before = listing.bind(before);
        listing.filter(format!("m.created_at < {before}"));
    }
    if let Some(after) = filter.after {
        let after = listing.bind(after);
        listing.filter(format!("m.created_at > {after}"));
    }
    listing
}

pub(crate) async fn list_messages(
    db: &Db,
    app_id: &ApplicationId,
    filter: &MessageFilter,
    page: &PageRequest,
) -> StoreResult<Page<Message>> {
    messages_listing(app_id, filter)
        .fetch(db, page, message_from_row, |message| message.id.to_string())
        .await
}

pub(crate) async fn attempt(
    db: &Db,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    attempt_id: &str,
) -> StoreResult<Attempt> {
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts t \
         WHERE t.id = $1 AND t.msg_id = $2 AND t.app_id = $3"
    );
    let row = db
        .query_opt(&sql, &[&attempt_id, &msg_id.as_str(), &app_id.as_str()])
        .await?;
    match row {
        Some(row) => attempt_from_row(&row),
        None => Err(StoreError::NotFound("attempt")),
    }
}

/// The listing of one application's attempts matching `filter`.
pub(crate) fn attempts_listing(app_id: &ApplicationId, filter: &AttemptFilter) -> Listing {
    let select = format!("SELECT {ATTEMPT_COLUMNS} FROM attempts t");
    let mut listing = Listing::new(select, "t.id");
    let app = listing.bind(app_id.to_string());
    listing.filter(format!("t.app_id = {app}"));
    if let Some(endpoint_id) = &filter.endpoint_id {
        let endpoint = listing.bind(endpoint_id.to_string());
        listing.filter(format!("t.endpoint_id = {endpoint}"));
    }
    if let Some(msg_id) = &filter.msg_id {
        let msg = listing.bind(msg_id.to_string());
        listing.filter(format!("t.msg_id = {msg}"));
    }
    if let Some(status) = filter.status {
        let status = listing.bind(status_code(status));
        listing.filter(format!("t.status = {status}"));
    }
    if let Some(codes) = &filter.response_status_codes {
        let first = listing.bind(i32::from(*codes.start()));
        let last = listing.bind(i32::from(*codes.end()));
        listing.filter(format!("t.response_status_code BETWEEN {first} AND {last}"));
    }
    if let Some(before) = filter.before {
        let before = listing.bind(before);
        listing.filter(format!("t.created_at < {before}"));
    }
    if let Some(after) = filter.after {
        let after = listing.bind(after);
        listing.filter(format!("t.created_at > {after}"));
    }
    let conditions = message_conditions(&mut listing, &filter.message);
    if !conditions.is_empty() {
        listing.filter(format!(
            "EXISTS (SELECT 1 FROM messages m WHERE m.id = t.msg_id AND {})",
            conditions.join(" AND ")
        ));
    }
    listing
}

/// The conditions on `messages m` by which `filter` keeps a message, other than its
/// time, their values bound in `listing`.
fn message_conditions(listing: &mut Listing, filter: &MessageFilter) -> Vec<String> {
    let mut conditions = Vec::new();
    if let Some(event_types) = &filter.event_types {
        let types = listing.bind(event_types.clone());
        conditions.push(format!("m.event_type = ANY({types})"));
    }
    if let Some(channel) = &filter.channel {
        let channel = listing.bind(channel.clone());
        conditions.push(format!("m.channels ? {channel}"));
    }
    if let Some(tag) = &filter.tag {
        let tag = listing.bind(tag.clone());
        conditions.push(format!("m.tags ? {tag}"));
    }
    conditions
}

pub(crate) async fn list_attempts(
    db: &Db,
    app_id: &ApplicationId,
    filter: &AttemptFilter,
    page: &PageRequest,
) -> StoreResult<Page<Attempt>> {
    attempts_listing(app_id, filter)
        .fetch(db, page, attempt_from_row, |attempt| attempt.id.to_string())
        .await
}

/// A fresh delivery id, time-ordered by `created_at`.
pub(crate) fn new_delivery_id(created_at: Timestamp) -> DeliveryId {
    let unix_ms = u64::try_from(created_at.timestamp_millis()).unwrap_or(0);
    DeliveryId::new(unix_ms, rand::random())
}

fn message_conflict(constraint: &str, message: &Message) -> StoreError {
    if constraint == "messages_event_id_key" {
        StoreError::Conflict(format!(
            "a message with eventId {:?} already exists in this application",
            message.event_id.as_deref().unwrap_or_default()
        ))
    } else {
        StoreError::Conflict(format!("a message with id {} already exists", message.id))
    }
}
