//! `POST /app/{app}/endpoint/{endpoint}/send-example`: sends one endpoint, and only it, an
//! example of an event type, as Svix's call of that name does: the example comes from
//! the `examples` array of the event type's newest schema (`exampleIndex`, default the
//! first), and `svix.ping` sends `{"success": true}` unless an event type of that name
//! says otherwise. It is a real message: listed, attempted and retried like any other.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hookd_core::ids::MessageId;
use hookd_core::model::{EventType, Message};
use hookd_store::StoreError;
use serde::Deserialize;
use serde_json::Value;

use crate::endpoint;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Path};
use crate::message::MessageOut;
use crate::schema::newest_schema;
use crate::state::AppState;
use crate::validate;
use crate::wire;

/// The event type Svix's portals send to test an endpoint, with `{"success": true}`.
const PING: &str = "svix.ping";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventExampleIn {
    #[schema(value_type = validate::NameLike)]
    pub event_type: String,
    /// Which entry of the newest schema's `examples` to send; default 0.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub example_index: Option<u32>,
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    request_body = EventExampleIn,
    responses((status = 202, description = "The example message, committed and queued for this endpoint only", body = MessageOut), (status = 409, description = "The endpoint is disabled", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field, or the event type has no such example", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn send_example(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<EventExampleIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    validate::name_like("eventType", &input.event_type)?;
    let endpoint = endpoint::find(&state, &app_id, &endpoint_id).await?;
    endpoint::require_enabled(&endpoint, "sending it an example")?;
    let payload = match state.store.event_type(&input.event_type).await {
        Ok(event_type) => example_of(&event_type, input.example_index.unwrap_or(0))?,
        Err(StoreError::NotFound(_)) if input.event_type == PING => {
            serde_json::json!({"success": true})
        }
        Err(error) => return Err(error.into()),
    };
    // The example must pass the schema it came from, as any published payload must.
    state
        .schemas
        .check(state.store.as_ref(), &input.event_type, &payload)
        .await?;
    let now = wire::now();
    let (ms, random) = wire::id_parts(now);
    let message = Message {
        id: MessageId::new(ms, random),
        app_id: endpoint.app_id.clone(),
        event_id: None,
        event_type: input.event_type,
        payload: serde_json::to_string(&payload)
            .map_err(|error| ApiError::Internal(error.into()))?,
        channels: Vec::new(),
        tags: Vec::new(),
        source_headers: Vec::new(),
        created_at: now,
    };
    state
        .store
        .create_message(&message, std::slice::from_ref(&endpoint.id))
        .await?;
    tracing::info!(msg_id = %message.id, endpoint_id = %endpoint.id, "example sent");
    Ok((StatusCode::ACCEPTED, Json(message.into())))
}

/// Entry `index` of the `examples` of `event_type`'s newest schema: a JSON object.
fn example_of(event_type: &EventType, index: u32) -> Result<Value, ApiError> {
    let Some(examples) = newest_schema(event_type)
        .and_then(|(_, schema)| schema.get("examples"))
        .and_then(Value::as_array)
    else {
        return Err(ApiError::field(
            "eventType",
            format!(
                "event type {} has no examples in its newest schema (add an \"examples\" array to it)",
                event_type.name
            ),
        ));
    };
    let example = examples
        .get(usize::try_from(index).unwrap_or(usize::MAX))
        .ok_or_else(|| {
            ApiError::field(
                "exampleIndex",
                format!(
                    "event type {} has {} example(s); index {index} is past the last",
                    event_type.name,
                    examples.len()
                ),
            )
        })?;
    if !example.is_object() {
        return Err(ApiError::field(
            "exampleIndex",
            format!(
                "example {index} of event type {} is not a JSON object, and a message payload must be one",
                event_type.name
            ),
        ));
    }
    Ok(example.clone())
}
