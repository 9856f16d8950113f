//! The wire forms of a live stream, rendered once per message and shared by every
//! subscriber: the message JSON (Svix's `MessageOut` shape), its Server-Sent Event and
//! its WebSocket text frame. Also the control frames (`ready`, `closing`).
//!
//! SSE, one event per message:
//!
//! ```text
//! id: <cursor>
//! data: {"id":"msg_…","eventType":"…","payload":{…},…}
//!
//! ```
//!
//! then `event: ready` once the replay is done and live messages follow, comments
//! (`: keep-alive`) as heartbeats, and `event: closing` with `{"code","detail","cursor"}`
//! right before the server ends the stream. WebSocket text frames carry the same as JSON:
//! `{"type":"message","cursor":…,"message":{…}}` (on a bin's stream
//! `{"type":"request","cursor":…,"request":{…}}`, whose `data:` in SSE is the captured
//! request as `GET /api/v1/bin/{bin}/request/{id}` answers it), `{"type":"ready","cursor":…}`, and
//! `{"type":"pong"}` in answer to a client's `{"type":"ping"}`; the server ends with a
//! close frame whose code and reason say why. A source's stream sends
//! `{"type":"request","cursor":…,"eventType":…,"request":{…}}` (the stored request,
//! `InboundRequestOut`, and the event type of its message) in place of each message that
//! request became.
//!
//! **Invariant:** every rendered form is one line of JSON (SSE `data:` cannot span lines
//! unsplit), and the cursor in it is the message's commit position.

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use hookd_core::ids::MessageId;
use hookd_core::model::Message;
use hookd_store::{StreamCursor, StreamedBinRequest, StreamedMessage};
use serde::Serialize;
use serde_json::value::RawValue;

/// One message, ready to send on any kind of stream.
pub(crate) struct StreamItem {
    pub(crate) cursor: StreamCursor,
    /// The message's id (`None` for a bin's captured request).
    pub(crate) msg_id: Option<MessageId>,
    pub(crate) event_type: String,
    pub(crate) channels: Vec<String>,
    /// The message as Svix's `MessageOut` JSON.
    pub(crate) json: Box<RawValue>,
    pub(crate) sse: Bytes,
    pub(crate) websocket: Utf8Bytes,
}

/// `MessageOut` with the payload copied as stored rather than parsed and re-written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageJson<'a> {
    id: &'a str,
    event_id: Option<&'a str>,
    event_type: &'a str,
    payload: &'a RawValue,
    channels: Option<&'a [String]>,
    tags: Option<&'a [String]>,
    #[serde(serialize_with = "crate::wire::timestamp")]
    timestamp: hookd_core::Timestamp,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum WebSocketFrame<'a> {
    Message {
        cursor: String,
        message: &'a RawValue,
    },
    #[serde(rename_all = "camelCase")]
    Request {
        cursor: String,
        /// The event type of the message a source's request became (a bin's requests
        /// have none).
        #[serde(skip_serializing_if = "Option::is_none")]
        event_type: Option<&'a str>,
        request: &'a RawValue,
    },
    Ready {
        cursor: String,
    },
    Pong,
}

impl StreamItem {
    pub(crate) fn render(streamed: StreamedMessage) -> StreamItem {
        let StreamedMessage { cursor, message } = streamed;
        let json = message_json(&message);
        let cursor_text = cursor.to_string();
        let sse = Bytes::from(format!("id: {cursor_text}\ndata: {}\n\n", json.get()));
        let websocket = Utf8Bytes::from(to_json(&WebSocketFrame::Message {
            cursor: cursor_text,
            message: &json,
        }));
        StreamItem {
            cursor,
            msg_id: Some(message.id),
            event_type: message.event_type,
            channels: message.channels,
            json,
            sse,
            websocket,
        }
    }
}

impl StreamItem {
    /// A bin's captured request, as `BinRequestOut` JSON.
    pub(crate) fn render_bin_request(streamed: StreamedBinRequest) -> StreamItem {
        let StreamedBinRequest { cursor, request } = streamed;
        let out = crate::bin::BinRequestOut::from(request);
        let json = RawValue::from_string(to_json(&out)).expect("serde_json writes valid JSON");
        let cursor_text = cursor.to_string();
        let sse = Bytes::from(format!("id: {cursor_text}\ndata: {}\n\n", json.get()));
        let websocket = Utf8Bytes::from(to_json(&WebSocketFrame::Request {
            cursor: cursor_text,
            event_type: None,
            request: &json,
        }));
        StreamItem {
            cursor,
            msg_id: None,
            event_type: String::new(),
            channels: Vec::new(),
            json,
            sse,
            websocket,
        }
    }
}

fn message_json(message: &Message) -> Box<RawValue> {
    // The store holds only payloads that parsed when they were published.
    let null = RawValue::from_string("null".to_owned()).expect("null is JSON");
    let payload = RawValue::from_string(message.payload.clone()).unwrap_or(null);
    let out = MessageJson {
        id: message.id.as_str(),
        event_id: message.event_id.as_deref(),
        event_type: &message.event_type,
        payload: &payload,
        channels: (!message.channels.is_empty()).then_some(message.channels.as_slice()),
        tags: (!message.tags.is_empty()).then_some(message.tags.as_slice()),
        timestamp: message.created_at,
    };
    RawValue::from_string(to_json(&out)).expect("serde_json writes valid JSON")
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("stream frames always serialise")
}

/// Why the server ends a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// The subscriber fell further behind than the buffer holds.
    SlowClient,
    /// The server is shutting down.
    ShuttingDown,
    /// The store failed while the stream was open.
    Unavailable,
}

impl Closing {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::SlowClient => "slow_client",
            Self::ShuttingDown => "shutting_down",
            Self::Unavailable => "unavailable",
        }
    }

    pub(crate) fn detail(self) -> &'static str {
        match self {
            Self::SlowClient => "the client read too slowly and fell further behind than the server buffers; reconnect and resume from the cursor",
            Self::ShuttingDown => "the server is shutting down; reconnect and resume from the cursor",
            Self::Unavailable => "the database is unavailable; reconnect later and resume from the cursor",
        }
    }

    /// The WebSocket close code: 4008 for a slow client (application-defined range),
    /// 1001 "going away" for shutdown, 1011 for a server-side failure.
    pub(crate) fn websocket_code(self) -> u16 {
        match self {
            Self::SlowClient => 4008,
            Self::ShuttingDown => 1001,
            Self::Unavailable => 1011,
        }
    }
}

/// The SSE event sent once the replay is over and live messages follow.
pub(crate) fn sse_ready(cursor: StreamCursor) -> Bytes {
    Bytes::from(format!(
        "event: ready\nid: {cursor}\ndata: {{\"cursor\":\"{cursor}\"}}\n\n"
    ))
}

/// The SSE event sent right before the server ends a stream. `cursor` is the last one
/// the client was given, to resume from.
pub(crate) fn sse_closing(closing: Closing, cursor: Option<StreamCursor>) -> Bytes {
    let body = serde_json::json!({
        "code": closing.code(),
        "detail": closing.detail(),
        "cursor": cursor.map(|cursor| cursor.to_string()),
    });
    Bytes::from(format!("event: closing\ndata: {body}\n\n"))
}

pub(crate) const SSE_HEARTBEAT: &[u8] = b": keep-alive\n\n";

pub(crate) fn websocket_ready(cursor: StreamCursor) -> Utf8Bytes {
    Utf8Bytes::from(to_json(&WebSocketFrame::Ready {
        cursor: cursor.to_string(),
    }))
}

/// A source stream's frame for the stored request that became `item`'s message.
pub(crate) fn websocket_request(
    item: &StreamItem,
    request: &crate::inbound_request::InboundRequestOut,
) -> Utf8Bytes {
    let request = RawValue::from_string(to_json(request)).expect("serde_json writes valid JSON");
    Utf8Bytes::from(to_json(&WebSocketFrame::Request {
        cursor: item.cursor.to_string(),
        event_type: Some(&item.event_type),
        request: &request,
    }))
}

pub(crate) fn websocket_pong() -> Utf8Bytes {
    Utf8Bytes::from(to_json(&WebSocketFrame::Pong))
}

/// The close reason: the code and where to resume, within the 123 bytes a close frame
/// may carry.
pub(crate) fn websocket_close_reason(closing: Closing, cursor: Option<StreamCursor>) -> String {
    match cursor {
        Some(cursor) => format!("{}: resume after cursor {cursor}", closing.code()),
        None => closing.code().to_owned(),
    }
}
