//! `/api/v1/bin`: inspector bins. Create one (admin), get the URL `/b/{bin}` and a token
//! scoped to it; list, get and delete bins; list and get what a bin captured (newest
//! first, paginated); replay a captured request to any URL the network policy allows.
//!
//! A captured request's wire shape (`BinRequestOut`) is shared with the bin's stream and
//! mirrors `InboundRequestOut`: a body is `body` when it is UTF-8, else `bodyBase64`.
//!
//! **Invariant:** a bin token only reads its own bin (see `bin_access`); creating,
//! deleting and replaying need the admin token.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use base64::Engine as _;
use hookd_core::app_token;
use hookd_core::bin::{replay_headers, Bin, BinRequest, BinResponse};
use hookd_core::ids::{BinId, BinRequestId};
use hookd_core::network::NetworkPolicy;
use hookd_delivery::{ReplayError, ReplayRequest, Replayer};
use hookd_store::Ordering;
use serde::{Deserialize, Serialize};

use crate::bin_access::BinAccess;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{parse_json, parse_optional_json, Path, Query};
use crate::pagination::{page_request, ListResponse};
use crate::state::AppState;
use crate::wire;

/// Longest `expiresIn` a bin may ask for: 30 days.
const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most `maxRequests` a bin may ask for.
const MAX_REQUESTS_LIMIT: u64 = 100_000;
/// Longest a bin token is valid (it also never outlives its bin): 7 days.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Largest response body a replay keeps.
const REPLAY_BODY_LIMIT: usize = 1024 * 1024;

/// Settings of the inspector bins.
#[derive(Debug, Clone)]
pub struct BinConfig {
    /// How long a bin lives when it does not say. Default: 24 h.
    pub default_ttl: Duration,
    /// How many requests a bin records when it does not say. Default: 500.
    pub default_max_requests: u64,
    /// Bytes of a request body a bin keeps; the rest is counted, not stored. Default: 1 MiB.
    pub body_limit: usize,
    /// How long a replay waits for an answer. Default: 15 s.
    pub replay_timeout: Duration,
    /// Addresses a replay may reach (the deliveries' policy). Default: no private networks.
    pub network: NetworkPolicy,
}

impl Default for BinConfig {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(24 * 3600),
            default_max_requests: 500,
            body_limit: 1024 * 1024,
            replay_timeout: Duration::from_secs(15),
            network: NetworkPolicy::default(),
        }
    }
}

/// The bins' settings and the replay client, made when first needed.
pub(crate) struct Bins {
    pub(crate) config: BinConfig,
    replayer: std::sync::OnceLock<Result<Replayer, String>>,
}

impl Bins {
    pub(crate) fn new(config: BinConfig) -> Self {
        Self {
            config,
            replayer: std::sync::OnceLock::new(),
        }
    }

    fn replayer(&self) -> ApiResult<&Replayer> {
        self.replayer
            .get_or_init(|| {
                Replayer::new(
                    self.config.network.clone(),
                    self.config.replay_timeout,
                    REPLAY_BODY_LIMIT,
                )
                .map_err(|error| error.to_string())
            })
            .as_ref()
            .map_err(|error| ApiError::Internal(error.clone().into()))
    }
}

/// What a bin answers and how long it lives; every field is optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BinIn {
    /// Status every request is answered with, 200 to 599 (an informational 1xx cannot
    /// end an exchange). Default: 200.
    #[serde(default, deserialize_with = "wire::integral::option")]
    #[schema(minimum = 200, maximum = 599)]
    pub status: Option<u16>,
    /// Body every request is answered with. Default: `{"ok":true}`.
    pub body: Option<String>,
    /// Content type of that body. Default: `application/json`.
    #[schema(value_type = Option<crate::validate::HeaderValue>)]
    pub content_type: Option<String>,
    /// More response headers, name to value.
    #[schema(value_type = Option<BTreeMap<crate::validate::BinHeaderName, crate::validate::HeaderValue>>)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Seconds until the bin expires, 1 to 2592000 (30 days). Default: the server's
    /// `bin_ttl`.
    #[serde(default, deserialize_with = "wire::integral::option")]
    #[schema(minimum = 1, maximum = 2592000)]
    pub expires_in: Option<u64>,
    /// Most requests the bin records, 1 to 100000; later ones are answered 429.
    /// Default: the server's `bin_max_requests`.
    #[serde(default, deserialize_with = "wire::integral::option")]
    #[schema(minimum = 1, maximum = 100000)]
    pub max_requests: Option<u64>,
}

/// A bin.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BinOut {
    pub id: String,
    /// Where to send requests: any method, any path below it.
    pub url: String,
    /// A token that reads only this bin (its requests and stream), for a browser or
    /// `hookd listen`; given when the bin is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The status, headers and body every request is answered with.
    pub response: BinResponseOut,
    pub max_requests: u64,
    /// Requests recorded so far.
    pub request_count: u64,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: hookd_core::Timestamp,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: hookd_core::Timestamp,
}

/// The answer a bin gives.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BinResponseOut {
    pub status: u16,
    #[schema(schema_with = wire::header_pairs)]
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// One captured request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BinRequestOut {
    pub id: String,
    pub bin_id: String,
    pub method: String,
    /// The path below the bin's URL (`/` for the URL itself).
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    #[schema(schema_with = wire::header_pairs)]
    pub headers: Vec<(String, String)>,
    /// The body as text, when it is UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body in base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// Size of the whole body as received, in bytes.
    pub body_size: u64,
    /// Whether the body was longer than the capture limit (only its start is kept).
    pub body_truncated: bool,
    pub content_type: Option<String>,
    pub source_ip: Option<String>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: hookd_core::Timestamp,
}

impl From<BinRequest> for BinRequestOut {
    fn from(request: BinRequest) -> Self {
        let (body, body_base64) = text_or_base64(request.body);
        Self {
            id: request.id.to_string(),
            bin_id: request.bin_id.to_string(),
            method: request.method,
            path: request.path,
            query: request.query,
            headers: request.headers,
            body,
            body_base64,
            body_size: request.body_size,
            body_truncated: request.body_truncated,
            content_type: request.content_type,
            source_ip: request.source_ip,
            received_at: request.received_at,
        }
    }
}

/// Where a replay goes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayIn {
    /// An `http` or `https` URL. Private networks need `--allow-private-network`.
    #[schema(value_type = crate::validate::HttpUrl)]
    pub url: String,
}

/// What the replay's target answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayOut {
    pub status: u16,
    #[schema(schema_with = wire::header_pairs)]
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// Whether the answer was longer than hookd keeps (1 MiB).
    pub body_truncated: bool,
    pub duration_ms: u64,
}

#[utoipa::path(
    post,
    path = "/api/v1/bin",
    tag = "bin",
    request_body = Option<BinIn>,
    responses((status = 201, body = BinOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<BinOut>)> {
    // The body is optional: `curl -X POST …/bin` makes a bin with the defaults.
    let input: BinIn = parse_optional_json(&body)?;
    let config = &state.bins.config;
    let now = wire::now();
    let ttl = match input.expires_in {
        None => config.default_ttl,
        Some(seconds) if (1..=MAX_TTL.as_secs()).contains(&seconds) => Duration::from_secs(seconds),
        Some(_) => {
            return Err(ApiError::field(
                "expiresIn",
                format!("must be between 1 and {} seconds", MAX_TTL.as_secs()),
            ))
        }
    };
    let max_requests = input.max_requests.unwrap_or(config.default_max_requests);
    if !(1..=MAX_REQUESTS_LIMIT).contains(&max_requests) {
        return Err(ApiError::field(
            "maxRequests",
            format!("must be between 1 and {MAX_REQUESTS_LIMIT}"),
        ));
    }
    let response = response_of(&input)?;
    let (ms, random) = wire::id_parts(now);
    let bin = Bin {
        id: BinId::new(ms, random),
        response,
        max_requests,
        n_requests: 0,
        expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
        created_at: now,
    };
    state.store.create_bin(&bin).await?;
    tracing::info!(bin_id = %bin.id, expires_at = %bin.expires_at, "bin created");
    let token_expires_at = bin
        .expires_at
        .min(now + chrono::Duration::from_std(MAX_TOKEN_LIFETIME).unwrap_or(chrono::Duration::MAX));
    let token = app_token::issue_bin(
        &state.config.app_token_key,
        &bin.id,
        token_expires_at.timestamp(),
    );
    let mut out = bin_out(&state, &headers, bin);
    out.token = Some(token);
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(
    get,
    path = "/api/v1/bin",
    tag = "bin",
    params(("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query, description = "Default: descending")),
    responses((status = 200, body = ListResponse<BinOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Query,
) -> ApiResult<Json<ListResponse<BinOut>>> {
    let page = page_request(&query, Ordering::Descending)?;
    let found = state.store.list_bins(&page).await?;
    Ok(Json(ListResponse::from_page(found, |bin| {
        bin_out(&state, &headers, bin)
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/bin/{bin_id}",
    tag = "bin",
    params(("bin_id" = crate::validate::IdOrUid, Path)),
    responses((status = 200, body = BinOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 403, description = "A token of another bin", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(access): Extension<BinAccess>,
    headers: HeaderMap,
) -> Json<BinOut> {
    Json(bin_out(&state, &headers, access.bin))
}

#[utoipa::path(
    delete,
    path = "/api/v1/bin/{bin_id}",
    tag = "bin",
    params(("bin_id" = crate::validate::IdOrUid, Path)),
    responses((status = 204, description = "Deleted with its requests"), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 403, description = "Not the admin token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(access): Extension<BinAccess>,
) -> ApiResult<StatusCode> {
    access.require_admin("delete a bin")?;
    state.store.delete_bin(&access.bin.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/bin/{bin_id}/request",
    tag = "bin",
    params(("bin_id" = crate::validate::IdOrUid, Path), ("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query, description = "Default: descending")),
    responses((status = 200, body = ListResponse<BinRequestOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 403, description = "A token of another bin", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_requests(
    State(state): State<AppState>,
    Extension(access): Extension<BinAccess>,
    query: Query,
) -> ApiResult<Json<ListResponse<BinRequestOut>>> {
    let page = page_request(&query, Ordering::Descending)?;
    let found = state.store.list_bin_requests(&access.bin.id, &page).await?;
    Ok(Json(ListResponse::from_page(found, BinRequestOut::from)))
}

#[utoipa::path(
    get,
    path = "/api/v1/bin/{bin_id}/request/{request_id}",
    tag = "bin",
    params(("bin_id" = crate::validate::IdOrUid, Path), ("request_id" = crate::validate::IdOrUid, Path)),
    responses((status = 200, body = BinRequestOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 403, description = "A token of another bin", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_request(
    State(state): State<AppState>,
    Extension(access): Extension<BinAccess>,
    Path((_bin_id, request_id)): Path<(String, String)>,
) -> ApiResult<Json<BinRequestOut>> {
    Ok(Json(
        find_request(&state, &access, &request_id).await?.into(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/bin/{bin_id}/request/{request_id}/replay",
    tag = "bin",
    params(("bin_id" = crate::validate::IdOrUid, Path), ("request_id" = crate::validate::IdOrUid, Path)),
    request_body = ReplayIn,
    responses((status = 200, description = "What the URL answered", body = ReplayOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 403, description = "Not the admin token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid URL, or an address the network policy refuses (`address_refused`)", body = ErrorBody), (status = 502, description = "No answer from the URL (`replay_failed`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn replay(
    State(state): State<AppState>,
    Extension(access): Extension<BinAccess>,
    Path((_bin_id, request_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<ReplayOut>> {
    access.require_admin("replay a request")?;
    let input: ReplayIn = parse_json(&body)?;
    let captured = find_request(&state, &access, &request_id).await?;
    let replayer = state.bins.replayer()?;
    let request = ReplayRequest {
        method: captured.method,
        url: input.url.clone(),
        headers: replay_headers(&captured.headers),
        body: captured.body,
    };
    let answer = replayer
        .replay(request)
        .await
        .map_err(|error| match error {
            ReplayError::InvalidUrl(_) | ReplayError::InvalidMethod(_) => {
                ApiError::field("url", error)
            }
            ReplayError::Refused(blocked) => ApiError::AddressRefused(blocked.to_string()),
            ReplayError::Timeout(_) | ReplayError::Connect(_) | ReplayError::Other(_) => {
                ApiError::BadGateway(format!("replay to {} got no answer: {error}", input.url))
            }
        })?;
    tracing::info!(bin_id = %access.bin.id, request_id = %captured.id, status = answer.status, "bin request replayed");
    let (body, body_base64) = text_or_base64(answer.body);
    Ok(Json(ReplayOut {
        status: answer.status,
        headers: answer.headers,
        body,
        body_base64,
        body_truncated: answer.body_truncated,
        duration_ms: u64::try_from(answer.duration.as_millis()).unwrap_or(u64::MAX),
    }))
}

async fn find_request(
    state: &AppState,
    access: &BinAccess,
    request_id: &str,
) -> ApiResult<BinRequest> {
    let request_id = BinRequestId::parse(request_id)
        .ok_or_else(|| ApiError::NotFound(format!("bin request {request_id:?}")))?;
    Ok(state.store.bin_request(&access.bin.id, &request_id).await?)
}

/// The response a bin's input asks for, checked.
fn response_of(input: &BinIn) -> ApiResult<BinResponse> {
    let defaults = BinResponse::default();
    let status = input.status.unwrap_or(defaults.status);
    if !(200..=599).contains(&status) {
        return Err(ApiError::field("status", "must be between 200 and 599"));
    }
    let content_type = input
        .content_type
        .clone()
        .unwrap_or_else(|| "application/json".to_owned());
    let mut headers = vec![("content-type".to_owned(), content_type)];
    for (name, value) in input.headers.iter().flatten() {
        let lower = name.to_ascii_lowercase();
        if axum::http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return Err(ApiError::field(
                "headers",
                format!("{name:?} is not a valid header name"),
            ));
        }
        if axum::http::HeaderValue::from_str(value).is_err() {
            return Err(ApiError::field(
                "headers",
                format!("the value of {name:?} is not a valid header value"),
            ));
        }
        if crate::validate::BIN_RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(ApiError::field(
                "headers",
                format!("{name:?} is set by the server"),
            ));
        }
        if lower == "content-type" {
            headers[0].1 = value.clone();
        } else {
            headers.push((lower, value.clone()));
        }
    }
    if axum::http::HeaderValue::from_str(&headers[0].1).is_err() {
        return Err(ApiError::field("contentType", "not a valid header value"));
    }
    Ok(BinResponse {
        status,
        headers,
        body: input.body.clone().unwrap_or(defaults.body),
    })
}

fn bin_out(state: &AppState, headers: &HeaderMap, bin: Bin) -> BinOut {
    BinOut {
        url: format!("{}/b/{}", public_base(state, headers), bin.id),
        id: bin.id.to_string(),
        token: None,
        response: BinResponseOut {
            status: bin.response.status,
            headers: bin.response.headers,
            body: bin.response.body,
        },
        max_requests: bin.max_requests,
        request_count: bin.n_requests,
        expires_at: bin.expires_at,
        created_at: bin.created_at,
    }
}

/// The server's public URL: `public_base_url` when configured, else as the client
/// reached it.
fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    match &state.inbound.config.public_base_url {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => crate::app_access::base_url(headers),
    }
}

fn text_or_base64(body: Vec<u8>) -> (Option<String>, Option<String>) {
    match String::from_utf8(body) {
        Ok(text) => (Some(text), None),
        Err(error) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(error.as_bytes())),
        ),
    }
}
