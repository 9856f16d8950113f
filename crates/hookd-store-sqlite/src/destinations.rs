//! Deliveries seen from either side: the endpoints one message went to, the messages
//! one endpoint was sent, each with its delivery's state, and the expunging of one
//! attempt's content.
//!
//! **Invariant:** both listings are keyset pages on an indexed key: destinations walk the
//! `(msg_id, endpoint_id)` unique index, an endpoint's messages walk `messages_by_app`
//! and probe that same index for each message (`query_plans` checks both).

use hookd_core::ids::{ApplicationId, EndpointId, MessageId};
use hookd_core::model::Attempt;
use hookd_store::{
    Destination, EndpointMessage, EndpointMessageFilter, Page, PageRequest, StoreError, StoreResult,
};
use rusqlite::types::Value;
use rusqlite::Connection;

use crate::error::DbResultExt;
use crate::messages::filtered_messages;
use crate::pagination::Listing;
use crate::rows::{
    delivery_from_row, endpoint_from_row, message_from_row, DELIVERY_COLUMNS, DELIVERY_WIDTH,
    ENDPOINT_COLUMNS, MESSAGE_COLUMNS,
};

/// The listing of the endpoints one message was sent to.
pub(crate) fn destinations_listing(app_id: &ApplicationId, msg_id: &MessageId) -> Listing {
    Listing::new(
        format!(
            "SELECT {DELIVERY_COLUMNS}, {ENDPOINT_COLUMNS} FROM deliveries d \
             JOIN endpoints e ON e.id = d.endpoint_id"
        ),
        "d.endpoint_id",
    )
    .filter("d.msg_id = ?", vec![Value::Text(msg_id.to_string())])
    .filter("d.app_id = ?", vec![Value::Text(app_id.to_string())])
}

pub(crate) fn list_message_destinations(
    connection: &Connection,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    page: &PageRequest,
) -> StoreResult<Page<Destination>> {
    destinations_listing(app_id, msg_id).fetch(
        connection,
        page,
        |row| {
            Ok(Destination {
                delivery: delivery_from_row(row, 0)?,
                endpoint: endpoint_from_row(row, DELIVERY_WIDTH)?,
            })
        },
        |destination| destination.endpoint.id.to_string(),
    )
}

/// The listing of the messages one endpoint was sent.
pub(crate) fn endpoint_messages_listing(
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    filter: &EndpointMessageFilter,
) -> Listing {
    let select = format!(
        "SELECT {DELIVERY_COLUMNS}, {MESSAGE_COLUMNS} FROM messages m \
         JOIN deliveries d ON d.msg_id = m.id"
    );
    let mut listing = filtered_messages(select, app_id, &filter.message).filter(
        "d.endpoint_id = ?",
        vec![Value::Text(endpoint_id.to_string())],
    );
    if let Some(status) = filter.status {
        listing = listing.filter("d.status = ?", vec![Value::Integer(status.code())]);
    }
    listing
}

pub(crate) fn list_endpoint_messages(
    connection: &Connection,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    filter: &EndpointMessageFilter,
    page: &PageRequest,
) -> StoreResult<Page<EndpointMessage>> {
    endpoint_messages_listing(app_id, endpoint_id, filter).fetch(
        connection,
        page,
        |row| {
            Ok(EndpointMessage {
                delivery: delivery_from_row(row, 0)?,
                message: message_from_row(row, DELIVERY_WIDTH)?,
            })
        },
        |sent| sent.message.id.to_string(),
    )
}

pub(crate) fn expunge_attempt_content(
    connection: &Connection,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    attempt_id: &str,
) -> StoreResult<()> {
    let changed = connection
        .prepare_cached(
            "UPDATE attempts SET response = ?4, request_headers = '{}' \
             WHERE id = ?1 AND msg_id = ?2 AND app_id = ?3",
        )
        .db()?
        .execute([
            attempt_id,
            msg_id.as_str(),
            app_id.as_str(),
            Attempt::EXPUNGED_RESPONSE,
        ])
        .db()?;
    if changed == 0 {
        return Err(StoreError::NotFound("attempt"));
    }
    Ok(())
}
