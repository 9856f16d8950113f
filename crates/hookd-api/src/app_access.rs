//! Browser access to one application: short-lived app tokens (`hookd_core::app_token`),
//! minted by `POST /api/v1/auth/app-portal-access/{app}` (admin only, answered
//! `{url, token}` as Svix answers it, `url` being the application's page under `/ui/`), and the middleware of the routes a token may use
//! (the application's live stream and long-poll).
//!
//! A token is taken from `Authorization: Bearer` or, because a browser's EventSource
//! cannot set headers, from `?token=`. The admin token is accepted the same way there.
//!
//! **Invariant:** an app token opens only its own application's stream routes: another
//! application answers 403 (whether or not it exists, so a token learns nothing about
//! other applications), an expired or forged token 401, and every admin route 403 (see
//! `auth`).

use axum::body::Bytes;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request, State};
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use hookd_core::app_token;
use hookd_store::StoreError;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::auth::hash_token;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{parse_optional_json, raw_path_params, Path};
use crate::state::AppState;

/// Default lifetime of a token: one hour.
const DEFAULT_EXPIRY_SECONDS: i64 = 3600;
/// Longest lifetime a token may be given: seven days (Svix's longest).
const MAX_EXPIRY_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessIn {
    /// Seconds the token stays valid: 1 to 604800 (7 days). Default: 3600.
    #[serde(default, deserialize_with = "crate::wire::integral::option")]
    #[schema(minimum = 1, maximum = 604800)]
    pub expiry: Option<i64>,
    /// Accepted for Svix compatibility; hookd tokens can only read.
    #[serde(default)]
    pub read_only: Option<bool>,
    /// Accepted for Svix compatibility (its SDKs send a list of strings); ignored.
    #[serde(default)]
    pub feature_flags: Option<Vec<String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessOut {
    /// hookd's page for the application, with this token: its events, live
    /// (`/ui/app/{app}?token=…`).
    pub url: String,
    /// `hkat.…`: send as `Authorization: Bearer` or `?token=`.
    pub token: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/app-portal-access/{app_id}",
    tag = "authentication",
    params(("app_id" = crate::validate::IdOrUid, Path, description = "Application id or uid")),
    request_body = Option<AppPortalAccessIn>,
    responses((status = 200, body = AppPortalAccessOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 403, description = "Not an admin token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn app_portal_access(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<AppPortalAccessOut>> {
    // The body is optional (`{}` from the SDKs, nothing from curl).
    let input: AppPortalAccessIn = parse_optional_json(&body)?;
    let expiry = input.expiry.unwrap_or(DEFAULT_EXPIRY_SECONDS);
    if !(1..=MAX_EXPIRY_SECONDS).contains(&expiry) {
        return Err(ApiError::field(
            "expiry",
            format!("must be between 1 and {MAX_EXPIRY_SECONDS} seconds"),
        ));
    }
    let app = state.store.application(&app_id).await?;
    let expires_at = chrono::Utc::now().timestamp() + expiry;
    let token = app_token::issue(&state.config.app_token_key, &app.id, expires_at);
    let url = format!("{}/ui/app/{}?token={token}", base_url(&headers), app.id);
    Ok(Json(AppPortalAccessOut { url, token }))
}

/// The server's URL as the client reached it (scheme from `X-Forwarded-Proto`).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// Admits the admin token, or an app token of the application the path names; puts the
/// application in the request's extensions for the handler.
pub async fn require_app_access(
    State(state): State<AppState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let params = raw_path_params(params, &request)?;
    let path_app = params
        .iter()
        .find(|(name, _)| *name == "app_id")
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| ApiError::NotFound("application".into()))?;
    let token = presented_token(&request)?;
    let admin: bool = hash_token(&token)
        .ct_eq(&state.config.admin_token_hash)
        .into();
    let app = if admin {
        state.store.application(&path_app).await?
    } else if app_token::looks_like(&token) {
        let claims = app_token::verify(
            &state.config.app_token_key,
            &token,
            chrono::Utc::now().timestamp(),
        )
        .map_err(|error| ApiError::Unauthorized(format!("application token refused: {error}")))?;
        let forbidden = || {
            ApiError::Forbidden(format!(
                "this token is scoped to application {}; it cannot read application {path_app:?}",
                claims.app_id
            ))
        };
        match state.store.application(&path_app).await {
            Ok(app) if app.id == claims.app_id => app,
            Ok(_) | Err(StoreError::NotFound(_)) => return Err(forbidden()),
            Err(error) => return Err(error.into()),
        }
    } else {
        return Err(ApiError::Unauthorized("invalid token".into()));
    };
    request.extensions_mut().insert(app);
    Ok(next.run(request).await)
}

/// The bearer token, or else the `token` query parameter.
pub(crate) fn presented_token(request: &Request) -> Result<String, ApiError> {
    if let Some(value) = request.headers().get(AUTHORIZATION) {
        return value
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())
            })
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization header must be `Bearer <token>`".into())
            });
    }
    let query = request.uri().query().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name == "token" && !value.is_empty())
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "missing token; send `Authorization: Bearer <token>` or `?token=<token>`".into(),
            )
        })
}
