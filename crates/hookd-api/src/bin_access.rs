//! Who may use a bin's routes (`/api/v1/bin/{bin}…`): the admin token, or a bin token
//! (`hookd_core::app_token::issue_bin`) of that bin, from `Authorization: Bearer` or
//! `?token=` (a browser's EventSource cannot set headers). The middleware puts the bin
//! and the kind of access in the request's extensions.
//!
//! **Invariant:** a bin token reads only its own bin: another bin answers 403 whether or
//! not it exists, so a token learns nothing about other bins; an expired or forged token
//! answers 401; routes that change a bin or send requests elsewhere need the admin token.

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use hookd_core::app_token;
use hookd_core::bin::Bin;
use hookd_core::ids::BinId;
use subtle::ConstantTimeEq;

use crate::app_access::presented_token;
use crate::auth::hash_token;
use crate::error::ApiError;
use crate::extract::raw_path_params;
use crate::state::AppState;

/// The bin a request may use, and how it was admitted.
#[derive(Debug, Clone)]
pub struct BinAccess {
    pub bin: Bin,
    pub admin: bool,
}

impl BinAccess {
    /// `Forbidden` unless the admin token was presented.
    pub(crate) fn require_admin(&self, action: &str) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "a bin token can only read its bin; to {action}, use the admin token"
            )))
        }
    }
}

/// Admits the admin token, or a bin token of the bin the path names.
pub async fn require_bin_access(
    State(state): State<AppState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let params = raw_path_params(params, &request)?;
    let path_bin = params
        .iter()
        .find(|(name, _)| *name == "bin_id")
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| ApiError::NotFound("bin".into()))?;
    let token = presented_token(&request)?;
    let admin: bool = hash_token(&token)
        .ct_eq(&state.config.admin_token_hash)
        .into();
    if !admin {
        check_bin_token(&state, &token, &path_bin)?;
    }
    let bin_id =
        BinId::parse(&path_bin).ok_or_else(|| ApiError::NotFound(format!("bin {path_bin:?}")))?;
    let bin = state.store.bin(&bin_id).await?;
    request.extensions_mut().insert(BinAccess { bin, admin });
    Ok(next.run(request).await)
}

/// `Ok` for a valid token of `path_bin`; 403 for a token of anything else, 401 for a
/// token that is not valid at all.
fn check_bin_token(state: &AppState, token: &str, path_bin: &str) -> Result<(), ApiError> {
    if !app_token::looks_like(token) {
        return Err(ApiError::Unauthorized("invalid token".into()));
    }
    let key = &state.config.app_token_key;
    let now = chrono::Utc::now().timestamp();
    match app_token::verify_bin(key, token, now) {
        Ok(claims) if claims.bin_id.as_str() == path_bin => Ok(()),
        Ok(claims) => Err(ApiError::Forbidden(format!(
            "this token is scoped to bin {}; it cannot read bin {path_bin:?}",
            claims.bin_id
        ))),
        Err(app_token::AppTokenError::Malformed) => match app_token::verify(key, token, now) {
            Ok(claims) => Err(ApiError::Forbidden(format!(
                "an application token (for {}) cannot read bins",
                claims.app_id
            ))),
            Err(error) => Err(ApiError::Unauthorized(format!("token refused: {error}"))),
        },
        Err(error) => Err(ApiError::Unauthorized(format!(
            "bin token refused: {error}"
        ))),
    }
}
