//! `GET /api/v1/health` (200 once the server accepts work, 503 while the database does
//! not answer) and the JSON 404 for unknown paths.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.store.ping().await?;
    Ok((StatusCode::OK, Json(json!({"status": "ok"}))))
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("path {}", uri.path()))
}
