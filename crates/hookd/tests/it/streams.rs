//! Live streams end to end (issue 6): real SSE and WebSocket clients over TCP against a
//! real server. A client receives a message, disconnects, misses messages, reconnects
//! with its last id and receives exactly the missed ones, then live ones; a client that
//! stops reading is cut off with a reason and resumes; the long-poll answers at once,
//! waits, or times out empty; app tokens open one application's stream only.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::{Options, TestServer, TOKEN, WAIT};

/// One Server-Sent Event.
#[derive(Debug, Clone, Default)]
pub(crate) struct SseEvent {
    pub(crate) event: String,
    pub(crate) id: Option<String>,
    pub(crate) data: String,
}

impl SseEvent {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// Where an SSE client's bytes come from: reqwest, or a raw socket (chunked by hand).
enum Source {
    Reqwest(reqwest::Response),
    Raw(RawChunked),
}

/// An SSE client: parses events from the body as it arrives. Comments are counted.
pub(crate) struct SseClient {
    source: Source,
    buffer: String,
    comments: usize,
}

impl SseClient {
    pub(crate) async fn connect(
        server: &TestServer,
        path_and_query: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        let mut request = server
            .client
            .get(format!("{}{}", server.base, path_and_query))
            .bearer_auth(TOKEN);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self::over(Source::Reqwest(response))
    }

    fn over(source: Source) -> Self {
        Self {
            source,
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event, `None` when the stream ended.
    pub(crate) async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    ..SseEvent::default()
                };
                let mut fields = 0;
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                        continue;
                    }
                    let (name, value) = line.split_once(": ").unwrap_or((line, ""));
                    fields += 1;
                    match name {
                        "event" => event.event = value.to_owned(),
                        "id" => event.id = Some(value.to_owned()),
                        "data" => event.data.push_str(value),
                        _ => {}
                    }
                }
                if fields > 0 {
                    return Some(event);
                }
                continue;
            }
            let chunk = match &mut self.source {
                Source::Reqwest(response) => response.chunk().await.expect("stream body")?.to_vec(),
                Source::Raw(raw) => raw.chunk().await?,
            };
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("SSE is UTF-8"));
        }
    }

    /// The next event under [`WAIT`].
    pub(crate) async fn expect(&mut self) -> SseEvent {
        tokio::time::timeout(WAIT, self.next())
            .await
            .expect("an event within the wait")
            .expect("the stream is still open")
    }

    /// Events up to and including `ready`; returns the messages before it and the ready
    /// event.
    pub(crate) async fn until_ready(&mut self) -> (Vec<SseEvent>, SseEvent) {
        let mut messages = Vec::new();
        loop {
            let event = self.expect().await;
            if event.event == "ready" {
                return (messages, event);
            }
            assert_eq!(event.event, "message", "{event:?}");
            messages.push(event);
        }
    }
}

/// An HTTP/1.1 response body read from a raw socket with a small receive buffer (so that
/// the server's writes block as soon as the client stops reading).
struct RawChunked {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
    headers_done: bool,
}

impl RawChunked {
    async fn get(server: &TestServer, path: &str, last_event_id: Option<&str>) -> Self {
        let address: std::net::SocketAddr =
            server.base.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(address).await.unwrap();
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n{resume}\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        Self {
            stream,
            buffer: Vec::new(),
            headers_done: false,
        }
    }

    async fn fill(&mut self) -> bool {
        let mut bytes = [0u8; 4096];
        let n = self.stream.read(&mut bytes).await.unwrap_or(0);
        self.buffer.extend_from_slice(&bytes[..n]);
        n > 0
    }

    /// The next chunk of the body, `None` at its end.
    async fn chunk(&mut self) -> Option<Vec<u8>> {
        while !self.headers_done {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).to_string();
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                assert!(
                    head.to_ascii_lowercase()
                        .contains("transfer-encoding: chunked"),
                    "{head}"
                );
                self.buffer.drain(..end + 4);
                self.headers_done = true;
            } else if !self.fill().await {
                return None;
            }
        }
        loop {
            if let Some(line_end) = find(&self.buffer, b"\r\n") {
                let size_text = String::from_utf8_lossy(&self.buffer[..line_end]).to_string();
                let size = usize::from_str_radix(size_text.trim(), 16).expect("chunk size");
                if size == 0 {
                    return None;
                }
                if self.buffer.len() >= line_end + 2 + size + 2 {
                    let chunk = self.buffer[line_end + 2..line_end + 2 + size].to_vec();
                    self.buffer.drain(..line_end + 2 + size + 2);
                    return Some(chunk);
                }
            }
            if !self.fill().await {
                return None;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

async fn publish(server: &TestServer, app: &str, n: u32) -> String {
    server
        .publish(
            app,
            json!({"eventType": "order.paid", "payload": {"n": n}, "channels": ["orders"]}),
        )
        .await
}

fn message_ids(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| event.json()["id"].as_str().expect("message id").to_owned())
        .collect()
}

#[tokio::test]
async fn sse_client_resumes_with_last_event_id_and_misses_nothing() {
    let server = TestServer::start().await;
    let app = server.app("Streamed").await;
    let path = format!("/api/v1/app/{app}/stream");

    let mut first = SseClient::connect(&server, &path, None).await;
    let (replayed, ready) = first.until_ready().await;
    assert!(
        replayed.is_empty(),
        "a new client gets only what comes next"
    );
    assert!(
        ready.id.is_some(),
        "ready carries the cursor to resume from"
    );
    let m1 = publish(&server, &app, 1).await;
    let event = first.expect().await;
    assert_eq!(event.event, "message");
    assert_eq!(event.json()["id"], m1);
    assert_eq!(event.json()["payload"], json!({"n": 1}));
    assert_eq!(event.json()["eventType"], "order.paid");
    assert_eq!(event.json()["channels"], json!(["orders"]));
    let last_id = event.id.clone().expect("messages carry an id");
    drop(first);

    let m2 = publish(&server, &app, 2).await;
    let m3 = publish(&server, &app, 3).await;

    let mut second = SseClient::connect(&server, &path, Some(&last_id)).await;
    let (replayed, _) = second.until_ready().await;
    assert_eq!(
        message_ids(&replayed),
        vec![m2.clone(), m3.clone()],
        "exactly the missed ones"
    );
    let m4 = publish(&server, &app, 4).await;
    let live = second.expect().await;
    assert_eq!(live.json()["id"], m4, "then live ones, nothing repeated");

    // `?after=` with a message id resumes the same way.
    let mut third = SseClient::connect(&server, &format!("{path}?after={m2}"), None).await;
    let (replayed, _) = third.until_ready().await;
    assert_eq!(message_ids(&replayed), vec![m3, m4]);
    drop(third);

    // Filters: another event type is passed over.
    let mut filtered = SseClient::connect(
        &server,
        &format!("{path}?event_types=invoice.paid&after={m1}"),
        None,
    )
    .await;
    let (replayed, _) = filtered.until_ready().await;
    assert!(replayed.is_empty(), "{replayed:?}");
    server
        .publish(&app, json!({"eventType": "invoice.paid", "payload": {}}))
        .await;
    assert_eq!(filtered.expect().await.json()["eventType"], "invoice.paid");
    server.stop().await;
}

#[tokio::test]
async fn sse_heartbeats_and_bad_resume_ids() {
    let server = TestServer::start_with(Options {
        stream_heartbeat: Some("100ms"),
        ..Options::default()
    })
    .await;
    let app = server.app("Beating").await;
    let path = format!("/api/v1/app/{app}/stream");
    let mut client = SseClient::connect(&server, &path, None).await;
    client.until_ready().await;
    let message = publish(&server, &app, 1).await;
    // The message arrives although heartbeats go on meanwhile; then more heartbeats.
    assert_eq!(client.expect().await.json()["id"], message);
    let deadline = Instant::now() + WAIT;
    while client.comments < 2 {
        assert!(Instant::now() < deadline, "no heartbeats");
        let _ = tokio::time::timeout(Duration::from_millis(300), client.next()).await;
    }

    let (status, body) = server.get(&format!("{path}?after=nonsense")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "validation");
    let unknown = "msg_2pDk5mXq1ZzZzZzZzZzZzZzZzZz";
    let (status, body) = server.get(&format!("{path}?after={unknown}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = server.get("/api/v1/app/app_nothere/stream").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

pub(crate) type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(server: &TestServer, path_and_query: &str) -> WebSocket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!(
        "{}{}",
        server.base.replacen("http", "ws", 1),
        path_and_query
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket handshake");
    assert_eq!(response.status(), 101);
    socket
}

/// The next JSON text frame (pings skipped).
pub(crate) async fn ws_next(socket: &mut WebSocket) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame within the wait")
            .expect("the socket is open")
            .expect("a valid frame");
        match frame {
            WsMessage::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Frames up to `ready`: the replayed messages and the ready frame.
async fn ws_until_ready(socket: &mut WebSocket) -> (Vec<Value>, Value) {
    let mut messages = Vec::new();
    loop {
        let frame = ws_next(socket).await;
        match frame["type"].as_str() {
            Some("ready") => return (messages, frame),
            Some("message") => messages.push(frame),
            _ => panic!("unexpected frame {frame}"),
        }
    }
}

#[tokio::test]
async fn websocket_client_resumes_with_after_and_misses_nothing() {
    let server = TestServer::start().await;
    let app = server.app("Sockets").await;
    let path = format!("/api/v1/app/{app}/stream");

    let mut first = ws_connect(&server, &path).await;
    let (replayed, ready) = ws_until_ready(&mut first).await;
    assert!(replayed.is_empty());
    assert!(ready["cursor"].is_string());
    let m1 = publish(&server, &app, 1).await;
    let frame = ws_next(&mut first).await;
    assert_eq!(frame["type"], "message");
    assert_eq!(frame["message"]["id"], m1);
    assert_eq!(frame["message"]["payload"], json!({"n": 1}));
    let cursor = frame["cursor"].as_str().unwrap().to_owned();
    // A client ping is answered.
    first
        .send(WsMessage::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(ws_next(&mut first).await, json!({"type": "pong"}));
    first.close(None).await.unwrap();
    drop(first);

    let m2 = publish(&server, &app, 2).await;
    let m3 = publish(&server, &app, 3).await;
    let mut second = ws_connect(&server, &format!("{path}?after={cursor}")).await;
    let (replayed, _) = ws_until_ready(&mut second).await;
    let ids: Vec<_> = replayed
        .iter()
        .map(|frame| frame["message"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec![m2, m3], "exactly the missed ones");
    let m4 = publish(&server, &app, 4).await;
    assert_eq!(ws_next(&mut second).await["message"]["id"], m4);
    server.stop().await;
}

/// The close frame the server ends with, skipping anything before it.
async fn ws_close_frame(socket: &mut WebSocket) -> (CloseCode, String) {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame within the wait");
        match frame {
            Some(Ok(WsMessage::Close(Some(close)))) => {
                return (close.code, close.reason.as_str().to_owned())
            }
            Some(Ok(WsMessage::Close(None))) | None | Some(Err(_)) => {
                panic!("the server closed without a code")
            }
            Some(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn websocket_client_sending_garbage_is_closed_with_code_and_reason() {
    let server = TestServer::start().await;
    let app = server.app("Garbage").await;
    let path = format!("/api/v1/app/{app}/stream");

    let mut socket = ws_connect(&server, &path).await;
    ws_until_ready(&mut socket).await;
    socket.send(WsMessage::Text("hello?".into())).await.unwrap();
    let (code, reason) = ws_close_frame(&mut socket).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains(r#"{"type":"ping"}"#), "{reason}");

    let mut socket = ws_connect(&server, &path).await;
    ws_until_ready(&mut socket).await;
    socket
        .send(WsMessage::Binary(vec![0, 159, 146, 150].into()))
        .await
        .unwrap();
    let (code, reason) = ws_close_frame(&mut socket).await;
    assert_eq!(code, CloseCode::Unsupported);
    assert!(reason.contains("binary"), "{reason}");
    server.stop().await;
}

#[tokio::test]
async fn slow_client_is_cut_off_with_a_reason_and_resumes_without_loss() {
    const MESSAGES: u32 = 160;
    let server = TestServer::start_with(Options {
        stream_buffer: Some(4),
        ..Options::default()
    })
    .await;
    let app = server.app("Slow").await;
    let path = format!("/api/v1/app/{app}/stream");
    let mut slow = SseClient::over(Source::Raw(RawChunked::get(&server, &path, None).await));
    slow.until_ready().await;

    // The client stops reading while ~12 MiB is published: far more than the socket
    // buffers and the stream's buffer of 4 messages hold.
    let filler = "x".repeat(80 * 1024);
    let mut published = Vec::new();
    for n in 0..MESSAGES {
        published.push(
            server
                .publish(
                    &app,
                    json!({"eventType": "bulk", "payload": {"n": n, "filler": filler}}),
                )
                .await,
        );
    }

    let mut received = Vec::new();
    let closing = loop {
        let event = slow.expect().await;
        match event.event.as_str() {
            "message" => received.push(event),
            "closing" => break event,
            other => panic!("unexpected event {other}"),
        }
    };
    assert!(
        tokio::time::timeout(WAIT, slow.next())
            .await
            .expect("the stream ends")
            .is_none(),
        "nothing follows the closing event"
    );
    let closing = closing.json();
    assert_eq!(closing["code"], "slow_client", "{closing}");
    assert!(
        received.len() < MESSAGES as usize,
        "the client was cut off early"
    );
    let last_id = received.last().and_then(|event| event.id.clone());
    assert_eq!(
        closing["cursor"].as_str().map(str::to_owned),
        last_id
            .clone()
            .or_else(|| closing["cursor"].as_str().map(str::to_owned))
    );

    // It resumes from its last id and gets the rest, each message exactly once.
    let resume_from = closing["cursor"]
        .as_str()
        .expect("closing names a cursor")
        .to_owned();
    let mut resumed = SseClient::connect(&server, &path, Some(&resume_from)).await;
    let (rest, _) = resumed.until_ready().await;
    let mut all = message_ids(&received);
    all.extend(message_ids(&rest));
    assert_eq!(all, published, "every message once, in order");
    server.stop().await;
}

#[tokio::test]
async fn long_poll_answers_at_once_waits_for_a_publish_and_times_out_empty() {
    let server = TestServer::start().await;
    let app = server.app("Polled").await;
    let events = format!("/api/v1/app/{app}/events");

    let (status, body) = server.get(&events).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["done"], true);
    let start = body["iterator"]
        .as_str()
        .expect("an iterator even when empty")
        .to_owned();

    let m1 = publish(&server, &app, 1).await;
    let m2 = publish(&server, &app, 2).await;
    // Returns at once when messages exist after the cursor.
    let (status, body) = server
        .get(&format!("{events}?after={start}&wait=20&limit=1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["id"], m1);
    assert_eq!(body["data"][0]["payload"], json!({"n": 1}));
    assert_eq!(body["done"], false);
    let after_m1 = body["iterator"].as_str().unwrap().to_owned();
    let (_, body) = server.get(&format!("{events}?after={after_m1}")).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["id"], m2);
    assert_eq!(body["done"], true);
    let after_m2 = body["iterator"].as_str().unwrap().to_owned();

    // Times out empty, with the same cursor back.
    let started = Instant::now();
    let (status, body) = server
        .get(&format!("{events}?after={after_m2}&wait=1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited");
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["iterator"], after_m2.as_str());

    // Waits, and returns as soon as a message is published.
    let waiting = {
        let client = server.client.clone();
        let url = format!("{}{events}?after={after_m2}&wait=25", server.base);
        tokio::spawn(async move {
            let started = Instant::now();
            let body: Value = client
                .get(url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (body, started.elapsed())
        })
    };
    let m3 = publish(&server, &app, 3).await;
    let (body, waited) = waiting.await.unwrap();
    assert_eq!(body["data"][0]["id"], m3, "{body}");
    assert!(
        waited < Duration::from_secs(25),
        "it returned on the publish"
    );

    // Filtered-out messages still move the cursor.
    let (_, body) = server
        .get(&format!("{events}?after={after_m2}&event_types=none.such"))
        .await;
    assert_eq!(body["data"], json!([]));
    assert_ne!(body["iterator"], after_m2.as_str());

    for (query, status) in [
        ("?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("?wait=-1", StatusCode::UNPROCESSABLE_ENTITY),
        ("?after=1.x", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (got, body) = server.get(&format!("{events}{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn app_tokens_open_one_application_only() {
    let server = TestServer::start().await;
    let app_a = server.app("A").await;
    let app_b = server.app("B").await;
    let (status, access) = server
        .post(
            &format!("/api/v1/auth/app-portal-access/{app_a}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{access}");
    let token = access["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("hkat."), "{token}");
    let url = access["url"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("/api/v1/app/{app_a}/stream?token={token}")),
        "{url}"
    );

    let get = |path: String, token: Option<String>| {
        let client = server.client.clone();
        let base = server.base.clone();
        async move {
            let mut request = client.get(format!("{base}{path}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };

    // Its own application: events with the header, the stream with ?token= (EventSource).
    let (status, body) = get(format!("/api/v1/app/{app_a}/events"), Some(token.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = server.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = SseClient::over(Source::Reqwest(response));
    stream.until_ready().await;
    drop(stream);

    // Another application, existing or not: 403.
    for other in [
        app_b.as_str(),
        "app_2pDk5mXq1ZzZzZzZzZzZzZzZzZz",
        "no-such-uid",
    ] {
        let (status, body) = get(format!("/api/v1/app/{other}/events"), Some(token.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{other}: {body}");
        assert_eq!(body["code"], "forbidden");
    }
    // Admin routes: 403, even for its own application.
    for path in [
        "/api/v1/app".to_owned(),
        format!("/api/v1/app/{app_a}"),
        format!("/api/v1/app/{app_a}/msg"),
    ] {
        let (status, body) = get(path.clone(), Some(token.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    // Forged, missing: 401.
    let forged = format!("{}x", &token[..token.len() - 1]);
    let (status, _) = get(format!("/api/v1/app/{app_a}/events"), Some(forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get(format!("/api/v1/app/{app_a}/events"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // The admin token reads any application; an unknown one is 404.
    let (status, _) = server.get(&format!("/api/v1/app/{app_b}/events")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.get("/api/v1/app/no-such-uid/events").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Expired: 401 once its second has passed.
    let (status, short) = server
        .post(
            &format!("/api/v1/auth/app-portal-access/{app_a}"),
            json!({"expiry": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{short}");
    let short = short["token"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = get(format!("/api/v1/app/{app_a}/events"), Some(short.clone())).await;
        if status == StatusCode::UNAUTHORIZED {
            assert!(
                body["detail"].as_str().unwrap().contains("expired"),
                "{body}"
            );
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(Instant::now() < deadline, "the token never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for bad in [
        json!({"expiry": 0}),
        json!({"expiry": 700_000}),
        json!({"expiry": "1h"}),
    ] {
        let (status, body) = server
            .post(
                &format!("/api/v1/auth/app-portal-access/{app_a}"),
                bad.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (status, _) = server
        .post("/api/v1/auth/app-portal-access/no-such-app", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn cors_allows_the_configured_origins_on_stream_routes() {
    let server = TestServer::start_with(Options {
        cors_allowed_origins: vec!["https://app.example.com"],
        ..Options::default()
    })
    .await;
    let app = server.app("Cors").await;
    for (origin, allowed) in [
        ("https://app.example.com", true),
        ("https://evil.example", false),
    ] {
        let response = server
            .client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/app/{app}/events", server.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        let header = response
            .headers()
            .get("access-control-allow-origin")
            .map(|value| value.to_str().unwrap().to_owned());
        assert_eq!(
            header.as_deref() == Some(origin),
            allowed,
            "{origin}: {header:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn token_create_command_prints_a_working_token() {
    let server = TestServer::start().await;
    let app = server.app("Cli").await;
    let hookd = env!("CARGO_BIN_EXE_hookd");
    let output = tokio::process::Command::new(hookd)
        .args([
            "token",
            "create",
            "--app",
            &app,
            "--expires",
            "1h",
            "--server",
            &server.base,
        ])
        .env("HOOKD_ADMIN_TOKEN", TOKEN)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("hkat."), "{token}");
    let response = server
        .client
        .get(format!("{}/api/v1/app/{app}/events", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // A wrong admin token, a missing --app, an unreachable server: non-zero, one line.
    for (args, token) in [
        (
            vec![
                "token",
                "create",
                "--app",
                app.as_str(),
                "--server",
                server.base.as_str(),
            ],
            "wrong-token-0123456789",
        ),
        (
            vec!["token", "create", "--server", server.base.as_str()],
            TOKEN,
        ),
        (
            vec![
                "token",
                "create",
                "--app",
                app.as_str(),
                "--server",
                "http://127.0.0.1:9",
            ],
            TOKEN,
        ),
    ] {
        let output = tokio::process::Command::new(hookd)
            .args(&args)
            .env("HOOKD_ADMIN_TOKEN", token)
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn stream_on_one_node_receives_messages_published_on_another() {
    let Some(server_url) = hookd_store_postgres::testing::server_url() else {
        return;
    };
    let database = hookd_store_postgres::testing::TestDatabase::create(&server_url).await;
    let node = |database: String| {
        TestServer::start_with(Options {
            database: Some(database),
            ..Options::default()
        })
    };
    let reader = node(database.url().to_owned()).await;
    let writer = node(database.url().to_owned()).await;
    let app = writer.app("Shared").await;
    let path = format!("/api/v1/app/{app}/stream");
    let mut client = SseClient::connect(&reader, &path, None).await;
    client.until_ready().await;
    let mut published = Vec::new();
    for n in 0..20 {
        let target = if n % 2 == 0 { &writer } else { &reader };
        published.push(publish(target, &app, n).await);
    }
    let mut received = Vec::new();
    while received.len() < published.len() {
        received.push(client.expect().await);
    }
    let mut received = message_ids(&received);
    let unique: HashSet<_> = received.iter().cloned().collect();
    assert_eq!(unique.len(), received.len(), "no message twice");
    received.sort();
    published.sort();
    assert_eq!(received, published);

    // Resuming on the other node from the last cursor seen gets nothing again.
    let (status, body) = writer
        .get(&format!(
            "/api/v1/app/{app}/events?after={}",
            client_last_cursor(&reader, &app).await
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([]));
    reader.stop().await;
    writer.stop().await;
}

/// The cursor of the newest message, read through the long-poll.
async fn client_last_cursor(server: &TestServer, app: &str) -> String {
    let (_, body) = server
        .get(&format!("/api/v1/app/{app}/events?after=0.0&limit=250"))
        .await;
    body["iterator"].as_str().unwrap().to_owned()
}
