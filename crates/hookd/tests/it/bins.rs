//! Inspector bins end to end (issue 6, item 3): a real server, real HTTP clients. A bin
//! records any method, path, query and content type with a binary body intact; lists
//! newest first with pagination; answers 429 when full and 404 when expired or unknown;
//! streams captures live over SSE and WebSocket, and a client that reconnects with its
//! last id gets exactly what it missed; a replay reaches a real receiver with the
//! original body and headers, and obeys the private-network guard; a bin token reads
//! its own bin only.

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::StreamExt;
use hookd_test_support::TestSink;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::streams::{ws_next, SseClient, WebSocket};
use crate::support::{Options, TestServer, WAIT};

/// Creates a bin; returns its JSON (`id`, `url`, `token`, …).
async fn create_bin(server: &TestServer, body: Value) -> Value {
    let (status, bin) = server.post("/api/v1/bin", body).await;
    assert_eq!(status, StatusCode::CREATED, "{bin}");
    bin
}

/// Sends a request to a bin URL (plus `suffix`); returns the status, headers and body.
async fn send(
    server: &TestServer,
    method: Method,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = server
        .client
        .request(method, url)
        .header("content-type", content_type)
        .header("x-custom", "first")
        .header("x-custom", "second")
        .body(body)
        .send()
        .await
        .expect("the bin answers");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn body_bytes(request: &Value) -> Vec<u8> {
    match (request["body"].as_str(), request["bodyBase64"].as_str()) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
        _ => panic!("exactly one of body and bodyBase64: {request}"),
    }
}

#[tokio::test]
async fn bin_records_any_request_with_its_binary_body_intact() {
    let server = TestServer::start().await;
    let bin = create_bin(&server, json!({})).await;
    let bin_id = bin["id"].as_str().unwrap();
    let url = bin["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/b/{bin_id}")), "{url}");
    assert!(bin["token"].as_str().unwrap().starts_with("hkat.bin_"));

    let every_byte: Vec<u8> = (0..=255u8).collect();
    let (status, headers, answer) = send(
        &server,
        Method::PUT,
        &format!("{url}/deep/path?x=1&y=%20two"),
        "application/octet-stream",
        every_byte.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&answer).unwrap(),
        json!({"ok": true})
    );
    let request_id = headers["x-hookd-request-id"].to_str().unwrap().to_owned();

    let (status, captured) = server
        .get(&format!("/api/v1/bin/{bin_id}/request/{request_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{captured}");
    assert_eq!(body_bytes(&captured), every_byte);
    assert!(captured["body"].is_null());
    assert_eq!(captured["binId"], bin_id);
    assert_eq!(captured["method"], "PUT");
    assert_eq!(captured["path"], "/deep/path");
    assert_eq!(captured["query"], "x=1&y=%20two");
    assert_eq!(captured["bodySize"], 256);
    assert_eq!(captured["bodyTruncated"], false);
    assert_eq!(captured["contentType"], "application/octet-stream");
    assert_eq!(captured["sourceIp"], "127.0.0.1");
    assert!(captured["receivedAt"].as_str().unwrap().ends_with('Z'));
    let headers: Vec<(String, String)> =
        serde_json::from_value(captured["headers"].clone()).unwrap();
    let custom: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name == "x-custom")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(
        custom,
        ["first", "second"],
        "repeated headers kept in order"
    );
    assert!(headers.iter().all(|(name, _)| *name == name.to_lowercase()));

    // Another method and content type, at the bin's own URL, with a text body.
    let (status, _, _) = send(
        &server,
        Method::PATCH,
        url,
        "text/plain; charset=utf-8",
        "héllo".as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A body past the capture limit (1 MiB): its start is kept, its size counted.
    let large = vec![b'a'; (1 << 20) + 10];
    let (status, headers, _) = send(&server, Method::POST, url, "text/plain", large).await;
    assert_eq!(status, StatusCode::OK);
    let large_id = headers["x-hookd-request-id"].to_str().unwrap();
    let (_, truncated) = server
        .get(&format!("/api/v1/bin/{bin_id}/request/{large_id}"))
        .await;
    assert_eq!(truncated["bodySize"], (1 << 20) + 10);
    assert_eq!(truncated["bodyTruncated"], true);
    assert_eq!(body_bytes(&truncated).len(), 1 << 20);

    let (_, listed) = server.get(&format!("/api/v1/bin/{bin_id}/request")).await;
    let texts: Vec<&Value> = listed["data"].as_array().unwrap().iter().collect();
    assert_eq!(texts.len(), 3);
    assert_eq!(texts[1]["method"], "PATCH");
    assert_eq!(texts[1]["path"], "/");
    assert_eq!(texts[1]["body"], "héllo");
    assert!(texts[1]["query"].is_null());
    let (_, bin) = server.get(&format!("/api/v1/bin/{bin_id}")).await;
    assert_eq!(bin["requestCount"], 3);
    server.stop().await;
}

#[tokio::test]
async fn bin_answers_with_its_configured_response() {
    let server = TestServer::start().await;
    let bin = create_bin(
        &server,
        json!({"status": 202, "body": "<ok/>", "contentType": "application/xml",
               "headers": {"X-Bin": "yes"}}),
    )
    .await;
    let (status, headers, body) = send(
        &server,
        Method::DELETE,
        bin["url"].as_str().unwrap(),
        "text/plain",
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["content-type"], "application/xml");
    assert_eq!(headers["x-bin"], "yes");
    assert_eq!(body, b"<ok/>");
    for (input, field) in [
        (json!({"status": 700}), "status"),
        (json!({"status": 101}), "status"),
        (json!({"expiresIn": 0}), "expiresIn"),
        (json!({"maxRequests": 0}), "maxRequests"),
        (json!({"headers": {"bad name": "x"}}), "headers"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let (status, error) = server.post("/api/v1/bin", input).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert!(error["detail"].as_str().unwrap().contains(field), "{error}");
    }
    server.stop().await;
}

#[tokio::test]
async fn captured_requests_are_listed_newest_first_page_by_page() {
    let server = TestServer::start().await;
    let bin = create_bin(&server, json!({})).await;
    let (bin_id, url) = (bin["id"].as_str().unwrap(), bin["url"].as_str().unwrap());
    let mut sent = Vec::new();
    for n in 0..5 {
        let (_, headers, _) = send(
            &server,
            Method::POST,
            &format!("{url}?n={n}"),
            "application/json",
            format!("{{\"n\":{n}}}").into_bytes(),
        )
        .await;
        sent.push(headers["x-hookd-request-id"].to_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/bin/{bin_id}/request?limit=2");
    loop {
        let (status, page) = server.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for request in page["data"].as_array().unwrap() {
            seen.push(request["id"].as_str().unwrap().to_owned());
        }
        if page["done"] == true {
            break;
        }
        path = format!(
            "/api/v1/bin/{bin_id}/request?limit=2&iterator={}",
            page["iterator"].as_str().unwrap()
        );
    }
    sent.reverse();
    assert_eq!(seen, sent);
    server.stop().await;
}

#[tokio::test]
async fn a_full_bin_answers_429_and_an_expired_or_unknown_one_404() {
    let server = TestServer::start().await;
    let bin = create_bin(&server, json!({"maxRequests": 2})).await;
    let url = bin["url"].as_str().unwrap();
    for _ in 0..2 {
        let (status, _, _) = send(&server, Method::POST, url, "text/plain", b"x".to_vec()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _, body) = send(&server, Method::POST, url, "text/plain", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["code"], "bin_full");
    assert!(
        error["detail"].as_str().unwrap().contains("full"),
        "{error}"
    );
    let (_, listed) = server
        .get(&format!(
            "/api/v1/bin/{}/request",
            bin["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        2,
        "nothing stored past the cap"
    );

    let unknown = format!("{}/b/bin_0000000000000000000000000000", server.base);
    let (status, _, body) = send(&server, Method::GET, &unknown, "text/plain", Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["code"], "not_found");

    let short = create_bin(&server, json!({"expiresIn": 1})).await;
    let short_url = short["url"].as_str().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _, body) = send(
            &server,
            Method::POST,
            short_url,
            "text/plain",
            b"late".to_vec(),
        )
        .await;
        if status == StatusCode::NOT_FOUND {
            let error: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(error["code"], "not_found");
            assert!(
                error["detail"].as_str().unwrap().contains("expired"),
                "{error}"
            );
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(Instant::now() < deadline, "the bin never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

/// Sends `n` numbered requests to the bin; returns their ids.
async fn capture_n(server: &TestServer, url: &str, first: u32, n: u32) -> Vec<String> {
    let mut ids = Vec::new();
    for index in first..first + n {
        let (status, headers, _) = send(
            server,
            Method::POST,
            url,
            "application/json",
            format!("{{\"n\":{index}}}").into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        ids.push(headers["x-hookd-request-id"].to_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test]
async fn sse_client_gets_captures_live_and_exactly_the_missed_ones_after_reconnecting() {
    let server = TestServer::start().await;
    let bin = create_bin(&server, json!({})).await;
    let (bin_id, url) = (bin["id"].as_str().unwrap(), bin["url"].as_str().unwrap());
    let path = format!("/api/v1/bin/{bin_id}/stream");
    let mut client = SseClient::connect(&server, &path, None).await;
    let (replayed, _) = client.until_ready().await;
    assert!(replayed.is_empty());
    let first = capture_n(&server, url, 0, 1).await;
    let event = client.expect().await;
    assert_eq!(event.event, "message");
    let request = event.json();
    assert_eq!(request["id"], first[0].as_str());
    assert_eq!(request["binId"], bin_id);
    assert_eq!(request["body"], "{\"n\":0}");
    let last_id = event.id.clone().expect("events carry an id");
    drop(client);

    let missed = capture_n(&server, url, 1, 3).await;
    let mut client = SseClient::connect(&server, &path, Some(&last_id)).await;
    let (replayed, _) = client.until_ready().await;
    let replayed_ids: Vec<String> = replayed
        .iter()
        .map(|event| event.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(replayed_ids, missed);
    let live = capture_n(&server, url, 4, 1).await;
    assert_eq!(client.expect().await.json()["id"], live[0].as_str());

    // `?after=` a captured request's id resumes the same way.
    let mut client =
        SseClient::connect(&server, &format!("{path}?after={}", missed[1]), None).await;
    let (replayed, _) = client.until_ready().await;
    let replayed_ids: Vec<String> = replayed
        .iter()
        .map(|event| event.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(replayed_ids, [missed[2].clone(), live[0].clone()]);
    server.stop().await;
}

/// A WebSocket on a bin's stream authenticated by `?token=` alone.
async fn ws_with_token(
    server: &TestServer,
    path: &str,
    token: &str,
    after: Option<&str>,
) -> WebSocket {
    let mut url = format!(
        "{}{path}?token={token}",
        server.base.replacen("http", "ws", 1)
    );
    if let Some(after) = after {
        url.push_str(&format!("&after={after}"));
    }
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket handshake");
    assert_eq!(response.status(), 101);
    socket
}

/// Frames up to `ready`: the replayed request frames and the ready frame.
async fn ws_requests_until_ready(socket: &mut WebSocket) -> (Vec<Value>, Value) {
    let mut requests = Vec::new();
    loop {
        let frame = ws_next(socket).await;
        match frame["type"].as_str() {
            Some("ready") => return (requests, frame),
            Some("request") => requests.push(frame),
            _ => panic!("unexpected frame {frame}"),
        }
    }
}

#[tokio::test]
async fn websocket_client_with_a_bin_token_resumes_with_after_and_misses_nothing() {
    let server = TestServer::start().await;
    let bin = create_bin(&server, json!({})).await;
    let (bin_id, url) = (bin["id"].as_str().unwrap(), bin["url"].as_str().unwrap());
    let token = bin["token"].as_str().unwrap();
    let path = format!("/api/v1/bin/{bin_id}/stream");
    let mut socket = ws_with_token(&server, &path, token, None).await;
    ws_requests_until_ready(&mut socket).await;
    let first = capture_n(&server, url, 0, 1).await;
    let frame = ws_next(&mut socket).await;
    assert_eq!(frame["type"], "request");
    assert_eq!(frame["request"]["id"], first[0].as_str());
    let cursor = frame["cursor"].as_str().unwrap().to_owned();
    drop(socket);

    let missed = capture_n(&server, url, 1, 2).await;
    let mut socket = ws_with_token(&server, &path, token, Some(&cursor)).await;
    let (replayed, ready) = ws_requests_until_ready(&mut socket).await;
    let replayed_ids: Vec<&str> = replayed
        .iter()
        .map(|frame| frame["request"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(replayed_ids, missed);
    assert_eq!(ready["cursor"], replayed[1]["cursor"]);
    let live = capture_n(&server, url, 3, 1).await;
    assert_eq!(
        ws_next(&mut socket).await["request"]["id"],
        live[0].as_str()
    );
    socket.close(None).await.ok();
    while socket.next().await.is_some() {}
    server.stop().await;
}

#[tokio::test]
async fn replay_sends_the_captured_request_to_a_real_receiver() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[201]).await;
    let bin = create_bin(&server, json!({})).await;
    let (bin_id, url) = (bin["id"].as_str().unwrap(), bin["url"].as_str().unwrap());
    let every_byte: Vec<u8> = (0..=255u8).rev().collect();
    let response = server
        .client
        .post(url)
        .header("content-type", "application/octet-stream")
        .header("x-signature", "sig=abc")
        .header("connection", "keep-alive")
        .body(every_byte.clone())
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-hookd-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let (status, answer) = server
        .post(
            &format!("/api/v1/bin/{bin_id}/request/{request_id}/replay"),
            json!({"url": sink.url("/hooks/local")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], 201);
    assert_eq!(answer["body"], "sink answered 201");
    assert!(answer["durationMs"].is_u64());
    let received = sink.next(WAIT).await.expect("the receiver got the replay");
    assert_eq!(received.path, "/hooks/local");
    assert_eq!(received.body.as_ref(), every_byte.as_slice());
    assert_eq!(received.header("x-signature"), Some("sig=abc"));
    assert_eq!(
        received.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        received.header("host"),
        Some(sink.address.to_string().as_str()),
        "Host is the receiver's, not the bin's"
    );
    assert_eq!(received.header("content-length"), Some("256"));

    let (status, error) = server
        .post(
            &format!("/api/v1/bin/{bin_id}/request/{request_id}/replay"),
            json!({"url": "ftp://example.com/x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    server.stop().await;
}

#[tokio::test]
async fn replay_to_a_private_address_is_refused_with_how_to_allow_it() {
    let server = TestServer::start_with(Options {
        allow_loopback: false,
        ..Options::default()
    })
    .await;
    let mut sink = TestSink::start(&[200]).await;
    let bin = create_bin(&server, json!({})).await;
    let (bin_id, url) = (bin["id"].as_str().unwrap(), bin["url"].as_str().unwrap());
    let request_id = capture_n(&server, url, 0, 1).await.remove(0);
    let (status, error) = server
        .post(
            &format!("/api/v1/bin/{bin_id}/request/{request_id}/replay"),
            json!({"url": sink.url("/")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "address_refused");
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("--allow-private-network 127.0.0.0/8"),
        "{error}"
    );
    assert!(sink.next(Duration::from_millis(200)).await.is_none());
    server.stop().await;
}

/// A request with `token` as the bearer; returns the status and JSON body.
async fn as_token(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
) -> (StatusCode, Value) {
    let response = server
        .client
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_bin_token_reads_its_own_bin_only() {
    let server = TestServer::start().await;
    let mine = create_bin(&server, json!({})).await;
    let other = create_bin(&server, json!({})).await;
    let (mine_id, other_id) = (mine["id"].as_str().unwrap(), other["id"].as_str().unwrap());
    let token = mine["token"].as_str().unwrap();
    let request_id = capture_n(&server, mine["url"].as_str().unwrap(), 0, 1)
        .await
        .remove(0);

    for path in [
        format!("/api/v1/bin/{mine_id}"),
        format!("/api/v1/bin/{mine_id}/request"),
        format!("/api/v1/bin/{mine_id}/request/{request_id}"),
    ] {
        let (status, body) = as_token(&server, Method::GET, &path, token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let query_token = server
        .client
        .get(format!(
            "{}/api/v1/bin/{mine_id}/request?token={token}",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(query_token.status(), StatusCode::OK);

    for (method, path) in [
        (Method::GET, format!("/api/v1/bin/{other_id}/request")),
        (Method::GET, format!("/api/v1/bin/{other_id}/stream")),
        (
            Method::GET,
            "/api/v1/bin/bin_0000000000000000000000000000".to_owned(),
        ),
        (Method::DELETE, format!("/api/v1/bin/{mine_id}")),
        (
            Method::POST,
            format!("/api/v1/bin/{mine_id}/request/{request_id}/replay"),
        ),
        (Method::POST, "/api/v1/bin".to_owned()),
        (Method::GET, "/api/v1/bin".to_owned()),
        (Method::GET, "/api/v1/app".to_owned()),
    ] {
        let (status, body) = as_token(&server, method.clone(), &path, token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["code"], "forbidden");
    }
    let forged = format!("{}x", token);
    let (status, _) = as_token(
        &server,
        Method::GET,
        &format!("/api/v1/bin/{mine_id}"),
        &forged,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The admin deletes the bin: it answers 404 from then on.
    let (status, _) = server
        .call(Method::DELETE, &format!("/api/v1/bin/{mine_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = send(
        &server,
        Method::POST,
        mine["url"].as_str().unwrap(),
        "text/plain",
        b"gone".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn a_capture_on_one_node_reaches_a_stream_on_another() {
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
    let bin = create_bin(&writer, json!({})).await;
    let bin_id = bin["id"].as_str().unwrap();
    let mut client =
        SseClient::connect(&reader, &format!("/api/v1/bin/{bin_id}/stream"), None).await;
    client.until_ready().await;
    let writer_url = format!("{}/b/{bin_id}", writer.base);
    let reader_url = format!("{}/b/{bin_id}", reader.base);
    let mut sent = Vec::new();
    for n in 0..10 {
        let url = if n % 2 == 0 { &writer_url } else { &reader_url };
        let target = if n % 2 == 0 { &writer } else { &reader };
        sent.extend(capture_n(target, url, n, 1).await);
    }
    let mut received = Vec::new();
    let mut cursors = Vec::new();
    while received.len() < sent.len() {
        let event = client.expect().await;
        cursors.push(event.id.clone().unwrap());
        received.push(event.json()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(received, sent, "every capture once, in capture order");
    let expected: Vec<String> = (1..=10).map(|n| format!("0.{n}")).collect();
    assert_eq!(cursors, expected);
    reader.stop().await;
    writer.stop().await;
}
