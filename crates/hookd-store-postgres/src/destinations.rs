//! Deliveries seen from either side: the endpoints one message went to, the messages
//! one endpoint was sent, each with its delivery's state, and the expunging of one
//! attempt's content.
//!
//! **Invariant:** both listings are keyset pages on an indexed key: destinations walk the
//! `(msg_id, endpoint_id)` unique index, an endpoint's messages walk `messages_by_app`
//! and probe that same index for each message.

use hookd_core::ids::{ApplicationId, EndpointId, MessageId};
use hookd_core::model::Attempt;
use hookd_store::{
    Destination, EndpointMessage, EndpointMessageFilter, Page, PageRequest, StoreError, StoreResult,
};

use crate::db::Db;
use crate::messages::filtered_messages;
use crate::pagination::Listing;
use crate::rows::{
    delivery_from_row, endpoint_from_row_at, message_from_row_at, status_code, DELIVERY_COLUMNS,
    ENDPOINT_COLUMNS, MESSAGE_COLUMNS,
};

/// How many columns [`DELIVERY_COLUMNS`] has: the joined record's columns follow.
const DELIVERY_WIDTH: usize = 10;

/// The listing of the endpoints one message was sent to.
pub(crate) fn destinations_listing(app_id: &ApplicationId, msg_id: &MessageId) -> Listing {
    let select = format!(
        "SELECT {DELIVERY_COLUMNS}, {ENDPOINT_COLUMNS} FROM deliveries d \
         JOIN endpoints e ON e.id = d.endpoint_id"
    );
    let mut listing = Listing::new(select, "d.endpoint_id");
    let msg = listing.bind(msg_id.to_string());
    listing.filter(format!("d.msg_id = {msg}"));
    let app = listing.bind(app_id.to_string());
    listing.filter(format!("d.app_id = {app}"));
    listing
}

pub(crate) async fn list_message_destinations(
    db: &Db,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    page: &PageRequest,
) -> StoreResult<Page<Destination>> {
    destinations_listing(app_id, msg_id)
        .fetch(
            db,
            page,
            |row| {
                Ok(Destination {
                    delivery: delivery_from_row(row)?,
                    endpoint: endpoint_from_row_at(row, DELIVERY_WIDTH)?,
                })
            },
            |destination| destination.endpoint.id.to_string(),
        )
        .await
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
    let mut listing = filtered_messages(select, app_id, &filter.message);
    let endpoint = listing.bind(endpoint_id.to_string());
    listing.filter(format!("d.endpoint_id = {endpoint}"));
    if let Some(status) = filter.status {
        let status = listing.bind(status_code(status));
        listing.filter(format!("d.status = {status}"));
    }
    listing
}

pub(crate) async fn list_endpoint_messages(
    db: &Db,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    filter: &EndpointMessageFilter,
    page: &PageRequest,
) -> StoreResult<Page<EndpointMessage>> {
    endpoint_messages_listing(app_id, endpoint_id, filter)
        .fetch(
            db,
            page,
            |row| {
                Ok(EndpointMessage {
                    delivery: delivery_from_row(row)?,
                    message: message_from_row_at(row, DELIVERY_WIDTH)?,
                })
            },
            |sent| sent.message.id.to_string(),
        )
        .await
}

pub(crate) async fn expunge_attempt_content(
    db: &Db,
    app_id: &ApplicationId,
    msg_id: &MessageId,
    attempt_id: &str,
) -> StoreResult<()> {
    let changed = db
        .execute(
            "UPDATE attempts SET response = $4, request_headers = '{}'::jsonb \
             WHERE id = $1 AND msg_id = $2 AND app_id = $3",
            &[
                &attempt_id,
                &msg_id.as_str(),
                &app_id.as_str(),
                &Attempt::EXPUNGED_RESPONSE,
            ],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound("attempt"));
    }
    Ok(())
}
