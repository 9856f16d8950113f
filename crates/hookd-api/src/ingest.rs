//! `/in/{source}`: where providers deliver. Unauthenticated: the provider's signature
//! over the raw bytes is the authentication.
//!
//! One request: rate limits (global, then the source's) → the source (404 if unknown) →
//! the raw body under the source's limit (413) → verification (401 naming the failed
//! check; the request is stored as rejected and never forwarded) → handshakes → one store
//! transaction that records the event id, writes the message with its deliveries (the
//! store chooses the endpoints inside that transaction, as for a publish) and stores the
//! request → 200. A duplicate event id gets the same 200, stored and counted,
//! with no new message.
//!
//! **Invariants:** a 2xx is sent only after the store call committed; nothing is
//! forwarded unless its signature verified; an error body never carries a secret or an
//! expected signature (`InboundError`'s messages never do).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CONTENT_TYPE, HOST, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hookd_core::ids::{InboundRequestId, MessageId};
use hookd_core::inbound::{self, InboundError, InboundRequest};
use hookd_core::model::Message;
use hookd_core::source::{
    message_event_type, message_payload, InboundRecord, InboundStatus, Source,
};
use hookd_store::{InboundIngest, IngestOutcome, StoreError};
use http_body_util::BodyExt;
use serde::Serialize;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Path;
use crate::state::AppState;
use crate::wire;

/// What a provider gets back for an accepted request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestOut {
    /// The stored request (`GET /api/v1/source/{source}/request/{id}`).
    pub request_id: String,
    /// The message it became, or for a duplicate the first one.
    pub msg_id: Option<String>,
    /// Whether the provider event id had been seen inside the dedup window.
    pub duplicate: bool,
}

#[utoipa::path(
    post,
    path = "/in/{source_id}",
    tag = "inbound",
    params(("source_id" = crate::validate::IdOrUid, Path, description = "Source id or uid")),
    request_body(content = Option<serde_json::Value>, content_type = "*/*", description = "The provider's webhook in whatever content type it sends (possibly empty), verified over its raw bytes"),
    responses((status = 200, description = "Verified and committed (or a duplicate)", body = IngestOut), (status = 401, description = "Verification failed; `code` names the check", body = ErrorBody), (status = 404, description = "Unknown source", body = ErrorBody), (status = 413, description = "Body over the source's limit", body = ErrorBody), (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody), (status = 503, body = ErrorBody))
)]
pub async fn receive(
    State(state): State<AppState>,
    Path(source_key): Path<String>,
    request: Request,
) -> Response {
    match receive_inner(&state, &source_key, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn receive_inner(
    state: &AppState,
    source_key: &str,
    request: Request,
) -> Result<Response, ApiError> {
    if let Err(wait_secs) = state.inbound.admit_global() {
        return Ok(too_many(wait_secs, "hookd's inbound rate limit"));
    }
    let source = find_source(state, source_key).await?;
    if let Err(wait_secs) = state.inbound.admit_source(&source) {
        return Ok(too_many(wait_secs, "this source's rate limit"));
    }
    let received_at = wire::now();
    let source_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string());
    let (parts, body) = request.into_parts();
    let limit = source
        .settings
        .body_limit
        .unwrap_or(state.config.body_limit);
    let body = read_body(body, &parts.headers, limit).await?;
    let headers = header_pairs(&parts.headers);
    // Only a provider whose rules read the URL (Twilio, Square, Meta) needs it rebuilt.
    let url = if source.provider.reads_url() {
        signed_url(state, &parts.headers, &parts.uri)
    } else {
        String::new()
    };
    let (ms, random) = wire::id_parts(received_at);
    let mut record = InboundRecord {
        id: InboundRequestId::new(ms, random),
        source_id: source.id.clone(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
        status: InboundStatus::Verified,
        error_code: None,
        error_detail: None,
        event_id: None,
        msg_id: None,
        source_ip,
        received_at,
    };
    let config = source.verifier_config();
    let inbound_request = InboundRequest {
        method: parts.method.as_str(),
        url: &url,
        headers: &record.headers,
        body: &record.body,
    };
    // Unsigned handshakes (Meta's GET hub.challenge) come before verification; signed
    // ones (Slack url_verification, Discord PING) only after it.
    let handshake_first = parts.method != Method::POST;
    if handshake_first {
        if let Some(reply) = inbound::handshake(&config, &inbound_request) {
            return answer_handshake(state, record, reply).await;
        }
    }
    if let Err(error) = inbound::verify(&config, &inbound_request, received_at.timestamp()) {
        return reject(state, record, &source, error).await;
    }
    if !handshake_first {
        if let Some(reply) = inbound::handshake(&config, &inbound_request) {
            return answer_handshake(state, record, reply).await;
        }
    }
    // The source's configuration, not just its provider: a generic source names its own
    // event id header.
    let event_id = inbound::source_event_id(&config, &inbound_request);
    let event_type = inbound::source_event_type(&config, &inbound_request);
    if event_id.is_none() {
        tracing::info!(
            source_id = %source.id,
            provider = %source.provider,
            "verified request carries no provider event id; accepted without deduplication"
        );
    }
    record.event_id = event_id.clone();
    let message = message_for(&source, &record, event_type.as_deref(), received_at);
    let window = chrono::Duration::from_std(state.inbound.config.dedup_window)
        .unwrap_or(chrono::Duration::MAX);
    let request_id = record.id.to_string();
    // The store chooses the message's endpoints inside its own transaction.
    let ingest = InboundIngest {
        request: record,
        message,
        dedup_event_id: event_id.clone(),
        dedup_not_before: received_at
            .checked_sub_signed(window)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
    };
    let outcome = match ingest_and_dispatch(state, ingest).await {
        Ok(outcome) => outcome,
        // The source (or its application) was deleted between lookup and commit.
        Err(StoreError::NotFound(what)) => return Err(ApiError::NotFound(what.to_owned())),
        Err(error) => return Err(error.into()),
    };
    let (msg_id, duplicate) = match outcome {
        IngestOutcome::Created { msg_id } => {
            metrics::counter!("hookd_inbound_requests_total", "result" => "verified").increment(1);
            tracing::debug!(source_id = %source.id, %msg_id, "inbound request committed");
            (Some(msg_id), false)
        }
        IngestOutcome::Duplicate { msg_id } => {
            metrics::counter!("hookd_inbound_requests_total", "result" => "duplicate").increment(1);
            tracing::info!(
                source_id = %source.id,
                event_id = event_id.as_deref().unwrap_or_default(),
                "duplicate provider event id; acknowledged, not delivered again"
            );
            (msg_id, true)
        }
    };
    Ok((
        StatusCode::OK,
        Json(IngestOut {
            request_id,
            msg_id: msg_id.map(|id| id.to_string()),
            duplicate,
        }),
    )
        .into_response())
}

/// Ingests `ingest`. With a worker on this node, the message's deliveries are leased to
/// it in the ingest's own transaction and handed over at once, as a publish's are.
async fn ingest_and_dispatch(
    state: &AppState,
    ingest: InboundIngest,
) -> Result<IngestOutcome, StoreError> {
    let Some(worker) = state.worker.clone() else {
        return state.store.ingest_inbound(ingest).await;
    };
    let store = state.store.clone();
    let app_id = ingest.message.app_id.clone();
    crate::message::with_local_dispatch(worker, app_id, move |lease| async move {
        store.ingest_inbound_leased(ingest, lease).await
    })
    .await
}

/// The message a verified request becomes in the source's application (also used by
/// replay).
pub(crate) fn message_for(
    source: &Source,
    record: &InboundRecord,
    provider_event_type: Option<&str>,
    created_at: hookd_core::Timestamp,
) -> Message {
    let content_type = record
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .map(|(_, value)| value.as_str());
    let (ms, random) = wire::id_parts(created_at);
    Message {
        id: MessageId::new(ms, random),
        app_id: source.app_id.clone(),
        // The provider's id is deduplicated per source by the store; a message eventId
        // would instead clash across sources of one application.
        event_id: None,
        event_type: message_event_type(source.provider, provider_event_type),
        payload: message_payload(&record.body, content_type),
        channels: Vec::new(),
        tags: Vec::new(),
        source_headers: source.forwarded_headers(&record.headers),
        created_at,
    }
}

async fn find_source(state: &AppState, source_key: &str) -> Result<Arc<Source>, ApiError> {
    if let Some(source) = state.inbound.cached_source(source_key) {
        return Ok(source);
    }
    let source = Arc::new(state.store.source(source_key).await?);
    state.inbound.cache_source(source_key, &source);
    Ok(source)
}

/// Reads the whole body, refusing one past `limit` bytes (by its Content-Length first,
/// then while reading).
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Err(error) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {error}"
        ))),
    }
}

/// Header names in lowercase with their values, in the order received. A value that is
/// not UTF-8 is kept with its invalid bytes replaced (no provider signs such a header).
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The URL the provider signed: the configured public base URL, else `http://{Host}`,
/// followed by the path and query as received.
fn signed_url(state: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |value| value.as_str().to_owned());
    match &state.inbound.config.public_base_url {
        Some(base) => format!("{}{path_and_query}", base.trim_end_matches('/')),
        None => {
            let host = headers
                .get(HOST)
                .and_then(|value| value.to_str().ok())
                .or_else(|| uri.authority().map(|authority| authority.as_str()))
                .unwrap_or("localhost");
            format!("http://{host}{path_and_query}")
        }
    }
}

async fn reject(
    state: &AppState,
    mut record: InboundRecord,
    source: &Source,
    error: InboundError,
) -> Result<Response, ApiError> {
    metrics::counter!("hookd_inbound_requests_total", "result" => "rejected").increment(1);
    // A failed check is the provider's (or an attacker's) problem: 401. A source hookd
    // cannot check with (no secret, bad settings, a provider without rules yet) is
    // hookd's: 500, so that the provider retries once the source is fixed.
    let status = match error {
        InboundError::NoSecret | InboundError::BadConfig(_) | InboundError::Unsupported(_) => {
            tracing::warn!(source_id = %source.id, provider = %source.provider, %error, "source cannot verify requests");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => {
            tracing::info!(source_id = %source.id, code = error.code(), %error, "inbound request rejected");
            StatusCode::UNAUTHORIZED
        }
    };
    record.status = InboundStatus::Rejected;
    record.error_code = Some(error.code().to_owned());
    record.error_detail = Some(error.to_string());
    store_quietly(state, &record).await;
    let body = ErrorBody {
        code: error.code().to_owned(),
        detail: error.to_string(),
    };
    Ok((status, Json(body)).into_response())
}

async fn answer_handshake(
    state: &AppState,
    mut record: InboundRecord,
    reply: inbound::HandshakeReply,
) -> Result<Response, ApiError> {
    record.status = InboundStatus::Handshake;
    state.store.record_inbound_request(&record).await?;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut response = (status, reply.body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    Ok(response)
}

/// Keeps a rejected request for inspection. Failing to keep it does not change the
/// answer (the request is refused either way), so the error is only logged.
async fn store_quietly(state: &AppState, record: &InboundRecord) {
    if let Err(error) = state.store.record_inbound_request(record).await {
        tracing::warn!(%error, request_id = %record.id, "could not store a rejected inbound request");
    }
}

fn too_many(wait_secs: u64, which: &str) -> Response {
    let body = ErrorBody {
        code: "rate_limited".to_owned(),
        detail: format!("over {which}; retry after {wait_secs} s"),
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(wait_secs));
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use hookd_core::ids::{ApplicationId, SourceId};
    use hookd_core::inbound::Provider;
    use hookd_core::model::Application;
    use hookd_core::source::{Source, SourceSettings};
    use tower::ServiceExt;

    use crate::{ApiConfig, AppState, InboundConfig};

    /// The global inbound limit holds across sources and whatever the verdict: the
    /// request over it is answered 429 with Retry-After before anything else happens.
    #[tokio::test]
    async fn the_global_inbound_rate_limit_answers_429_with_retry_after() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(hookd_store_sqlite::SqliteStore::open(&dir.path().join("hookd.db")).unwrap());
        let now = crate::wire::now();
        let app = Application {
            id: ApplicationId::new(1, [1; 14]),
            uid: None,
            name: "acme".into(),
            throttle_rate: None,
            metadata: Default::default(),
            created_at: now,
            updated_at: now,
        };
        hookd_store::Store::create_application(store.as_ref(), &app)
            .await
            .unwrap();
        for uid in ["first", "second"] {
            let source = Source {
                id: SourceId::new(2, rand::random()),
                uid: Some(uid.into()),
                name: uid.into(),
                app_id: app.id.clone(),
                provider: Provider::StandardWebhooks,
                secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
                settings: SourceSettings::default(),
                created_at: now,
                updated_at: now,
            };
            hookd_store::Store::create_source(store.as_ref(), &source)
                .await
                .unwrap();
        }
        let state = AppState::new(
            store,
            ApiConfig {
                admin_token_hash: [0; 32],
                body_limit: 1024,
                idempotency_window: std::time::Duration::from_secs(60),
                secret_grace_period: std::time::Duration::from_secs(60),
                inbound: InboundConfig {
                    global_rate_limit: Some(1),
                    ..InboundConfig::default()
                },
                streams: crate::StreamConfig::default(),
                app_token_key: [7; 32],
            },
        );
        let router = crate::router(state);
        let post = |uid: &str| {
            Request::post(format!("/in/{uid}"))
                .header("host", "hookd.test")
                .body(Body::from("{}"))
                .unwrap()
        };
        let first = router.clone().oneshot(post("first")).await.unwrap();
        assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
        let second = router.clone().oneshot(post("second")).await.unwrap();
        assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = second.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1);
        let body = http_body_util::BodyExt::collect(second.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "rate_limited");
    }
}
