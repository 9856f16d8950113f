//! Bad input gets a precise `{"code","detail"}` answer and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Options, TestServer, TOKEN};

async fn raw(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &'static str,
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .request(method, format!("{}{}", server.base, path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str, detail_contains: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    let detail = got.1["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(detail_contains),
        "detail {detail:?} should mention {detail_contains:?}"
    );
}

#[tokio::test]
async fn auth_failures_are_401() {
    let server = TestServer::start().await;
    assert_error(
        &raw(&server, Method::GET, "/api/v1/app", None, "").await,
        StatusCode::UNAUTHORIZED,
        "authentication_failed",
        "Authorization",
    );
    assert_error(
        &raw(
            &server,
            Method::GET,
            "/api/v1/app",
            Some("wrong-token-wrong-token"),
            "",
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "authentication_failed",
        "invalid token",
    );
    // Health needs no token.
    assert_eq!(
        raw(&server, Method::GET, "/api/v1/health", None, "")
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_and_misshapen_bodies() {
    let server = TestServer::start().await;
    let app = server.app("Bad").await;
    let msg = format!("/api/v1/app/{app}/msg");
    assert_error(
        &raw(
            &server,
            Method::POST,
            "/api/v1/app",
            Some(TOKEN),
            "{\"name\": ",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "malformed JSON",
    );
    assert_error(
        &raw(&server, Method::POST, "/api/v1/app", Some(TOKEN), "{}").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "name",
    );
    assert_error(
        &raw(
            &server,
            Method::POST,
            "/api/v1/app",
            Some(TOKEN),
            "{\"name\": 5}",
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "name",
    );
    let (status, body) = server
        .post(
            &msg,
            json!({"eventType": "a.b", "payload": {}, "channels": ["ok", 7]}),
        )
        .await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "channels[1]",
    );
    let (status, body) = server
        .post(&msg, json!({"eventType": "bad type!", "payload": {}}))
        .await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "eventType",
    );
    let (status, body) = server
        .post(&msg, json!({"eventType": "a.b", "payload": [1]}))
        .await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "payload",
    );
    let (status, body) = server
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "ftp://example.com/"}),
        )
        .await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "url",
    );
    let (status, body) = server
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "not a url"}),
        )
        .await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "url",
    );
    let (status, body) = server
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "https://example.com/", "secret": "whsec_short"}),
        )
        .await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "secret",
    );
    let (status, body) = server.get("/api/v1/app?limit=251").await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "limit",
    );
    // Nothing above created a message.
    let (_, list) = server.get(&msg).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let server = TestServer::start().await;
    let app = server.app("Known").await;
    assert_error(
        &server.get("/api/v1/app/app_doesnotexist").await,
        StatusCode::NOT_FOUND,
        "not_found",
        "application",
    );
    assert_error(
        &server
            .get(&format!("/api/v1/app/{app}/endpoint/ep_nope"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        "endpoint",
    );
    assert_error(
        &server.get(&format!("/api/v1/app/{app}/msg/msg_nope")).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "message",
    );
    assert_error(
        &server.get("/api/v1/event-type/nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
        "event type",
    );
    assert_error(
        &server
            .post(
                "/api/v1/app/app_missing/msg",
                json!({"eventType": "a", "payload": {}}),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        "application",
    );
    assert_error(
        &server.get("/api/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "not_found",
        "path",
    );
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = TestServer::start_with(Options {
        body_limit: Some("4KiB"),
        ..Options::default()
    })
    .await;
    let app = server.app("Big").await;
    let big = "x".repeat(8 * 1024);
    let (status, body) = server
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "a.b", "payload": {"big": big}}),
        )
        .await;
    assert_error(
        &(status, body),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "4096",
    );
}

#[tokio::test]
async fn event_id_repeats_are_409_and_idempotency_keys_replay() {
    let server = TestServer::start().await;
    let app = server.app("Dedup").await;
    let path = format!("/api/v1/app/{app}/msg");
    let first = server
        .publish(
            &app,
            json!({"eventType": "a.b", "payload": {}, "eventId": "evt-1"}),
        )
        .await;
    let repeat = server
        .post(
            &path,
            json!({"eventType": "a.b", "payload": {}, "eventId": "evt-1"}),
        )
        .await;
    assert_error(&repeat, StatusCode::CONFLICT, "conflict", "evt-1");
    // The same eventId in another application is a different event.
    let other = server.app("Other").await;
    server
        .publish(
            &other,
            json!({"eventType": "a.b", "payload": {}, "eventId": "evt-1"}),
        )
        .await;
    // The message is findable by its eventId.
    let (status, found) = server.get(&format!("{path}/evt-1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["id"], first);

    let send = |key: &'static str| {
        server
            .client
            .post(format!("{}{}", server.base, path))
            .bearer_auth(TOKEN)
            .header("idempotency-key", key)
            .json(&json!({"eventType": "a.b", "payload": {"n": 1}}))
            .send()
    };
    let one: Value = send("key-1").await.unwrap().json().await.unwrap();
    let two = send("key-1").await.unwrap();
    assert_eq!(two.status(), StatusCode::ACCEPTED);
    let two: Value = two.json().await.unwrap();
    assert_eq!(
        one["id"], two["id"],
        "the repeat returns the first response"
    );
    let three: Value = send("key-2").await.unwrap().json().await.unwrap();
    assert_ne!(one["id"], three["id"]);
    let (_, list) = server.get(&path).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        3,
        "evt-1, key-1, key-2"
    );
}

#[tokio::test]
async fn payloads_that_break_their_schema_are_422_with_the_field_path() {
    let server = TestServer::start().await;
    let app = server.app("Schema").await;
    let schema = json!({"1": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer"}, "customer": {"type": "object", "properties": {"email": {"type": "string"}}}}}});
    let (status, body) = server.post("/api/v1/event-type", json!({"name": "invoice.paid", "description": "An invoice was paid", "schemas": schema})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let path = format!("/api/v1/app/{app}/msg");
    let bad = server.post(&path, json!({"eventType": "invoice.paid", "payload": {"amount": 5, "customer": {"email": 42}}})).await;
    assert_error(
        &bad,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "payload.customer.email",
    );
    let missing = server
        .post(&path, json!({"eventType": "invoice.paid", "payload": {}}))
        .await;
    assert_error(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "amount",
    );
    server
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "payload": {"amount": 5}}),
        )
        .await;
    let broken = server
        .post(
            "/api/v1/event-type",
            json!({"name": "x.y", "description": "", "schemas": {"1": {"type": 12}}}),
        )
        .await;
    assert_error(
        &broken,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "schemas.1",
    );
}

#[tokio::test]
async fn trailing_slashes_and_pagination() {
    let server = TestServer::start().await;
    for n in 0..5 {
        server.app(&format!("app-{n}")).await;
    }
    let (status, page) = server.get("/api/v1/app/?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["done"], false);
    let mut names: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    let mut iterator = page["iterator"].as_str().unwrap().to_owned();
    loop {
        let (_, page) = server
            .get(&format!("/api/v1/app?limit=2&iterator={iterator}"))
            .await;
        names.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["name"].as_str().unwrap().to_owned()),
        );
        if page["done"] == true {
            break;
        }
        iterator = page["iterator"].as_str().unwrap().to_owned();
    }
    assert_eq!(
        names,
        (0..5).map(|n| format!("app-{n}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_full_database_answers_503_and_keeps_every_acknowledged_message() {
    // A real SQLite file capped small, so it fills up as a disk would.
    let server = TestServer::start_with(Options {
        max_database_size: Some("512KiB"),
        ..Options::default()
    })
    .await;
    let app = server.app("Full").await;
    let path = format!("/api/v1/app/{app}/msg");
    let filler = "y".repeat(4_000);
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for n in 0..1_000 {
        let (status, body) = server
            .post(
                &path,
                json!({"eventType": "fill.up", "payload": {"n": n, "filler": filler}}),
            )
            .await;
        match status {
            StatusCode::ACCEPTED => acknowledged.push(body["id"].as_str().unwrap().to_owned()),
            _ => {
                refusal = Some((status, body));
                break;
            }
        }
    }
    let refusal = refusal.expect("the capped database fills up");
    assert_error(
        &refusal,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "nothing was written",
    );
    assert!(!acknowledged.is_empty());
    // Every acknowledged message is there, and the refused one is not.
    let mut listed = Vec::new();
    let mut iterator: Option<String> = None;
    loop {
        let query = iterator
            .as_ref()
            .map(|it| format!("&iterator={it}"))
            .unwrap_or_default();
        let (status, page) = server.get(&format!("{path}?limit=250{query}")).await;
        assert_eq!(status, StatusCode::OK);
        listed.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned()),
        );
        if page["done"] == true {
            break;
        }
        iterator = page["iterator"].as_str().map(str::to_owned);
    }
    listed.sort();
    acknowledged.sort();
    assert_eq!(listed, acknowledged);
}

/// A client that trickles its request head is cut off after `header_read_timeout`
/// (slowloris), and so is one that connects and sends nothing; a live stream whose
/// request was read is not, however long it stays open, and the server goes on
/// answering.
#[tokio::test]
async fn a_request_head_that_never_completes_is_cut_off() {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start_with(Options {
        header_read_timeout: Some("1s"),
        ..Options::default()
    })
    .await;
    let app = server.app("Slow").await;
    let path = format!("/api/v1/app/{app}/stream");
    let mut stream = crate::streams::SseClient::connect(&server, &path, None).await;
    stream.until_ready().await;

    let address = server.base.trim_start_matches("http://").to_owned();
    let mut trickling = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let began = Instant::now();
    trickling
        .write_all(b"POST /api/v1/app HTTP/1.1\r\nHost: hookd\r\n")
        .await
        .unwrap();
    for connection in [&mut trickling, &mut silent] {
        let mut buffer = [0u8; 256];
        // The server closes the connection: end of stream, or a reset.
        let read = tokio::time::timeout(Duration::from_secs(20), connection.read(&mut buffer))
            .await
            .expect("the server still holds the connection after 20 s");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    assert!(
        began.elapsed() >= Duration::from_millis(900),
        "{:?}",
        began.elapsed()
    );

    // The stream outlived the timeout and still carries messages.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let message = server
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
        )
        .await;
    let event = stream.expect().await;
    assert_eq!(event.json()["id"], message.as_str(), "{event:?}");
    server.stop().await;
}
