//! `POST /app/{app}/endpoint/{endpoint}/replay-missing`: sends an endpoint the messages of
//! a time window that it never got (it was made after them, or its filters changed), as
//! Svix's call of that name does. Messages it did get, even failed ones, are `recover`'s.
//!
//! The store looks at a bounded number of messages per call; this handler calls it until
//! the window is walked, so a long window is many short writes, not one long one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hookd_store::TimeWindow;

use crate::endpoint;
use crate::endpoint::{RecoverIn, RecoverOut};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Path};
use crate::state::AppState;
use crate::wire;

/// Messages looked at per store call.
const SCAN_PER_CALL: usize = 500;

/// Sends the endpoint every message created in `[since, until)` that it accepts, that
/// still has its payload, and that was never sent to it, each as a manual attempt now.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing",
    tag = "endpoint",
    params(("app_id" = crate::validate::IdOrUid, Path, description = "Application id or uid"), ("endpoint_id" = crate::validate::IdOrUid, Path, description = "Endpoint id or uid")),
    request_body = RecoverIn,
    responses((status = 202, description = "Replayed: the deliveries are queued", body = RecoverOut), (status = 409, description = "The endpoint is disabled", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn replay_missing(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<RecoverIn>,
) -> ApiResult<(StatusCode, Json<RecoverOut>)> {
    let endpoint = endpoint::find(&state, &app_id, &endpoint_id).await?;
    endpoint::require_enabled(&endpoint, "replaying to it")?;
    let now = wire::now();
    let window = TimeWindow {
        since: Some(input.since),
        until: input.until,
    };
    let (mut after, mut replayed) = (None, 0);
    loop {
        let batch = state
            .store
            .replay_missing(
                &endpoint.app_id,
                &endpoint.id,
                &window,
                after.as_ref(),
                SCAN_PER_CALL,
                now,
            )
            .await?;
        replayed += batch.replayed;
        match batch.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    tracing::info!(endpoint_id = %endpoint.id, replayed, "missing messages replayed");
    Ok((
        StatusCode::ACCEPTED,
        Json(RecoverOut::finished("endpoint.replay", now)),
    ))
}
