//! `/api/v1/app/{app}/endpoint`: endpoints with their filters, headers, secrets (rotation
//! with a grace period), stats, recovery, and hookd's two extra fields,
//! `signatureScheme` and `signatureHeader`.

use crate::events::{endpoint_changed, EndpointChange};
use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hookd_core::ids::{EndpointId, TaskId};
use hookd_core::model::{Endpoint, RetiredSecret};
use hookd_core::signature::{self, SignatureScheme};
use hookd_store::{Ordering, TimeWindow};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Path, Query};
use crate::pagination::{page_request, ListResponse};
use crate::state::AppState;
use crate::validate;
use crate::wire::{self, patch_field};

/// Header names whose values `GET …/headers` does not show.
const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "x-api-key",
    "proxy-authorization",
];

/// Body of POST (create) and PUT (upsert).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    /// Where deliveries go: an http(s) URL, or `command://NAME` naming a command the
    /// operator configured on this node.
    #[schema(value_type = validate::HttpUrl)]
    pub url: String,
    #[serde(default)]
    pub description: String,
    #[serde(
        default,
        alias = "rateLimit",
        deserialize_with = "wire::integral::option"
    )]
    #[schema(maximum = 65535)]
    pub throttle_rate: Option<u16>,
    #[serde(default)]
    #[schema(value_type = Option<validate::EndpointUid>)]
    pub uid: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, alias = "filterTypes")]
    #[schema(value_type = Option<Vec<validate::NameLike>>)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<validate::Channel>>)]
    pub channels: Option<Vec<String>>,
    /// The signing secret; generated when left out. With the `standard` (default) and
    /// `svix` schemes a Standard Webhooks secret (`WebhookSecret`); with the others any
    /// non-empty string, used as it is.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub secret: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<validate::EndpointHeaderName, validate::HeaderValue>>)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    #[schema(value_type = Option<SignatureSchemeName>)]
    pub signature_scheme: Option<SignatureScheme>,
    /// The header of the `hmac-sha256-hex` scheme. Default: `x-webhook-signature`.
    #[serde(default)]
    #[schema(value_type = Option<validate::HeaderName>)]
    pub signature_header: Option<String>,
    /// hookd's addition: when a message came in through a source (`POST /in/{source}`),
    /// its deliveries to this endpoint also carry the headers the provider sent (its own
    /// signature, event and delivery ids…), besides hookd's signature headers, which win
    /// a clash. Hop-by-hop headers, `Host`, `Content-Length`, `Content-Type`,
    /// `User-Agent`, credentials (including a header that carries the source's token,
    /// such as `X-Gitlab-Token`), proxy headers (`X-Forwarded-*`, `Via`…) and
    /// `webhook-*`/`svix-*` headers are never forwarded. Messages published through the
    /// API have none. Default: false.
    #[serde(default)]
    pub forward_source_headers: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    /// As in the create body.
    #[serde(default)]
    #[schema(value_type = Option<validate::HttpUrl>)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[schema(value_type = Option<u16>, maximum = 65535)]
    #[serde(
        default,
        deserialize_with = "wire::integral::patch",
        alias = "rateLimit"
    )]
    pub throttle_rate: Option<Option<u16>>,
    #[schema(value_type = Option<validate::EndpointUid>)]
    #[serde(default, deserialize_with = "patch_field")]
    pub uid: Option<Option<String>>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[schema(value_type = Option<Vec<validate::NameLike>>)]
    #[serde(default, deserialize_with = "patch_field", alias = "filterTypes")]
    pub event_types: Option<Option<Vec<String>>>,
    #[schema(value_type = Option<Vec<validate::Channel>>)]
    #[serde(default, deserialize_with = "patch_field")]
    pub channels: Option<Option<Vec<String>>>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// A new scheme. The endpoint's secret must suit it (a Standard Webhooks secret for
    /// `standard` and `svix`): a secret that does not is a conflict (409), not a bad
    /// field, since it depends on the endpoint and not on this body.
    #[serde(default)]
    #[schema(value_type = Option<SignatureSchemeName>)]
    pub signature_scheme: Option<SignatureScheme>,
    #[schema(value_type = Option<validate::HeaderName>)]
    #[serde(default, deserialize_with = "patch_field")]
    pub signature_header: Option<Option<String>>,
    /// Switches `forwardSourceHeaders` (see the create body); absent leaves it as it is.
    #[serde(default)]
    pub forward_source_headers: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    pub id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub throttle_rate: Option<u16>,
    pub disabled: bool,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub metadata: BTreeMap<String, String>,
    #[schema(value_type = String, example = "standard")]
    pub signature_scheme: SignatureScheme,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_header: Option<String>,
    /// Whether deliveries carry the provider's headers of messages that came in through
    /// a source (see `EndpointIn`).
    pub forward_source_headers: bool,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: hookd_core::Timestamp,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: hookd_core::Timestamp,
}

impl RecoverOut {
    /// The answer for a `task` that was done in the request, at `now`: Svix's background
    /// task shape, already `finished`.
    pub(crate) fn finished(task: &'static str, now: hookd_core::Timestamp) -> Self {
        let (ms, random) = wire::id_parts(now);
        Self {
            id: TaskId::new(ms, random).to_string(),
            status: "finished",
            task,
            updated_at: now,
        }
    }
}

impl From<Endpoint> for EndpointOut {
    fn from(endpoint: Endpoint) -> Self {
        Self {
            id: endpoint.id.to_string(),
            uid: endpoint.uid,
            url: endpoint.url,
            description: endpoint.description,
            throttle_rate: endpoint.throttle_rate,
            disabled: endpoint.disabled,
            event_types: endpoint.event_types,
            channels: endpoint.channels,
            metadata: endpoint.metadata,
            signature_scheme: endpoint.signature_scheme,
            signature_header: endpoint.signature_header,
            forward_source_headers: endpoint.forward_source_headers,
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointSecretOut {
    pub key: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretRotateIn {
    /// The new secret; generated when left out. It must suit the endpoint's scheme:
    /// a Standard Webhooks secret for `standard` and `svix` (as stated here), any
    /// non-empty string for the other schemes.
    #[serde(default)]
    #[schema(value_type = Option<validate::WebhookSecret>)]
    pub key: Option<String>,
    /// How long the old secret keeps signing too, at most 604800 (7 days). Default: the
    /// server's grace period.
    #[serde(default, deserialize_with = "wire::integral::option")]
    #[schema(maximum = 604800)]
    pub grace_period_seconds: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EndpointHeadersIn {
    #[schema(value_type = BTreeMap<validate::EndpointHeaderName, validate::HeaderValue>)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHeadersPatchIn {
    #[schema(value_type = BTreeMap<validate::EndpointHeaderName, validate::HeaderValue>)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub delete_headers: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointHeadersOut {
    pub headers: BTreeMap<String, String>,
    pub sensitive: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointStatsOut {
    pub success: u64,
    pub pending: u64,
    pub sending: u64,
    pub fail: u64,
    pub canceled: u64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RecoverIn {
    #[schema(value_type = String, format = DateTime, min_length = 1)]
    pub since: hookd_core::Timestamp,
    /// The end of the window, exclusive; one that is not after `since` recovers nothing.
    /// Default: no end.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, min_length = 1)]
    pub until: Option<hookd_core::Timestamp>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverOut {
    pub id: String,
    pub status: &'static str,
    pub task: &'static str,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: hookd_core::Timestamp,
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query)),
    responses((status = 200, body = ListResponse<EndpointOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    query: Query,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let app = state.store.application(&app_id).await?;
    let page = page_request(&query, Ordering::Ascending)?;
    let found = state.store.list_endpoints(&app.id, &page).await?;
    Ok(Json(ListResponse::from_page(found, EndpointOut::from)))
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid")),
    request_body = EndpointIn,
    responses((status = 201, body = EndpointOut), (status = 409, body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(input): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = state.store.application(&app_id).await?;
    let endpoint = new_endpoint(&state, app.id, input)?;
    state.store.create_endpoint(&endpoint).await?;
    endpoint_changed(&state, EndpointChange::Created, &endpoint).await;
    Ok((StatusCode::CREATED, Json(endpoint.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    responses((status = 200, body = EndpointOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    Ok(Json(find(&state, &app_id, &endpoint_id).await?.into()))
}

/// PUT: replaces the endpoint's settings (its secret stays), or creates it (201).
#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    request_body = EndpointIn,
    responses((status = 200, body = EndpointOut), (status = 201, body = EndpointOut), (status = 409, description = "uid taken, or the endpoint's secret does not suit the scheme asked for", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn upsert(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = state.store.application(&app_id).await?;
    match state.store.endpoint(&app.id, &endpoint_id).await {
        Ok(existing) => {
            let mut replaced = new_endpoint(&state, app.id, input)?;
            // The secret stays, so it must suit the scheme the body asks for.
            signature::validate_secret(replaced.signature_scheme, &existing.secret).map_err(
                |error| {
                    ApiError::Conflict(format!(
                        "signatureScheme: the endpoint's secret does not fit the {} scheme ({error}); rotate to a suitable secret first",
                        replaced.signature_scheme.as_str()
                    ))
                },
            )?;
            replaced.id = existing.id;
            replaced.secret = existing.secret;
            replaced.retired_secrets = existing.retired_secrets;
            replaced.created_at = existing.created_at;
            replaced.uid = replaced.uid.or(existing.uid);
            if !replaced.disabled && existing.disabled {
                replaced.failing_since = None;
            } else {
                replaced.failing_since = existing.failing_since;
            }
            state.store.update_endpoint(&replaced).await?;
            let change = EndpointChange::Updated {
                was_disabled: existing.disabled,
            };
            endpoint_changed(&state, change, &replaced).await;
            Ok((StatusCode::OK, Json(replaced.into())))
        }
        Err(hookd_store::StoreError::NotFound(_)) => {
            // The path names what is created, even when the body gives the uid.
            validate::name_like("endpoint_id", &endpoint_id)?;
            let mut input = input;
            if input.uid.is_none() && !EndpointId::looks_like(&endpoint_id) {
                input.uid = Some(endpoint_id);
            }
            let endpoint = new_endpoint(&state, app.id, input)?;
            state.store.create_endpoint(&endpoint).await?;
            endpoint_changed(&state, EndpointChange::Created, &endpoint).await;
            Ok((StatusCode::CREATED, Json(endpoint.into())))
        }
        Err(error) => Err(error.into()),
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    request_body = EndpointPatch,
    responses((status = 200, body = EndpointOut), (status = 409, description = "uid taken, or the endpoint's secret does not suit the new scheme", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn patch(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let mut endpoint = find(&state, &app_id, &endpoint_id).await?;
    let was_disabled = endpoint.disabled;
    if let Some(url) = input.url {
        validate::endpoint_target("url", &url, &state.commands)?;
        endpoint.url = url;
    }
    if let Some(description) = input.description {
        endpoint.description = description;
    }
    if let Some(rate) = input.throttle_rate {
        endpoint.throttle_rate = rate;
    }
    if let Some(uid) = input.uid {
        if let Some(uid) = &uid {
            check_uid(uid)?;
        }
        endpoint.uid = uid;
    }
    if let Some(disabled) = input.disabled {
        if endpoint.disabled && !disabled {
            endpoint.failing_since = None;
        }
        endpoint.disabled = disabled;
    }
    if let Some(event_types) = input.event_types {
        if let Some(types) = &event_types {
            validate::each("eventTypes", types, validate::name_like)?;
        }
        endpoint.event_types = event_types;
    }
    if let Some(channels) = input.channels {
        if let Some(list) = &channels {
            validate::each("channels", list, validate::channel)?;
        }
        endpoint.channels = channels;
    }
    if let Some(metadata) = input.metadata {
        endpoint.metadata = metadata;
    }
    if let Some(scheme) = input.signature_scheme {
        signature::validate_secret(scheme, &endpoint.secret).map_err(|error| {
            ApiError::Conflict(format!(
                "signatureScheme: the endpoint's secret does not fit the {} scheme ({error}); send a suitable secret with PUT, or rotate to one first",
                scheme.as_str()
            ))
        })?;
        endpoint.signature_scheme = scheme;
    }
    if let Some(header) = input.signature_header {
        if let Some(name) = &header {
            validate::header_name("signatureHeader", name)?;
        }
        endpoint.signature_header = header.map(|name| name.to_ascii_lowercase());
    }
    if let Some(forward) = input.forward_source_headers {
        endpoint.forward_source_headers = forward;
    }
    endpoint.updated_at = wire::now();
    state.store.update_endpoint(&endpoint).await?;
    endpoint_changed(&state, EndpointChange::Updated { was_disabled }, &endpoint).await;
    Ok(Json(endpoint.into()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let endpoint = find(&state, &app_id, &endpoint_id).await?;
    state
        .store
        .delete_endpoint(&endpoint.app_id, &endpoint.id)
        .await?;
    endpoint_changed(&state, EndpointChange::Deleted, &endpoint).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    responses((status = 200, body = EndpointSecretOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_secret(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let endpoint = find(&state, &app_id, &endpoint_id).await?;
    Ok(Json(EndpointSecretOut {
        key: endpoint.secret,
    }))
}

/// Replaces the secret; the old one keeps signing (a second signature) for the grace period.
/// Answers the new secret (the Svix SDKs read it from the response).
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    request_body = Option<EndpointSecretRotateIn>,
    responses((status = 200, description = "The new secret", body = EndpointSecretOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<EndpointSecretOut>> {
    // The body is optional: an empty POST rotates to a generated secret.
    let input: EndpointSecretRotateIn = crate::extract::parse_optional_json(&body)?;
    let mut endpoint = find(&state, &app_id, &endpoint_id).await?;
    let new_secret = match input.key {
        Some(key) => {
            signature::validate_secret(endpoint.signature_scheme, &key)
                .map_err(|error| ApiError::field("key", error))?;
            key
        }
        None => fresh_secret(),
    };
    let grace = match input.grace_period_seconds {
        Some(seconds) if seconds > 604_800 => {
            return Err(ApiError::field(
                "gracePeriodSeconds",
                "must be at most 604800 (7 days)",
            ))
        }
        Some(seconds) => std::time::Duration::from_secs(u64::from(seconds)),
        None => state.config.secret_grace_period,
    };
    let now = wire::now();
    let expires_at = now + chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::hours(24));
    let old = std::mem::replace(&mut endpoint.secret, new_secret.clone());
    endpoint
        .retired_secrets
        .retain(|retired| retired.expires_at > now);
    if expires_at > now {
        endpoint.retired_secrets.push(RetiredSecret {
            secret: old,
            expires_at,
        });
    }
    endpoint.updated_at = now;
    state.store.update_endpoint(&endpoint).await?;
    Ok(Json(EndpointSecretOut { key: new_secret }))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    responses((status = 200, body = EndpointHeadersOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_headers(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let endpoint = find(&state, &app_id, &endpoint_id).await?;
    let mut headers = BTreeMap::new();
    let mut sensitive = Vec::new();
    for (name, value) in endpoint.headers {
        if SENSITIVE_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            sensitive.push(name);
        } else {
            headers.insert(name, value);
        }
    }
    Ok(Json(EndpointHeadersOut { headers, sensitive }))
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    request_body = EndpointHeadersIn,
    responses((status = 204, description = "Replaced"), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn put_headers(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    check_headers(&input.headers)?;
    let mut endpoint = find(&state, &app_id, &endpoint_id).await?;
    endpoint.headers = input.headers;
    endpoint.updated_at = wire::now();
    state.store.update_endpoint(&endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    request_body = EndpointHeadersPatchIn,
    responses((status = 204, description = "Merged"), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn patch_headers(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<EndpointHeadersPatchIn>,
) -> ApiResult<StatusCode> {
    check_headers(&input.headers)?;
    let mut endpoint = find(&state, &app_id, &endpoint_id).await?;
    for name in &input.delete_headers {
        endpoint
            .headers
            .retain(|existing, _| !existing.eq_ignore_ascii_case(name));
    }
    endpoint.headers.extend(input.headers);
    endpoint.updated_at = wire::now();
    state.store.update_endpoint(&endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid"), ("since" = Option<String>, Query, format = DateTime, min_length = 1), ("until" = Option<String>, Query, format = DateTime, min_length = 1)),
    responses((status = 200, body = EndpointStatsOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn stats(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    query: Query,
) -> ApiResult<Json<EndpointStatsOut>> {
    let endpoint = find(&state, &app_id, &endpoint_id).await?;
    let window = TimeWindow {
        since: query.timestamp("since")?,
        until: query.timestamp("until")?,
    };
    let counts = state
        .store
        .endpoint_stats(&endpoint.app_id, &endpoint.id, &window)
        .await?;
    Ok(Json(EndpointStatsOut {
        success: counts.success,
        pending: counts.pending,
        sending: counts.sending,
        fail: counts.fail,
        canceled: counts.canceled,
    }))
}

/// Re-sends every failed message of the endpoint created in `[since, until)`.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
    tag = "endpoint",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = validate::IdOrUid, Path, description = "Endpoint id or uid")),
    request_body = RecoverIn,
    responses((status = 202, body = RecoverOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn recover(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<RecoverIn>,
) -> ApiResult<(StatusCode, Json<RecoverOut>)> {
    let endpoint = find(&state, &app_id, &endpoint_id).await?;
    // A window that ends before it starts holds no message, as for `stats`: it recovers
    // nothing (the document cannot compare two fields, so this is no 422).
    let now = wire::now();
    let window = TimeWindow {
        since: Some(input.since),
        until: input.until,
    };
    let recovered = state
        .store
        .recover_endpoint(&endpoint.app_id, &endpoint.id, &window, now)
        .await?;
    tracing::info!(endpoint_id = %endpoint.id, recovered, "endpoint recovery scheduled");
    Ok((
        StatusCode::ACCEPTED,
        Json(RecoverOut::finished("endpoint.recover", now)),
    ))
}

/// The endpoint `endpoint_id` (id or uid) of the application `app_id` (id or uid).
pub(crate) async fn find(
    state: &AppState,
    app_id: &str,
    endpoint_id: &str,
) -> Result<Endpoint, ApiError> {
    let app = state.store.application(app_id).await?;
    Ok(state.store.endpoint(&app.id, endpoint_id).await?)
}

/// Refuses (409) to `action` an endpoint that is disabled: whatever it queued would only
/// fail.
pub(crate) fn require_enabled(endpoint: &Endpoint, action: &str) -> Result<(), ApiError> {
    if endpoint.disabled {
        return Err(ApiError::Conflict(format!(
            "endpoint {} is disabled; enable it before {action}",
            endpoint.id
        )));
    }
    Ok(())
}

fn new_endpoint(
    state: &AppState,
    app_id: hookd_core::ids::ApplicationId,
    input: EndpointIn,
) -> Result<Endpoint, ApiError> {
    validate::endpoint_target("url", &input.url, &state.commands)?;
    if let Some(uid) = &input.uid {
        check_uid(uid)?;
    }
    if let Some(types) = &input.event_types {
        validate::each("eventTypes", types, validate::name_like)?;
    }
    if let Some(channels) = &input.channels {
        validate::each("channels", channels, validate::channel)?;
    }
    let headers = input.headers.unwrap_or_default();
    check_headers(&headers)?;
    let scheme = input.signature_scheme.unwrap_or_default();
    if let Some(name) = &input.signature_header {
        validate::header_name("signatureHeader", name)?;
    }
    let secret = match input.secret {
        Some(secret) => {
            signature::validate_secret(scheme, &secret)
                .map_err(|error| ApiError::field("secret", error))?;
            secret
        }
        None => fresh_secret(),
    };
    let now = wire::now();
    let (ms, random) = wire::id_parts(now);
    Ok(Endpoint {
        id: EndpointId::new(ms, random),
        app_id,
        uid: input.uid,
        url: input.url,
        description: input.description,
        disabled: input.disabled,
        event_types: input.event_types,
        channels: input.channels,
        throttle_rate: input.throttle_rate,
        metadata: input.metadata,
        headers,
        secret,
        retired_secrets: Vec::new(),
        signature_scheme: scheme,
        signature_header: input.signature_header.map(|name| name.to_ascii_lowercase()),
        forward_source_headers: input.forward_source_headers,
        failing_since: None,
        created_at: now,
        updated_at: now,
    })
}

/// A new `whsec_` secret of 24 random bytes (Svix's size).
fn fresh_secret() -> String {
    signature::generate_symmetric_secret(&rand::random::<[u8; 24]>())
}

/// [`validate::EndpointUid`].
fn check_uid(uid: &str) -> Result<(), ApiError> {
    validate::name_like("uid", uid)?;
    if EndpointId::looks_like(uid) {
        return Err(ApiError::field(
            "uid",
            "must not look like an endpoint id (ep_…)",
        ));
    }
    Ok(())
}

/// Custom headers must be valid, and may not override the signature or transport headers.
fn check_headers(headers: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (name, value) in headers {
        let field = format!("headers.{name}");
        validate::header_name(&field, name)?;
        if validate::ENDPOINT_RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(ApiError::field(
                &field,
                "this header is set by hookd and cannot be overridden",
            ));
        }
        validate::header_value(&field, value)?;
    }
    Ok(())
}

crate::validate::rule_schema!(
    /// The `signatureScheme` values.
    SignatureSchemeName => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("How deliveries are signed. Default: `standard`."))
        .enum_values(Some(SignatureScheme::ALL.map(SignatureScheme::as_str)))
        .examples(["standard"])
        .build()
        .into()
);

/// What `EndpointIn` states across its fields (added to its schema by `openapi`): a
/// `secret` with the `standard` or `svix` scheme (the default) is a Standard Webhooks
/// secret, as [`signature::validate_secret`] checks.
pub(crate) fn secret_fits_scheme() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    use utoipa::openapi::Ref;
    let raw_key_schemes: Vec<&str> = SignatureScheme::ALL
        .into_iter()
        .filter(|scheme| !scheme.takes_webhook_secret())
        .map(SignatureScheme::as_str)
        .collect();
    AnyOfBuilder::new()
        .description(Some(
            "With the standard (default) or svix scheme, a secret is a Standard Webhooks secret.",
        ))
        .item(
            ObjectBuilder::new()
                .property(
                    "signatureScheme",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(raw_key_schemes)),
                )
                .required("signatureScheme"),
        )
        .item(
            ObjectBuilder::new().property(
                "secret",
                AnyOfBuilder::new()
                    .item(ObjectBuilder::new().schema_type(Type::Null))
                    .item(Ref::from_schema_name("WebhookSecret")),
            ),
        )
        .into()
}
