//! Bearer-token authentication of the admin API. An application token (see
//! `app_access`) is recognised here only to answer 403 instead of 401.
//!
//! **Invariant:** the admin token itself is never stored or logged; requests are checked
//! by hashing the presented token and comparing hashes in constant time.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// SHA-256 of a token, as stored and compared.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Rejects requests without the admin token with 401.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "missing Authorization header; send `Authorization: Bearer <token>`".into(),
            )
        })?
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(|| {
            ApiError::Unauthorized("Authorization header must be `Bearer <token>`".into())
        })?;
    let matches: bool = hash_token(presented)
        .ct_eq(&state.config.admin_token_hash)
        .into();
    if !matches {
        if hookd_core::app_token::looks_like(presented) {
            let now = chrono::Utc::now().timestamp();
            return Err(
                match hookd_core::app_token::verify(&state.config.app_token_key, presented, now) {
                    Ok(claims) => ApiError::Forbidden(format!(
                        "an application token (for {}) only opens that application's stream and events; this route needs the admin token",
                        claims.app_id
                    )),
                    Err(hookd_core::app_token::AppTokenError::Malformed) => {
                        match hookd_core::app_token::verify_bin(
                            &state.config.app_token_key,
                            presented,
                            now,
                        ) {
                            Ok(claims) => ApiError::Forbidden(format!(
                                "a bin token (for {}) only reads that bin; this route needs the admin token",
                                claims.bin_id
                            )),
                            Err(error) => {
                                ApiError::Unauthorized(format!("token refused: {error}"))
                            }
                        }
                    }
                    Err(error) => {
                        ApiError::Unauthorized(format!("application token refused: {error}"))
                    }
                },
            );
        }
        return Err(ApiError::Unauthorized("invalid token".into()));
    }
    Ok(next.run(request).await)
}
