//! Attempts: listing by endpoint and by message with status and time filters, one attempt
//! with its response body, and `resend`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hookd_core::model::{Attempt, MessageStatus};
use hookd_store::{AttemptFilter, MessageFilter, Ordering};
use serde::Serialize;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Path, Query};
use crate::message::message_filter_from;
use crate::pagination::{page_request, ListResponse};
use crate::state::AppState;
use crate::wire;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    pub id: String,
    pub msg_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub response: String,
    pub response_status_code: u16,
    pub response_duration_ms: u64,
    pub status: i64,
    pub status_text: &'static str,
    pub trigger_type: i64,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: hookd_core::Timestamp,
    /// hookd addition: the request headers as sent (sensitive values redacted).
    pub request_headers: std::collections::BTreeMap<String, String>,
}

impl From<Attempt> for MessageAttemptOut {
    fn from(attempt: Attempt) -> Self {
        Self {
            id: attempt.id.to_string(),
            msg_id: attempt.msg_id.to_string(),
            endpoint_id: attempt.endpoint_id.to_string(),
            url: attempt.url,
            response: attempt.response,
            response_status_code: attempt.response_status_code,
            response_duration_ms: attempt.response_duration_ms,
            status: attempt.status.code(),
            status_text: attempt.status.text(),
            trigger_type: attempt.trigger.code(),
            timestamp: attempt.created_at,
            request_headers: attempt.request_headers,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
    tag = "attempt",
    params(("app_id" = crate::validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = crate::validate::IdOrUid, Path, description = "Endpoint id or uid"), ("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query), ("status" = Option<i64>, Query, minimum = 0, maximum = 4, description = "0 success, 1 pending, 2 fail, 3 sending, 4 canceled"), ("status_code_class" = Option<StatusCodeClass>, Query), ("event_types" = Option<String>, Query), ("channel" = Option<String>, Query), ("tag" = Option<String>, Query), ("with_content" = Option<bool>, Query, description = "Whether each response body is included (default true); without, it reads {}"), ("before" = Option<String>, Query, format = DateTime, min_length = 1), ("after" = Option<String>, Query, format = DateTime, min_length = 1)),
    responses((status = 200, body = ListResponse<MessageAttemptOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_by_endpoint(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    query: Query,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = state.store.application(&app_id).await?;
    let endpoint = state.store.endpoint(&app.id, &endpoint_id).await?;
    let mut filter = filter_from(&query)?;
    filter.endpoint_id = Some(endpoint.id);
    let page = page_request(&query, Ordering::Descending)?;
    let found = state.store.list_attempts(&app.id, &filter, &page).await?;
    Ok(Json(ListResponse::from_page(found, list_view(&query)?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
    tag = "attempt",
    params(("app_id" = crate::validate::IdOrUid, Path, description = "Application id or uid"), ("msg_id" = crate::validate::IdOrUid, Path, description = "Message id or eventId"), ("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query), ("status" = Option<i64>, Query, minimum = 0, maximum = 4, description = "0 success, 1 pending, 2 fail, 3 sending, 4 canceled"), ("status_code_class" = Option<StatusCodeClass>, Query), ("event_types" = Option<String>, Query), ("channel" = Option<String>, Query), ("tag" = Option<String>, Query), ("with_content" = Option<bool>, Query, description = "Whether each response body is included (default true); without, it reads {}"), ("endpoint_id" = Option<String>, Query), ("before" = Option<String>, Query, format = DateTime, min_length = 1), ("after" = Option<String>, Query, format = DateTime, min_length = 1)),
    responses((status = 200, body = ListResponse<MessageAttemptOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_by_message(
    State(state): State<AppState>,
    Path((app_id, msg_id)): Path<(String, String)>,
    query: Query,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = state.store.application(&app_id).await?;
    let message = state.store.message(&app.id, &msg_id).await?;
    let mut filter = filter_from(&query)?;
    filter.msg_id = Some(message.id);
    if let Some(endpoint) = query.get("endpoint_id") {
        filter.endpoint_id = Some(state.store.endpoint(&app.id, endpoint).await?.id);
    }
    let page = page_request(&query, Ordering::Descending)?;
    let found = state.store.list_attempts(&app.id, &filter, &page).await?;
    Ok(Json(ListResponse::from_page(found, list_view(&query)?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
    tag = "attempt",
    params(("app_id" = crate::validate::IdOrUid, Path, description = "Application id or uid"), ("msg_id" = crate::validate::IdOrUid, Path, description = "Message id or eventId"), ("attempt_id" = crate::validate::IdOrUid, Path)),
    responses((status = 200, body = MessageAttemptOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptOut>> {
    let app = state.store.application(&app_id).await?;
    let message = state.store.message(&app.id, &msg_id).await?;
    Ok(Json(
        state
            .store
            .attempt(&app.id, &message.id, &attempt_id)
            .await?
            .into(),
    ))
}

/// Empties one attempt's content: its response body reads `EXPUNGED` and its request
/// headers are dropped, as when an endpoint answered with something sensitive.
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
    tag = "attempt",
    params(("app_id" = crate::validate::IdOrUid, Path, description = "Application id or uid"), ("msg_id" = crate::validate::IdOrUid, Path, description = "Message id or eventId"), ("attempt_id" = crate::validate::IdOrUid, Path)),
    responses((status = 204, description = "Expunged"), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn expunge_content(
    State(state): State<AppState>,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let app = state.store.application(&app_id).await?;
    let message = state.store.message(&app.id, &msg_id).await?;
    state
        .store
        .expunge_attempt_content(&app.id, &message.id, &attempt_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the message to the endpoint again, now, as a manual attempt.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
    tag = "attempt",
    params(("app_id" = crate::validate::IdOrUid, Path, description = "Application id or uid"), ("msg_id" = crate::validate::IdOrUid, Path, description = "Message id or eventId"), ("endpoint_id" = crate::validate::IdOrUid, Path, description = "Endpoint id or uid")),
    responses((status = 202, description = "Queued for a manual attempt now"), (status = 400, description = "The message's payload expired or was expunged (code missing_payload)", body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn resend(
    State(state): State<AppState>,
    Path((app_id, msg_id, endpoint_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let app = state.store.application(&app_id).await?;
    let message = state.store.message(&app.id, &msg_id).await?;
    let endpoint = state.store.endpoint(&app.id, &endpoint_id).await?;
    if message.payload_expired() {
        return Err(ApiError::MissingPayload(format!(
            "cannot resend message {}: its payload expired or was expunged",
            message.id
        )));
    }
    crate::endpoint::require_enabled(&endpoint, "resending")?;
    state
        .store
        .resend(&app.id, &message.id, &endpoint.id, wire::now())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
}

fn filter_from(query: &Query) -> Result<AttemptFilter, ApiError> {
    let response_status_codes = query
        .parse::<u16>("status_code_class")?
        .map(|class| match class {
            0 => Ok(0..=99),
            100 | 200 | 300 | 400 | 500 => Ok(class..=class + 99),
            _ => Err(ApiError::field(
                "query parameter status_code_class",
                "expected 0 (no response), 100, 200, 300, 400 or 500",
            )),
        })
        .transpose()?;
    Ok(AttemptFilter {
        endpoint_id: None,
        msg_id: None,
        status: status_from(query)?,
        response_status_codes,
        // `before`/`after` bound the attempt's time here, not the message's.
        message: MessageFilter {
            before: None,
            after: None,
            ..message_filter_from(query)?
        },
        before: query.timestamp("before")?,
        after: query.timestamp("after")?,
    })
}

/// The `status` query parameter: a delivery status by its Svix number.
pub(crate) fn status_from(query: &Query) -> Result<Option<MessageStatus>, ApiError> {
    query
        .parse::<i64>("status")?
        .map(|code| {
            MessageStatus::from_code(code).ok_or_else(|| {
                ApiError::field(
                    "query parameter status",
                    "expected 0 (success), 1 (pending), 2 (fail), 3 (sending) or 4 (canceled)",
                )
            })
        })
        .transpose()
}

/// How a listing shows each attempt: with `with_content=false`, without its response body
/// (`{}`, as Svix shows it).
fn list_view(query: &Query) -> Result<impl Fn(Attempt) -> MessageAttemptOut, ApiError> {
    let with_content = query.flag_or("with_content", true)?;
    Ok(move |attempt: Attempt| {
        let mut out = MessageAttemptOut::from(attempt);
        if !with_content {
            out.response = "{}".to_owned();
        }
        out
    })
}

crate::validate::rule_schema!(
    /// The `status_code_class` values: a response's class, as Svix numbers it.
    StatusCodeClass => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .description(Some("The response's class: 0 (no response), 100, 200, 300, 400 or 500"))
        .enum_values(Some([0, 100, 200, 300, 400, 500]))
        .build()
        .into()
);
