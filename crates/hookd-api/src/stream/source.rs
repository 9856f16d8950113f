//! `GET /api/v1/source/{source}/stream`: a source's verified requests as they become
//! messages, over WebSocket, for `hookd listen --source` and anything else that wants
//! the provider's original bytes and headers live.
//!
//! A source's stream is its application's stream seen through the source: the same
//! subscriber (replay after the client's cursor, then live), the same cursors, and for
//! each message the request of this source that became it
//! (`Store::inbound_request_of_message`), sent as
//! `{"type":"request","cursor":…,"eventType":…,"request":{…InboundRequestOut}}`.
//! Messages that came from elsewhere (publishes, other sources, replays) send nothing;
//! `{"type":"ready"}` carries the cursor past everything the replay looked at. Resume
//! with `?after=` (a cursor, or a message id).
//!
//! **Invariant:** because cursors are the application stream's commit positions, a client
//! that resumes after the last cursor it received gets every verified request committed
//! after it, once, in commit order, across reconnects and server restarts (for as long as
//! the request and its message are retained). Rejected, handshake and duplicate requests
//! made no message of their own and are never sent.

use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};

use super::subscriber::{StreamFilter, Subscriber};
use super::websocket::{self, Frames};
use super::{resume_cursor, wants_websocket, Topic};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Path, Query};
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/source/{source_id}/stream",
    tag = "source",
    description = "WebSocket only. Each verified request of the source, as it becomes a message: `{\"type\":\"request\",\"cursor\":…,\"eventType\":…,\"request\":InboundRequestOut}`; `{\"type\":\"ready\",\"cursor\":…}` once the replay after `after` is done. The client may send `{\"type\":\"ping\"}`.",
    params(("source_id" = crate::validate::IdOrUid, Path, description = "Source id or uid"), ("after" = Option<String>, Query, description = "Resume after this cursor (or message id)")),
    responses((status = 101, description = "Switching to WebSocket"), (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid cursor", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn source_stream(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
    query: Query,
    request: Request,
) -> ApiResult<Response> {
    let source = state.store.source(&source_id).await?;
    let (mut parts, _body) = request.into_parts();
    if !wants_websocket(&parts.headers) {
        return Err(ApiError::BadRequest(
            "a source's stream is WebSocket only: send a WebSocket upgrade request".to_owned(),
        ));
    }
    let after = resume_cursor(&state, &source.app_id, query.get("after")).await?;
    let upgrade =
        match axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => upgrade,
            Err(rejection) => return Ok(rejection.into_response()),
        };
    let subscriber = Subscriber::new(
        &state,
        Topic::Application(source.app_id.clone()),
        StreamFilter::default(),
        after,
        state.config.streams.heartbeat,
    );
    let frames = Frames::SourceRequests {
        store: state.store.clone(),
        source_id: source.id,
    };
    Ok(websocket::respond(upgrade, subscriber, frames))
}
