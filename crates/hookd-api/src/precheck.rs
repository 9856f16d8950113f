//! `POST /app/{app}/msg/precheck/active`: whether a message of this type (and channels)
//! would reach any endpoint now, so a producer can skip building a payload nobody
//! receives. Svix's call of the same name; nothing is written.

use axum::extract::State;
use axum::Json;
use hookd_core::filter::endpoint_accepts;
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Path};
use crate::message::message_channels;
use crate::state::AppState;
use crate::validate;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePrecheckIn {
    #[schema(value_type = validate::NameLike)]
    pub event_type: String,
    /// At most 10, as for a message.
    #[serde(default)]
    #[schema(value_type = Option<Vec<validate::Channel>>, max_items = 10)]
    pub channels: Option<Vec<String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessagePrecheckOut {
    /// Whether an enabled endpoint of the application would be sent such a message.
    pub active: bool,
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg/precheck/active",
    tag = "message",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid")),
    request_body = MessagePrecheckIn,
    responses((status = 200, body = MessagePrecheckOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn precheck_active(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(input): ApiJson<MessagePrecheckIn>,
) -> ApiResult<Json<MessagePrecheckOut>> {
    validate::name_like("eventType", &input.event_type)?;
    let channels = message_channels(input.channels)?;
    let app = state.store.application(&app_id).await?;
    let endpoints = state.store.active_endpoints(&app.id).await?;
    let active = endpoints.iter().any(|endpoint| {
        endpoint_accepts(
            endpoint.event_types.as_deref(),
            endpoint.channels.as_deref(),
            &input.event_type,
            &channels,
        )
    });
    Ok(Json(MessagePrecheckOut { active }))
}
