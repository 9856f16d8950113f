//! `/api/v1/source/{source}/request`: the requests a source received, kept for
//! inspection (newest first), and replay of a verified one into a new message.
//!
//! A body is shown as `body` text when it is UTF-8, else as `bodyBase64`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine as _;
use hookd_core::ids::InboundRequestId;
use hookd_core::inbound::{self, InboundRequest};
use hookd_core::source::{InboundRecord, InboundStatus};
use hookd_store::{InboundFilter, Ordering};
use serde::Serialize;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Path, Query};
use crate::ingest::message_for;
use crate::message::MessageOut;
use crate::pagination::{page_request, ListResponse};
use crate::state::AppState;
use crate::wire;

/// One stored inbound request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundRequestOut {
    pub id: String,
    pub source_id: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    #[schema(schema_with = wire::header_pairs)]
    pub headers: Vec<(String, String)>,
    /// The body as text, when it is UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body in base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// `verified`, `rejected`, `duplicate` or `handshake`.
    pub status: String,
    /// The failed check of a rejected request (`signature_mismatch`, `stale_timestamp`, …).
    pub error_code: Option<String>,
    pub error_detail: Option<String>,
    /// The provider's event id, if the request carried one.
    pub event_id: Option<String>,
    /// The message it became (for a duplicate, the first delivery's message).
    pub msg_id: Option<String>,
    pub source_ip: Option<String>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: hookd_core::Timestamp,
}

impl From<InboundRecord> for InboundRequestOut {
    fn from(record: InboundRecord) -> Self {
        let (body, body_base64) = match String::from_utf8(record.body) {
            Ok(text) => (Some(text), None),
            Err(error) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(error.as_bytes())),
            ),
        };
        Self {
            id: record.id.to_string(),
            source_id: record.source_id.to_string(),
            method: record.method,
            path: record.path,
            query: record.query,
            headers: record.headers,
            body,
            body_base64,
            status: record.status.as_str().to_owned(),
            error_code: record.error_code,
            error_detail: record.error_detail,
            event_id: record.event_id,
            msg_id: record.msg_id.map(|id| id.to_string()),
            source_ip: record.source_ip,
            received_at: record.received_at,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/source/{source_id}/request",
    tag = "source",
    params(("source_id" = crate::validate::IdOrUid, Path, description = "Source id or uid"), ("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query, description = "Default: descending"), ("status" = Option<InboundStatusName>, Query)),
    responses((status = 200, body = ListResponse<InboundRequestOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
    query: Query,
) -> ApiResult<Json<ListResponse<InboundRequestOut>>> {
    let source = state.store.source(&source_id).await?;
    let page = page_request(&query, Ordering::Descending)?;
    let status = query
        .typed("status")
        .map(|text| {
            InboundStatus::parse(text).ok_or_else(|| {
                ApiError::field(
                    "query parameter status",
                    format!("expected verified, rejected, duplicate or handshake, found {text:?}"),
                )
            })
        })
        .transpose()?;
    let found = state
        .store
        .list_inbound_requests(&source.id, &InboundFilter { status }, &page)
        .await?;
    Ok(Json(ListResponse::from_page(
        found,
        InboundRequestOut::from,
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/source/{source_id}/request/{request_id}",
    tag = "source",
    params(("source_id" = crate::validate::IdOrUid, Path, description = "Source id or uid"), ("request_id" = crate::validate::IdOrUid, Path)),
    responses((status = 200, body = InboundRequestOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((source_id, request_id)): Path<(String, String)>,
) -> ApiResult<Json<InboundRequestOut>> {
    Ok(Json(find(&state, &source_id, &request_id).await?.1.into()))
}

#[utoipa::path(
    post,
    path = "/api/v1/source/{source_id}/request/{request_id}/replay",
    tag = "source",
    params(("source_id" = crate::validate::IdOrUid, Path, description = "Source id or uid"), ("request_id" = crate::validate::IdOrUid, Path)),
    responses((status = 202, description = "A new message, committed", body = MessageOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "The request never verified", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn replay(
    State(state): State<AppState>,
    Path((source_id, request_id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    let (source, record) = find(&state, &source_id, &request_id).await?;
    if !matches!(
        record.status,
        InboundStatus::Verified | InboundStatus::Duplicate
    ) {
        return Err(ApiError::Conflict(format!(
            "request {} is {}; only verified requests can be replayed",
            record.id,
            record.status.as_str()
        )));
    }
    let url = format!(
        "http://replay{}{}",
        record.path,
        record
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    let request = InboundRequest {
        method: &record.method,
        url: &url,
        headers: &record.headers,
        body: &record.body,
    };
    let event_type = inbound::source_event_type(&source.verifier_config(), &request);
    let message = message_for(&source, &record, event_type.as_deref(), wire::now());
    crate::message::publish_and_dispatch(&state, &message).await?;
    tracing::info!(source_id = %source.id, request_id = %record.id, msg_id = %message.id, "inbound request replayed");
    Ok((StatusCode::ACCEPTED, Json(message.into())))
}

async fn find(
    state: &AppState,
    source_id: &str,
    request_id: &str,
) -> Result<(hookd_core::source::Source, InboundRecord), ApiError> {
    let source = state.store.source(source_id).await?;
    let request_id = InboundRequestId::parse(request_id)
        .ok_or_else(|| ApiError::NotFound("inbound request".to_owned()))?;
    let record = state.store.inbound_request(&source.id, &request_id).await?;
    Ok((source, record))
}

crate::validate::rule_schema!(
    /// The `status` filter's values.
    InboundStatusName => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(InboundStatus::ALL.map(InboundStatus::as_str)))
        .build()
        .into()
);
