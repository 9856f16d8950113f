//! The WebSocket form of a stream: the subscriber's events as JSON text frames (see
//! `frame`), pings as heartbeats, and a close frame with a code and reason when the
//! server ends it.
//!
//! A client may send `{"type":"ping"}` (answered `{"type":"pong"}`); anything else
//! closes the connection: a binary frame with 1003 (unsupported data), text that is not
//! a known frame with 1008 (policy violation), both with a reason naming what was
//! expected.
//!
//! What each message becomes is the stream's [`Frames`]: the message itself (an
//! application's stream), or the stored request of a source that became it (a source's
//! stream, which skips every other message of the application).
//!
//! **Invariant:** a write that the client does not take within `WRITE_TIMEOUT` ends the
//! connection, so a client that stops reading cannot hold a task and its buffers forever.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use hookd_core::ids::SourceId;
use hookd_store::{Store, StoreResult};
use serde::Deserialize;

use super::frame::{self, Closing, StreamItem};
use super::subscriber::{StreamEvent, Subscriber};

/// Longest a single frame may wait for the client to take it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame a client may send; clients only ever need small control frames.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Close code for a text frame that is not a known client frame.
const POLICY_VIOLATION: u16 = 1008;
/// Close code for a binary frame.
const UNSUPPORTED_DATA: u16 = 1003;

/// Frames a client may send.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum ClientFrame {
    Ping,
}

/// What a WebSocket stream sends for each message of the application.
pub(crate) enum Frames {
    /// The message (`{"type":"message",…}`).
    Messages,
    /// The stored request of this source that became the message (`{"type":"request",…}`);
    /// a message that came from elsewhere sends nothing.
    SourceRequests {
        store: Arc<dyn Store>,
        source_id: SourceId,
    },
}

impl Frames {
    /// The text frame for `item`, or `None` when this stream sends nothing for it.
    async fn render(&self, item: &StreamItem) -> StoreResult<Option<Utf8Bytes>> {
        match self {
            Self::Messages => Ok(Some(item.websocket.clone())),
            Self::SourceRequests { store, source_id } => {
                let Some(msg_id) = &item.msg_id else {
                    return Ok(None);
                };
                Ok(store
                    .inbound_request_of_message(source_id, msg_id)
                    .await?
                    .map(|record| frame::websocket_request(item, &record.into())))
            }
        }
    }
}

pub(crate) fn respond(
    upgrade: WebSocketUpgrade,
    subscriber: Subscriber,
    frames: Frames,
) -> Response {
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(socket, subscriber, frames))
}

async fn serve(socket: WebSocket, mut subscriber: Subscriber, frames: Frames) {
    let (mut sink, mut incoming) = socket.split();
    loop {
        let outgoing = tokio::select! {
            event = subscriber.next() => match event {
                StreamEvent::Message(item) => match frames.render(&item).await {
                    Ok(Some(text)) => Message::Text(text),
                    Ok(None) => continue,
                    Err(error) => {
                        tracing::warn!(%error, "source stream cannot read a stored request");
                        // The client resumes from the last frame it got, which it knows.
                        close(&mut sink, Closing::Unavailable.websocket_code(), frame::websocket_close_reason(Closing::Unavailable, None)).await;
                        return;
                    }
                },
                StreamEvent::Ready(cursor) => Message::Text(frame::websocket_ready(cursor)),
                StreamEvent::Heartbeat => Message::Ping(bytes::Bytes::new()),
                StreamEvent::Closing(closing, cursor) => {
                    close(&mut sink, closing.websocket_code(), frame::websocket_close_reason(closing, cursor)).await;
                    return;
                }
                StreamEvent::End => return,
            },
            received = incoming.next() => match received {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Binary(_))) => {
                    close(&mut sink, UNSUPPORTED_DATA, "binary frames are not accepted; send JSON text frames such as {\"type\":\"ping\"}".to_owned()).await;
                    return;
                }
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientFrame>(text.as_str()) {
                    Ok(ClientFrame::Ping) => Message::Text(frame::websocket_pong()),
                    Err(_) => {
                        close(&mut sink, POLICY_VIOLATION, "unknown frame: the only frame a client may send is {\"type\":\"ping\"}".to_owned()).await;
                        return;
                    }
                },
            },
        };
        match tokio::time::timeout(WRITE_TIMEOUT, sink.send(outgoing)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::debug!("closing a WebSocket stream whose client stopped reading");
                return;
            }
        }
    }
}

async fn close(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: String,
) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    // The client may be gone or stuck; the connection ends either way.
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}

#[cfg(test)]
mod tests {
    use super::frame::{self, Closing};

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let cursor = hookd_store::StreamCursor {
            epoch: u64::MAX,
            seq: u64::MAX,
        };
        for closing in [
            Closing::SlowClient,
            Closing::ShuttingDown,
            Closing::Unavailable,
        ] {
            assert!(frame::websocket_close_reason(closing, Some(cursor)).len() <= 123);
        }
        assert!(
            "binary frames are not accepted; send JSON text frames such as {\"type\":\"ping\"}"
                .len()
                <= 123
        );
        assert!(
            "unknown frame: the only frame a client may send is {\"type\":\"ping\"}".len() <= 123
        );
    }
}
