//! `/api/v1/app/{app}/msg`: publishing and reading messages.
//!
//! Publishing validates the payload against its event type's schema, picks the matching
//! endpoints with `hookd_core::filter`, and commits the message with one delivery per
//! endpoint in one store call before answering 202.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hookd_core::ids::{ApplicationId, MessageId};
use hookd_core::model::{Application, Message};
use hookd_store::{MessageFilter, Ordering, PublishLease, Published, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::Instrument;

use crate::application::ApplicationIn;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Path, Query};
use crate::pagination::{page_request, ListResponse};
use crate::state::AppState;
use crate::validate;
use crate::wire;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    #[schema(value_type = validate::NameLike)]
    pub event_type: String,
    /// The message's content, a JSON object, stored and sent exactly as published.
    #[schema(value_type = Object)]
    pub payload: Value,
    #[serde(default)]
    #[schema(value_type = Option<validate::NameLike>)]
    pub event_id: Option<String>,
    /// At most 10.
    #[serde(default)]
    #[schema(value_type = Option<Vec<validate::Channel>>, max_items = 10)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<validate::Tag>>)]
    pub tags: Option<Vec<String>>,
    /// Creates the application when the path names one that does not exist yet, with
    /// the path as its uid (a `uid` given here too is not used).
    #[serde(default)]
    pub application: Option<ApplicationIn>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    pub id: String,
    pub event_id: Option<String>,
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: hookd_core::Timestamp,
}

impl From<Message> for MessageOut {
    fn from(message: Message) -> Self {
        // The store only holds payloads that parsed when they were published. A payload
        // that expired or was expunged reads as Svix shows it.
        let payload = if message.payload_expired() {
            serde_json::json!({"expired": true})
        } else {
            serde_json::from_str(&message.payload).unwrap_or(Value::Null)
        };
        Self {
            id: message.id.to_string(),
            event_id: message.event_id,
            event_type: message.event_type,
            payload,
            channels: (!message.channels.is_empty()).then_some(message.channels),
            tags: (!message.tags.is_empty()).then_some(message.tags),
            timestamp: message.created_at,
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg",
    tag = "message",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid")),
    request_body = MessageIn,
    responses((status = 202, description = "Committed to disk", body = MessageOut), (status = 409, description = "eventId already used", body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(input): ApiJson<MessageIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    let started = std::time::Instant::now();
    let span = tracing::info_span!(
        "publish",
        app_id = %app_id,
        event_type = %input.event_type,
        msg_id = tracing::field::Empty,
    );
    let result = publish(state, app_id, input).instrument(span.clone()).await;
    crate::metrics::record_publish(started.elapsed(), result.is_ok());
    if let Err(error) = &result {
        span.in_scope(|| tracing::debug!(%error, "publish refused"));
    }
    result
}

/// The publish itself; `create` wraps it in a span and measures it.
async fn publish(
    state: AppState,
    app_id: String,
    input: MessageIn,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    validate::name_like("eventType", &input.event_type)?;
    if let Some(event_id) = &input.event_id {
        validate::name_like("eventId", event_id)?;
    }
    let channels = message_channels(input.channels)?;
    let tags = input.tags.unwrap_or_default();
    validate::each("tags", &tags, validate::tag)?;
    if !input.payload.is_object() {
        return Err(ApiError::field("payload", "must be a JSON object"));
    }
    // Checked even when the application exists and it goes unused: the body is what the
    // document says it is either way.
    if let Some(application) = &input.application {
        application.validate()?;
    }
    let app = application_for_publish(&state, &app_id, input.application).await?;
    state
        .schemas
        .check(state.store.as_ref(), &input.event_type, &input.payload)
        .await?;

    let now = wire::now();
    let (ms, random) = wire::id_parts(now);
    let payload =
        serde_json::to_string(&input.payload).map_err(|error| ApiError::Internal(error.into()))?;
    let message = Message {
        id: MessageId::new(ms, random),
        app_id: app.id,
        event_id: input.event_id,
        event_type: input.event_type,
        payload,
        channels,
        tags,
        source_headers: Vec::new(),
        created_at: now,
    };
    let deliveries = publish_and_dispatch(&state, &message).await?;
    tracing::debug!(msg_id = %message.id, deliveries, "message committed");
    tracing::Span::current().record("msg_id", tracing::field::display(&message.id));
    // The answer carries the payload as received, already parsed: not read back from
    // the stored text.
    let out = MessageOut {
        id: message.id.to_string(),
        event_id: message.event_id,
        event_type: message.event_type,
        payload: input.payload,
        channels: (!message.channels.is_empty()).then_some(message.channels),
        tags: (!message.tags.is_empty()).then_some(message.tags),
        timestamp: message.created_at,
    };
    Ok((StatusCode::ACCEPTED, Json(out)))
}

/// Deliveries a publish may lease to this node's worker: the fan-out of most
/// applications; a wider one leaves the rest to the worker's claims.
const LEASED_PER_PUBLISH: usize = 16;

/// Publishes `message` and returns how many deliveries it made. With a worker on this
/// node, the deliveries are leased to it in the same transaction and handed over at once.
pub(crate) async fn publish_and_dispatch(state: &AppState, message: &Message) -> ApiResult<usize> {
    let Some(worker) = state.worker.clone() else {
        return Ok(state.store.publish_message(message, None).await?.deliveries);
    };
    let store = state.store.clone();
    let message = message.clone();
    let app_id = message.app_id.clone();
    let deliveries = with_local_dispatch(worker, app_id, move |lease| async move {
        let published = store.publish_message(&message, lease).await?;
        Ok((published.deliveries, published))
    })
    .await?;
    Ok(deliveries)
}

/// Runs `write` (a publish or an ingest to `app_id`) with a lease on free slots of
/// `worker`, this node's worker, then hands what it leased to that worker.
///
/// The write and the hand-over run in a task of their own: once the write is under
/// way, a client that hangs up cannot strand committed deliveries under a lease that
/// nobody is attempting.
pub(crate) async fn with_local_dispatch<T, W, F>(
    worker: std::sync::Arc<hookd_delivery::Worker>,
    app_id: ApplicationId,
    write: W,
) -> Result<T, StoreError>
where
    T: Send + 'static,
    W: FnOnce(Option<PublishLease>) -> F,
    F: std::future::Future<Output = Result<(T, Published), StoreError>> + Send + 'static,
{
    let reservation = worker.reserve(app_id, LEASED_PER_PUBLISH);
    let write = write(reservation.publish_lease());
    let task = tokio::spawn(async move {
        let (value, published) = write.await?;
        worker.dispatch(published, reservation);
        Ok(value)
    });
    match task.await {
        Ok(result) => result,
        // The task panicked (or the runtime is going down): whether the write
        // committed is unknown, as after a lost connection.
        Err(error) => Err(StoreError::Internal(Box::new(error))),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg",
    tag = "message",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query), ("event_types" = Option<String>, Query), ("channel" = Option<String>, Query), ("tag" = Option<String>, Query), ("before" = Option<String>, Query, format = DateTime, min_length = 1), ("after" = Option<String>, Query, format = DateTime, min_length = 1)),
    responses((status = 200, body = ListResponse<MessageOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    query: Query,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    let app = state.store.application(&app_id).await?;
    let page = page_request(&query, Ordering::Descending)?;
    let filter = message_filter_from(&query)?;
    let found = state.store.list_messages(&app.id, &filter, &page).await?;
    Ok(Json(ListResponse::from_page(found, MessageOut::from)))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}",
    tag = "message",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("msg_id" = validate::IdOrUid, Path, description = "Message id or eventId")),
    responses((status = 200, body = MessageOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<Json<MessageOut>> {
    let app = state.store.application(&app_id).await?;
    Ok(Json(state.store.message(&app.id, &msg_id).await?.into()))
}

/// Removes the message's payload now (content published by mistake, say), and the
/// response bodies and request headers of its attempts. Its deliveries that were still
/// pending stop, each failed with an attempt saying why; the message can no longer be
/// resent. Reading it afterwards shows the payload `{"expired": true}`, as Svix does.
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/content",
    tag = "message",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("msg_id" = validate::IdOrUid, Path, description = "Message id or eventId")),
    responses((status = 204, description = "Payload and attempt content removed, unfinished deliveries stopped"), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn expunge_content(
    State(state): State<AppState>,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = state.store.application(&app_id).await?;
    let message = state.store.message(&app.id, &msg_id).await?;
    let stopped = state
        .store
        .expunge_message_content(&app.id, &message.id, wire::now())
        .await?;
    tracing::info!(msg_id = %message.id, stopped_deliveries = stopped, "message content expunged");
    Ok(StatusCode::NO_CONTENT)
}

/// The application a publish goes to, created from the body's `application` when the
/// path names one that does not exist yet (Svix's publish-and-create).
async fn application_for_publish(
    state: &AppState,
    app_id: &str,
    create: Option<ApplicationIn>,
) -> Result<Application, ApiError> {
    if let Some(app) = state.applications.get(app_id) {
        return Ok(app);
    }
    match state.store.application(app_id).await {
        Ok(app) => {
            state.applications.insert(app_id, &app);
            Ok(app)
        }
        Err(StoreError::NotFound(what)) => {
            let Some(mut input) = create else {
                return Err(ApiError::NotFound(what.to_owned()));
            };
            // The path names the application it creates, whether or not the body gives
            // a uid too: the path must find it again (the next publish to it, a GET).
            validate::name_like("app_id", app_id)?;
            input.uid = Some(app_id.to_owned());
            input.validate()?;
            let app = input.into_application();
            match state.store.create_application(&app).await {
                Ok(()) => Ok(app),
                // Another publish created it first.
                Err(StoreError::Conflict(_)) => Ok(state.store.application(app_id).await?),
                Err(error) => Err(error.into()),
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// A message's `channels`, checked: each a valid channel name, at most 10.
pub(crate) fn message_channels(channels: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let channels = channels.unwrap_or_default();
    validate::each("channels", &channels, validate::channel)?;
    if channels.len() > 10 {
        return Err(ApiError::field(
            "channels",
            "at most 10 channels per message",
        ));
    }
    Ok(channels)
}

/// The message filters of a listing's query: `event_types`, `channel`, `tag`, `before`,
/// `after`.
pub(crate) fn message_filter_from(query: &Query) -> Result<MessageFilter, ApiError> {
    Ok(MessageFilter {
        event_types: query.list("event_types"),
        channel: query.get("channel").map(str::to_owned),
        tag: query.get("tag").map(str::to_owned),
        before: query.timestamp("before")?,
        after: query.timestamp("after")?,
    })
}
