//! `ANY /b/{bin}` and `ANY /b/{bin}/{*rest}`: what an inspector bin records.
//! Unauthenticated: whoever has the URL may send to it.
//!
//! One request: the bin (404 when unknown or expired, before the body is read) → the body,
//! keeping its first `body_limit` bytes and counting the rest → one store call that
//! commits the request as the bin's next stream position (or refuses: 429 when the bin is
//! full) → the bin's configured answer, with `x-hookd-request-id`.
//!
//! **Invariants:** a 2xx is sent only after the capture committed; the stored body is the
//! exact bytes received up to the limit, and `bodySize`/`bodyTruncated` say what was
//! dropped; a body is never buffered past the limit (the rest is only counted, up to
//! `COUNT_LIMIT_FACTOR` times the limit, past which the request is refused with 413).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookd_core::bin::{fitting_part, BinRequest};
use hookd_core::ids::{BinId, BinRequestId};
use hookd_store::{CaptureOutcome, StoreError};
use http_body_util::BodyExt;

use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;
use crate::wire;

/// A body longer than this many times the capture limit is refused rather than counted.
const COUNT_LIMIT_FACTOR: u64 = 64;

#[utoipa::path(
    post,
    path = "/b/{bin_id}",
    tag = "bin",
    params(("bin_id" = crate::validate::IdOrUid, Path)),
    request_body(content = Option<serde_json::Value>, content_type = "*/*", description = "Anything, or nothing: every method, path below the bin, query, content type and body is recorded"),
    responses((status = "default", description = "Recorded, and answered with what the bin was made to answer: any status, headers and body (200 `{\"ok\":true}` unless it says otherwise). hookd's own answers, an `ErrorBody`: 404 for an unknown or expired bin, 413 for a body far past the capture limit, 429 when the bin is full (`bin_full`), 503 when the database is unavailable. Since a bin may be made to answer any of these statuses too, all are documented here, with no content type or schema, since the bin's own are the user's."))
)]
pub async fn capture(
    State(state): State<AppState>,
    Path(bin_key): Path<String>,
    request: Request,
) -> Response {
    match capture_inner(&state, &bin_key, "/".to_owned(), request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The same, for a path below the bin.
pub async fn capture_below(
    State(state): State<AppState>,
    Path((bin_key, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    match capture_inner(&state, &bin_key, format!("/{rest}"), request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn capture_inner(
    state: &AppState,
    bin_key: &str,
    path: String,
    request: Request,
) -> Result<Response, ApiError> {
    let received_at = wire::now();
    let not_found = || ApiError::NotFound(format!("bin {bin_key:?} (unknown, expired or deleted)"));
    let bin_id = BinId::parse(bin_key).ok_or_else(not_found)?;
    let bin = match state.store.bin(&bin_id).await {
        Ok(bin) if !bin.is_expired(received_at) => bin,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(not_found()),
        Err(error) => return Err(error.into()),
    };
    if bin.is_full() {
        return Err(full(bin.max_requests));
    }
    let source_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string());
    let (parts, body) = request.into_parts();
    let limit = state.bins.config.body_limit;
    let (body, body_size) = read_body(body, limit).await?;
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let (ms, random) = wire::id_parts(received_at);
    let captured = BinRequest {
        id: BinRequestId::new(ms, random),
        bin_id: bin.id.clone(),
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_owned),
        headers,
        body_truncated: body_size > body.len() as u64,
        body,
        body_size,
        content_type,
        source_ip,
        received_at,
    };
    match state
        .store
        .capture_bin_request(&captured, received_at)
        .await
    {
        Ok(CaptureOutcome::Captured { .. }) => {}
        Ok(CaptureOutcome::Full { max_requests }) => return Err(full(max_requests)),
        Err(StoreError::NotFound(_)) => return Err(not_found()),
        Err(error) => return Err(error.into()),
    }
    metrics::counter!(crate::metrics::BIN_REQUESTS_TOTAL).increment(1);
    tracing::debug!(bin_id = %bin.id, request_id = %captured.id, method = %captured.method, "bin request captured");
    Ok(answer(&bin.response, &captured.id))
}

/// Reads the body: its first `limit` bytes, and the size of the whole.
async fn read_body(mut body: Body, limit: usize) -> Result<(Vec<u8>, u64), ApiError> {
    let count_limit = (limit as u64)
        .saturating_mul(COUNT_LIMIT_FACTOR)
        .max(1024 * 1024);
    let mut kept = Vec::new();
    let mut size: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            ApiError::BadRequest(format!("could not read the request body: {error}"))
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        size += chunk.len() as u64;
        if size > count_limit {
            return Err(ApiError::PayloadTooLarge {
                limit: usize::try_from(count_limit).unwrap_or(usize::MAX),
            });
        }
        kept.extend_from_slice(fitting_part(&chunk, kept.len(), limit));
    }
    Ok((kept, size))
}

/// The bin's configured answer.
fn answer(response: &hookd_core::bin::BinResponse, request_id: &BinRequestId) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut answer = (status, response.body.clone()).into_response();
    let headers = answer.headers_mut();
    // The bin's own content type replaces the one the body's type implies.
    headers.remove(CONTENT_TYPE);
    for (name, value) in &response.headers {
        // Checked when the bin was made; a header that no longer parses is skipped.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        headers.insert("x-hookd-request-id", value);
    }
    answer
}

fn full(max_requests: u64) -> ApiError {
    ApiError::BinFull(format!(
        "this bin is full: it has recorded its limit of {max_requests} requests; create a new bin (or one with a larger maxRequests)"
    ))
}
