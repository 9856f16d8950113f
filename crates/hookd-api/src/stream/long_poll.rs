//! `GET /api/v1/app/{app}/events?after=CURSOR&wait=SECONDS&limit=N`: the long-poll
//! fallback for clients that can hold neither an SSE stream nor a WebSocket.
//!
//! It answers at once when messages exist after the cursor; otherwise it waits up to
//! `wait` seconds (cut to the configured maximum) for one and answers with what arrived,
//! possibly nothing. The answer has Svix's list shape, `{data, iterator, prevIterator,
//! done}`: `data` holds messages as `MessageOut`, `iterator` is the cursor to send as
//! `after` next time (the same cursor back when nothing arrived), `done` says the
//! client has caught up. Without `after`, it starts at the newest message: only what is
//! published from then on is returned.
//!
//! **Invariant:** the hub subscription is taken before the store is read, so a message
//! committed between the read and the wait still ends the wait.

use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use hookd_core::model::Application;
use hookd_store::StreamCursor;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::frame::StreamItem;
use super::{filter_of, resume_cursor};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::pagination::MAX_LIMIT;
use crate::state::AppState;

const DEFAULT_LIMIT: usize = 50;
/// Most store pages one answer reads while skipping filtered-out messages.
const MAX_PAGES: usize = 20;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventsOut<'a> {
    data: Vec<&'a RawValue>,
    iterator: String,
    prev_iterator: Option<String>,
    done: bool,
}

pub async fn events(
    State(state): State<AppState>,
    Extension(app): Extension<Application>,
    query: Query,
) -> ApiResult<Response> {
    let limit = query.parse::<usize>("limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::field(
            "query parameter limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let wait_seconds = query.parse::<f64>("wait")?.unwrap_or(0.0);
    if !(wait_seconds >= 0.0 && wait_seconds.is_finite()) {
        return Err(ApiError::field(
            "query parameter wait",
            "must be a number of seconds, 0 or more",
        ));
    }
    let wait =
        Duration::from_secs_f64(wait_seconds.min(1e6)).min(state.config.streams.long_poll_max_wait);
    let deadline = Instant::now() + wait;
    let filter = filter_of(&query);
    let after = resume_cursor(
        &state,
        &app.id,
        query.get("after").or(query.get("iterator")),
    )
    .await?;

    let mut subscription = if wait.is_zero() && after.is_some() {
        None
    } else {
        Some(
            state
                .streams
                .subscribe(&super::Topic::Application(app.id.clone()))
                .await?,
        )
    };
    let mut cursor = match (after, &subscription) {
        (Some(after), _) => after,
        (None, Some(subscription)) => subscription.cursor,
        (None, None) => StreamCursor::START,
    };
    let mut found: Vec<StreamItem> = Vec::new();
    loop {
        let mut done = true;
        for _ in 0..MAX_PAGES {
            let batch = state
                .store
                .stream_messages(&app.id, cursor, limit - found.len())
                .await?;
            done = batch.messages.len() < limit - found.len();
            for streamed in batch.messages {
                cursor = streamed.cursor;
                let item = StreamItem::render(streamed);
                if filter.accepts(&item) {
                    found.push(item);
                }
            }
            if done || found.len() == limit {
                break;
            }
        }
        if !found.is_empty() || !done || Instant::now() >= deadline {
            return Ok(answer(&found, cursor, done && found.len() < limit));
        }
        let Some(live) = subscription.as_mut() else {
            return Ok(answer(&found, cursor, true));
        };
        // Wait for any message after the cursor, then read again (the store has it).
        let arrived = loop {
            tokio::select! {
                () = state.shutdown.cancelled() => break false,
                () = tokio::time::sleep_until(deadline) => break false,
                received = live.receiver.recv() => match received {
                    Ok(item) if item.cursor <= cursor => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => break true,
                    Err(RecvError::Closed) => break false,
                },
            }
        };
        if !arrived {
            return Ok(answer(&found, cursor, true));
        }
    }
}

fn answer(found: &[StreamItem], cursor: StreamCursor, done: bool) -> Response {
    let out = EventsOut {
        data: found.iter().map(|item| item.json.as_ref()).collect(),
        iterator: cursor.to_string(),
        prev_iterator: None,
        done,
    };
    let body = serde_json::to_vec(&out).expect("events answers always serialise");
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}
