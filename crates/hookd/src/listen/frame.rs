//! The frames a hookd server sends on the streams `hookd listen` follows, parsed into
//! what the forwarder needs. Pure: text in, values out.
//!
//! - an application's stream: `{"type":"message","cursor":…,"message":{"id","eventType","payload",…}}`
//! - a source's stream: `{"type":"request","cursor":…,"eventType":…,"request":{…}}`
//! - a bin's stream: `{"type":"request","cursor":…,"request":{…}}`
//! - all of them: `{"type":"ready","cursor":…}` once the replay is done, `{"type":"pong"}`.
//!
//! A request carries its body as `body` (UTF-8 text) or `bodyBase64`; either way the
//! parsed body is the exact bytes the sender sent.
//!
//! **Invariant:** a message's payload is kept as the raw JSON text the server sent (the
//! payload as published, compact, keys in their order), never parsed and re-written, so
//! what is signed and forwarded is byte for byte what hookd delivers to endpoints.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

/// One frame from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    /// A message of an application.
    Message(StreamedMessage),
    /// A request a source verified, or a bin captured.
    Request(CapturedRequest),
    /// The replay is over; live events follow. Every event at or before `cursor` has
    /// been sent.
    Ready { cursor: String },
    /// A frame this version does not know (a newer server): ignored.
    Other,
}

/// An application's message.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedMessage {
    pub cursor: String,
    pub msg_id: String,
    pub event_type: String,
    /// The payload, exactly as the server sent it.
    pub payload: String,
}

/// A request as the sender sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedRequest {
    pub cursor: String,
    /// The event type of the message it became (sources only).
    pub event_type: Option<String>,
    /// The request's id (`req_…`, or a bin's request id).
    pub id: String,
    /// The message it became (sources only).
    pub msg_id: Option<String>,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// `[name, value]` pairs in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unreadable frame from the server: {0}")]
pub struct FrameError(String);

/// Parses one text frame.
///
/// # Errors
/// When a known frame type is missing a field or its body is not valid base64.
pub fn parse(text: &str) -> Result<ServerFrame, FrameError> {
    let frame: WireFrame<'_> =
        serde_json::from_str(text).map_err(|error| FrameError(error.to_string()))?;
    match frame.kind {
        "message" => {
            let (cursor, message) = frame
                .cursor
                .zip(frame.message)
                .ok_or_else(|| FrameError("a message frame needs `cursor` and `message`".into()))?;
            let message: WireMessage<'_> = serde_json::from_str(message.get())
                .map_err(|error| FrameError(format!("message: {error}")))?;
            Ok(ServerFrame::Message(StreamedMessage {
                cursor,
                msg_id: message.id,
                event_type: message.event_type,
                payload: message.payload.get().to_owned(),
            }))
        }
        "request" => {
            let (cursor, request) = frame
                .cursor
                .zip(frame.request)
                .ok_or_else(|| FrameError("a request frame needs `cursor` and `request`".into()))?;
            let body = match (request.body, request.body_base64) {
                (Some(text), _) => text.into_bytes(),
                (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|error| FrameError(format!("request bodyBase64: {error}")))?,
                (None, None) => Vec::new(),
            };
            Ok(ServerFrame::Request(CapturedRequest {
                cursor,
                event_type: frame.event_type,
                id: request.id,
                msg_id: request.msg_id,
                method: request.method,
                path: request.path,
                query: request.query,
                headers: request.headers,
                body,
            }))
        }
        "ready" => Ok(ServerFrame::Ready {
            cursor: frame
                .cursor
                .ok_or_else(|| FrameError("a ready frame needs `cursor`".into()))?,
        }),
        _ => Ok(ServerFrame::Other),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    cursor: Option<String>,
    event_type: Option<String>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    request: Option<WireRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMessage<'a> {
    id: String,
    event_type: String,
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    id: String,
    #[serde(default)]
    msg_id: Option<String>,
    method: String,
    path: String,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_keeps_its_payload_text() {
        let text = r#"{"type":"message","cursor":"0.7","message":{"id":"msg_1","eventId":null,"eventType":"invoice.paid","payload":{"b":1,"a":[1,2]},"channels":null,"tags":null,"timestamp":"2026-01-01T00:00:00Z"}}"#;
        assert_eq!(
            parse(text),
            Ok(ServerFrame::Message(StreamedMessage {
                cursor: "0.7".into(),
                msg_id: "msg_1".into(),
                event_type: "invoice.paid".into(),
                payload: r#"{"b":1,"a":[1,2]}"#.into(),
            }))
        );
    }

    #[test]
    fn a_request_body_comes_back_as_sent() {
        let text = r#"{"type":"request","cursor":"3.9","eventType":"push","request":{"id":"req_1","sourceId":"src_1","method":"POST","path":"/in/gh","query":"a=1","headers":[["x-hub-signature-256","sha256=ab"],["x-a","1"],["x-a","2"]],"body":"{\"zen\": 1}","status":"verified","msgId":"msg_9","receivedAt":"2026-01-01T00:00:00Z"}}"#;
        let ServerFrame::Request(request) = parse(text).unwrap() else {
            panic!("a request frame");
        };
        assert_eq!(request.cursor, "3.9");
        assert_eq!(request.event_type.as_deref(), Some("push"));
        assert_eq!(request.msg_id.as_deref(), Some("msg_9"));
        assert_eq!(request.query.as_deref(), Some("a=1"));
        assert_eq!(request.body, br#"{"zen": 1}"#);
        assert_eq!(request.headers.len(), 3);
        assert_eq!(request.headers[2], ("x-a".into(), "2".into()));

        let binary = r#"{"type":"request","cursor":"1","request":{"id":"r","method":"PUT","path":"/b/x/y","headers":[],"bodyBase64":"AP8="}}"#;
        let ServerFrame::Request(request) = parse(binary).unwrap() else {
            panic!("a request frame");
        };
        assert_eq!(request.body, [0x00, 0xff]);
        assert_eq!(request.event_type, None);
    }

    #[test]
    fn control_frames_and_errors() {
        assert_eq!(
            parse(r#"{"type":"ready","cursor":"0.0"}"#),
            Ok(ServerFrame::Ready {
                cursor: "0.0".into()
            })
        );
        assert_eq!(parse(r#"{"type":"pong"}"#), Ok(ServerFrame::Other));
        assert_eq!(parse(r#"{"type":"future","x":1}"#), Ok(ServerFrame::Other));
        assert!(parse(r#"{"type":"message","cursor":"1"}"#).is_err());
        assert!(parse(r#"{"type":"ready"}"#).is_err());
        assert!(parse("not json").is_err());
        assert!(parse(
            r#"{"type":"request","cursor":"1","request":{"id":"r","method":"POST","path":"/","bodyBase64":"***"}}"#
        )
        .is_err());
    }
}
