//! The `idempotency-key` header: a POST repeated with the same key (on the same path)
//! within the window gets the first successful response again instead of acting twice.
//!
//! **Invariant:** requests with the same key are serialised on this node, so a retry that
//! races its original waits for it and then replays its response.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use hookd_store::StoredResponse;
use http_body_util::BodyExt;
use tokio::sync::Mutex;

use crate::error::ApiError;
use crate::state::AppState;

const STRIPES: usize = 64;

/// A fixed set of locks, picked by hashing the key.
pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl KeyLocks {
    fn for_key(&self, key: &str) -> &Mutex<()> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        &self.stripes[(hasher.finish() as usize) % self.stripes.len()]
    }
}

/// Replays or records responses of POSTs that carry an `idempotency-key`.
pub async fn idempotency(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if request.method() != Method::POST {
        return Ok(next.run(request).await);
    }
    let Some(key) = request
        .headers()
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
    else {
        return Ok(next.run(request).await);
    };
    let scoped = format!("{} {}", request.uri().path().trim_end_matches('/'), key);
    let _guard = state.idempotency_locks.for_key(&scoped).lock().await;
    let window = chrono::Duration::from_std(state.config.idempotency_window)
        .unwrap_or(chrono::Duration::hours(24));
    if let Some(stored) = state
        .store
        .idempotent_response(&scoped, Utc::now() - window)
        .await?
    {
        let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
        let mut response = (status, Bytes::from(stored.body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(response);
    }
    let response = next.run(request).await;
    if !response.status().is_success() {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|error| ApiError::Internal(error.into()))?
        .to_bytes();
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        body: bytes.to_vec(),
    };
    state
        .store
        .save_idempotent_response(&scoped, &stored, Utc::now())
        .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}
