//! [`ApiError`]: every failure an API handler can answer with, and its one mapping to an
//! HTTP status, a stable snake_case `code` and a human `detail`.
//!
//! **Invariant:** every error body is `{"code": "...", "detail": "..."}`. Internal errors
//! never leak their cause to the client; they are logged once, here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookd_store::StoreError;
use serde::Serialize;

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Well-formed JSON that does not fit: the detail names the field.
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Unavailable(String),
    /// The message's payload expired or was expunged, so it cannot be sent again.
    #[error("{0}")]
    MissingPayload(String),
    /// An inspector bin has recorded as many requests as it may.
    #[error("{0}")]
    BinFull(String),
    /// The network policy refuses the address a request would go to; says how to allow it.
    #[error("{0}")]
    AddressRefused(String),
    /// A request hookd sent on the client's behalf got no answer.
    #[error("{0}")]
    BadGateway(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code: `not_found`, `validation`, `conflict`, …
    pub code: String,
    /// What went wrong, for a human; names the field for validation errors.
    pub detail: String,
}

impl ApiError {
    /// A 422 naming the field at fault.
    pub fn field(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::Validation(format!("{field}: {problem}"))
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "authentication_failed"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::MissingPayload(_) => (StatusCode::BAD_REQUEST, "missing_payload"),
            Self::BinFull(_) => (StatusCode::TOO_MANY_REQUESTS, "bin_full"),
            Self::AddressRefused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "address_refused"),
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, "replay_failed"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        match &self {
            Self::Internal(error) => {
                tracing::error!(error = %error, "internal error answering a request")
            }
            Self::Unavailable(detail) => tracing::warn!(%detail, "answering 503"),
            _ => {}
        }
        let body = ErrorBody {
            code: code.to_owned(),
            detail: self.to_string(),
        };
        (status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => Self::NotFound(what.to_owned()),
            StoreError::Conflict(detail) => Self::Conflict(detail),
            StoreError::Unavailable { detail, .. } => Self::Unavailable(format!(
                "the database cannot take requests right now ({detail}); nothing was written, retry later"
            )),
            StoreError::Internal(source) => Self::Internal(source),
        }
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
