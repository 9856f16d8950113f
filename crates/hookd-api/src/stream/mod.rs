//! Live streams of an application's messages: `GET /api/v1/app/{app}/stream` as
//! Server-Sent Events or, on an upgrade request, WebSocket; and
//! `GET /api/v1/app/{app}/events`, the long-poll fallback. An inspector bin's captured
//! requests stream the same way from `GET /api/v1/bin/{bin}/stream` (the same hubs,
//! subscribers and frames, with a bin as the topic).
//!
//! Every message carries a cursor, its commit position (see `hookd_store::StreamCursor`).
//! A client resumes with `Last-Event-ID` (what EventSource sends on reconnect) or
//! `?after=` (a cursor, or a message id); the stream then replays from the store what
//! was committed after it and continues live, without a gap or a repeat at the seam.
//! Filters: `event_types` (or `eventTypes`) and `channels` (or `channel`), lists.
//!
//! **Invariant:** a stream never buffers without bound: a client that falls behind by
//! more than the configured buffer is cut off with a reason and the cursor to resume
//! from, and every stream ends when the server shuts down.

mod frame;
mod hub;
mod long_poll;
pub(crate) mod source;
mod subscriber;
mod websocket;

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use hookd_core::ids::{ApplicationId, BinRequestId, MessageId};
use hookd_core::model::Application;
use hookd_store::{StoreError, StreamCursor};

use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

pub(crate) use hub::{StreamHubs, Topic};
pub use long_poll::events;
pub use source::source_stream;
use subscriber::{StreamEvent, StreamFilter, Subscriber};

/// `GET /api/v1/app/{app}/stream`: SSE, or WebSocket when the request asks to upgrade.
pub async fn stream(
    State(state): State<AppState>,
    Extension(app): Extension<Application>,
    query: Query,
    request: Request,
) -> ApiResult<Response> {
    let (parts, _body) = request.into_parts();
    let websocket = wants_websocket(&parts.headers);
    let after = resume_cursor(
        &state,
        &app.id,
        resume_text(&parts.headers, &query, websocket),
    )
    .await?;
    let topic = Topic::Application(app.id.clone());
    Ok(open_stream(&state, topic, filter_of(&query), parts, after, websocket).await)
}

/// `GET /api/v1/bin/{bin}/stream`: the bin's captured requests, as SSE, or WebSocket when
/// the request asks to upgrade. Resumes after a cursor or a captured request's id.
pub async fn bin_stream(
    State(state): State<AppState>,
    Extension(access): Extension<crate::bin_access::BinAccess>,
    query: Query,
    request: Request,
) -> ApiResult<Response> {
    let (parts, _body) = request.into_parts();
    let websocket = wants_websocket(&parts.headers);
    let bin_id = access.bin.id;
    let after = match resume_text(&parts.headers, &query, websocket) {
        None => None,
        Some(text) => Some(match BinRequestId::parse(text) {
            Some(request_id) => match state.store.bin_cursor_of(&bin_id, &request_id).await {
                Ok(cursor) => cursor,
                Err(StoreError::NotFound(_)) => {
                    return Err(ApiError::NotFound(format!(
                        "request {request_id} to resume after (it is not in bin {bin_id})"
                    )))
                }
                Err(error) => return Err(error.into()),
            },
            None => StreamCursor::parse(text).ok_or_else(|| {
                ApiError::field(
                    "after",
                    format!("expected a stream cursor such as 0.42 (an event id of this stream) or a captured request id, found {text:?}"),
                )
            })?,
        }),
    };
    let topic = Topic::Bin(bin_id);
    Ok(open_stream(
        &state,
        topic,
        StreamFilter::default(),
        parts,
        after,
        websocket,
    )
    .await)
}

fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// Where the client asks to resume: `Last-Event-ID` (what EventSource sends on reconnect)
/// or `?after=`; a WebSocket has no Last-Event-ID and resumes by `?after=` alone.
fn resume_text<'a>(headers: &'a HeaderMap, query: &'a Query, websocket: bool) -> Option<&'a str> {
    if websocket {
        query.get("after")
    } else {
        last_event_id(headers).or(query.get("after"))
    }
}

/// The stream itself, once the topic and the cursor are known.
async fn open_stream(
    state: &AppState,
    topic: Topic,
    filter: StreamFilter,
    mut parts: axum::http::request::Parts,
    after: Option<StreamCursor>,
    websocket: bool,
) -> Response {
    let heartbeat = state.config.streams.heartbeat;
    if websocket {
        let upgrade = match axum::extract::ws::WebSocketUpgrade::from_request_parts(
            &mut parts, state,
        )
        .await
        {
            Ok(upgrade) => upgrade,
            Err(rejection) => return rejection.into_response(),
        };
        let subscriber = Subscriber::new(state, topic, filter, after, heartbeat);
        return websocket::respond(upgrade, subscriber, websocket::Frames::Messages);
    }
    sse_response(Subscriber::new(state, topic, filter, after, heartbeat))
}

/// The SSE response: a body that pulls from the subscriber as the connection can take.
fn sse_response(subscriber: Subscriber) -> Response {
    let body = futures::stream::unfold(Some(subscriber), |subscriber| async move {
        let mut subscriber = subscriber?;
        let chunk = match subscriber.next().await {
            StreamEvent::Message(item) => coalesce(&item, &mut subscriber),
            StreamEvent::Ready(cursor) => frame::sse_ready(cursor),
            StreamEvent::Heartbeat => Bytes::from_static(frame::SSE_HEARTBEAT),
            StreamEvent::Closing(closing, cursor) => {
                let chunk = frame::sse_closing(closing, cursor);
                return Some((Ok::<_, Infallible>(chunk), None));
            }
            StreamEvent::End => return None,
        };
        Some((Ok(chunk), Some(subscriber)))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx buffer responses unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    *response.status_mut() = StatusCode::OK;
    response
}

/// The message's event, followed by those of up to `MAX_COALESCED - 1` more messages that
/// are ready without waiting: a client that is behind catches up with fewer writes.
fn coalesce(first: &frame::StreamItem, subscriber: &mut Subscriber) -> Bytes {
    const MAX_COALESCED: usize = 64;
    let Some(second) = subscriber.try_next_message() else {
        return first.sse.clone();
    };
    let mut chunk = bytes::BytesMut::with_capacity(first.sse.len() * 4);
    chunk.extend_from_slice(&first.sse);
    chunk.extend_from_slice(&second.sse);
    for _ in 2..MAX_COALESCED {
        match subscriber.try_next_message() {
            Some(item) => chunk.extend_from_slice(&item.sse),
            None => break,
        }
    }
    chunk.freeze()
}

fn last_event_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// The filter the query asks for.
fn filter_of(query: &Query) -> StreamFilter {
    StreamFilter {
        event_types: query
            .list("event_types")
            .or_else(|| query.list("eventTypes")),
        channels: query.list("channels").or_else(|| query.list("channel")),
    }
}

/// Where a client resumes: after a cursor (`0.42`), or after a message id.
async fn resume_cursor(
    state: &AppState,
    app_id: &ApplicationId,
    text: Option<&str>,
) -> ApiResult<Option<StreamCursor>> {
    let Some(text) = text else {
        return Ok(None);
    };
    if let Some(msg_id) = MessageId::parse(text) {
        return match state.store.stream_cursor_of(app_id, &msg_id).await {
            Ok(cursor) => Ok(Some(cursor)),
            Err(StoreError::NotFound(_)) => Err(ApiError::NotFound(format!(
                "message {msg_id} to resume after (it is not in application {app_id}, or no longer retained)"
            ))),
            Err(error) => Err(error.into()),
        };
    }
    StreamCursor::parse(text).map(Some).ok_or_else(|| {
        ApiError::field(
            "after",
            format!("expected a stream cursor such as 0.42 (an event id of this stream) or a message id, found {text:?}"),
        )
    })
}
