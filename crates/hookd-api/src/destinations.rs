//! Deliveries seen from either side, as Svix lists them: the endpoints one message was
//! sent to (`GET /app/{app}/msg/{msg}/endpoint`, "attempted destinations") and the
//! messages one endpoint was sent (`GET /app/{app}/endpoint/{endpoint}/msg`, "attempted
//! messages"), each with where its delivery stands: status and next attempt.

use axum::extract::State;
use axum::Json;
use hookd_core::model::{Delivery, MessageStatus};
use hookd_store::{Destination, EndpointMessage, EndpointMessageFilter, Ordering};
use serde::Serialize;

use crate::attempt::status_from;
use crate::endpoint::EndpointOut;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Path, Query};
use crate::message::{message_filter_from, MessageOut};
use crate::pagination::{page_request, ListResponse};
use crate::state::AppState;
use crate::wire;

/// Where one delivery stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryState {
    /// 0 success, 1 pending, 2 fail, 3 sending (failed, retrying), 4 canceled.
    pub status: i64,
    /// hookd addition: the status in words.
    pub status_text: &'static str,
    /// When the next attempt is due; `null` once the delivery is finished.
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt: Option<hookd_core::Timestamp>,
}

impl DeliveryState {
    /// The state of `delivery`. Without `expanded_statuses` a canceled delivery reads as a
    /// success, as Svix shows it to clients that predate the canceled status.
    fn of(delivery: &Delivery, expanded_statuses: bool) -> Self {
        let status = match delivery.status {
            MessageStatus::Canceled if !expanded_statuses => MessageStatus::Success,
            status => status,
        };
        Self {
            status: status.code(),
            status_text: status.text(),
            next_attempt: delivery.next_attempt_at,
        }
    }
}

/// An endpoint a message was sent to, with its delivery's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    #[serde(flatten)]
    pub state: DeliveryState,
}

/// A message an endpoint was sent, with its delivery's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointMessageOut {
    #[serde(flatten)]
    pub message: MessageOut,
    #[serde(flatten)]
    pub state: DeliveryState,
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
    tag = "attempt",
    params(("app_id" = crate::validate::IdOrUid, Path, description = "Application id or uid"), ("msg_id" = crate::validate::IdOrUid, Path, description = "Message id or eventId"), ("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query), ("expanded_statuses" = Option<bool>, Query, description = "Whether a canceled delivery shows as canceled (4, default) or, as older clients expect, as success (0)")),
    responses((status = 200, description = "The endpoints the message was sent to, oldest endpoint first (as Svix lists them)", body = ListResponse<MessageEndpointOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_attempted_destinations(
    State(state): State<AppState>,
    Path((app_id, msg_id)): Path<(String, String)>,
    query: Query,
) -> ApiResult<Json<ListResponse<MessageEndpointOut>>> {
    let app = state.store.application(&app_id).await?;
    let message = state.store.message(&app.id, &msg_id).await?;
    let page = page_request(&query, Ordering::Ascending)?;
    let expanded = query.flag_or("expanded_statuses", true)?;
    let found = state
        .store
        .list_message_destinations(&app.id, &message.id, &page)
        .await?;
    Ok(Json(ListResponse::from_page(
        found,
        |Destination { delivery, endpoint }| MessageEndpointOut {
            state: DeliveryState::of(&delivery, expanded),
            endpoint: endpoint.into(),
        },
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
    tag = "attempt",
    params(("app_id" = crate::validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = crate::validate::IdOrUid, Path, description = "Endpoint id or uid"), ("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query), ("status" = Option<i64>, Query, minimum = 0, maximum = 4, description = "The delivery's status: 0 success, 1 pending, 2 fail, 3 sending, 4 canceled"), ("event_types" = Option<String>, Query), ("channel" = Option<String>, Query), ("tag" = Option<String>, Query), ("before" = Option<String>, Query, format = DateTime, min_length = 1), ("after" = Option<String>, Query, format = DateTime, min_length = 1), ("with_content" = Option<bool>, Query, description = "Whether payloads are included (default true); without, each payload reads {}"), ("expanded_statuses" = Option<bool>, Query, description = "Whether a canceled delivery shows as canceled (4, default) or, as older clients expect, as success (0)")),
    responses((status = 200, description = "The messages the endpoint was sent, newest first", body = ListResponse<EndpointMessageOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_attempted_messages(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    query: Query,
) -> ApiResult<Json<ListResponse<EndpointMessageOut>>> {
    let app = state.store.application(&app_id).await?;
    let endpoint = state.store.endpoint(&app.id, &endpoint_id).await?;
    let page = page_request(&query, Ordering::Descending)?;
    let filter = EndpointMessageFilter {
        message: message_filter_from(&query)?,
        status: status_from(&query)?,
    };
    let with_content = query.flag_or("with_content", true)?;
    let expanded = query.flag_or("expanded_statuses", true)?;
    let found = state
        .store
        .list_endpoint_messages(&app.id, &endpoint.id, &filter, &page)
        .await?;
    Ok(Json(ListResponse::from_page(
        found,
        |EndpointMessage { delivery, message }| {
            let mut message = MessageOut::from(message);
            if !with_content {
                message.payload = serde_json::json!({});
            }
            EndpointMessageOut {
                state: DeliveryState::of(&delivery, expanded),
                message,
            }
        },
    )))
}
