//! `GET /api/v1/health` (200 once the server accepts work, 503 while the database does
//! not answer) and the JSON 404 for unknown paths.

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.store.ping().await?;
    Ok((StatusCode::OK, Json(json!({"status": "ok"}))))
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("path {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> (StatusCode, Json<ErrorBody>) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(ErrorBody {
            code: "method_not_allowed".into(),
            detail: format!("{method} is not allowed on {}", uri.path()),
        }),
    )
}

/// A handler that panicked: answered as a 500 in the usual shape, and logged. The panic is
/// a bug; the server keeps serving.
pub fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "a request handler panicked");
    let body = ErrorBody {
        code: "internal".into(),
        detail: "internal error".into(),
    };
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}
