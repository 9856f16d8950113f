//! Bad input gets a precise `{"code","detail"}` answer and changes nothing; input that
//! only looks unusual (an integer written `5.0`, a name of odd characters, an optional
//! body sent as `null`) is taken, as the OpenAPI document says.

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
    // A path parameter that is not UTF-8 names nothing either (axum alone would answer a
    // plain-text 400).
    for path in ["/api/v1/app/%FF", "/api/v1/bin/%FF/request", "/b/%C0%80"] {
        assert_error(
            &server.get(path).await,
            StatusCode::NOT_FOUND,
            "not_found",
            path,
        );
    }
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

#[tokio::test]
async fn integral_floats_are_integers_and_fractions_are_refused() {
    let server = TestServer::start().await;
    // JSON Schema (and JavaScript) see 8883.0 as the integer 8883; so does hookd.
    let (status, bin) = server
        .post(
            "/api/v1/bin",
            json!({"maxRequests": 8883.0, "expiresIn": 60.0, "status": 201.0}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bin}");
    assert_eq!(bin["maxRequests"], 8883);
    assert_eq!(bin["response"]["status"], 201);
    let (status, app) = server
        .post(
            "/api/v1/app",
            json!({"name": "Floats", "throttleRate": 10.0}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["throttleRate"], 10);
    let app = app["id"].as_str().unwrap();
    for (method, path, body, field) in [
        (
            Method::PATCH,
            format!("/api/v1/app/{app}"),
            json!({"throttleRate": 2.5}),
            "throttleRate",
        ),
        (
            Method::PATCH,
            format!("/api/v1/app/{app}"),
            json!({"throttleRate": 65536.0}),
            "throttleRate",
        ),
        (
            Method::POST,
            "/api/v1/bin".to_owned(),
            json!({"maxRequests": 1e20}),
            "maxRequests",
        ),
        (
            Method::POST,
            "/api/v1/bin".to_owned(),
            json!({"expiresIn": -1.0}),
            "expiresIn",
        ),
        (
            Method::POST,
            format!("/api/v1/auth/app-portal-access/{app}"),
            json!({"expiry": 60.5}),
            "expiry",
        ),
    ] {
        let answer = server.call(method, &path, Some(body.clone())).await;
        assert_error(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            field,
        );
    }
    // A message's payload is the user's data: its numbers are kept as they were sent.
    let (status, published) = server
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "a.b", "payload": {"whole": 1.0, "count": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{published}");
    let id = published["id"].as_str().unwrap();
    let text = server
        .client
        .get(format!("{}/api/v1/app/{app}/msg/{id}", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#""payload":{"whole":1.0,"count":1}"#),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn feature_flags_of_app_portal_access_are_a_list_of_strings() {
    let server = TestServer::start().await;
    let app = server.app("Portal").await;
    let path = format!("/api/v1/auth/app-portal-access/{app}");
    // What the Svix SDKs send.
    let (status, answer) = server
        .post(&path, json!({"featureFlags": ["beta"], "readOnly": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["token"].as_str().unwrap().starts_with("hkat."));
    for (body, field) in [
        (json!({"featureFlags": "beta"}), "featureFlags"),
        (json!({"featureFlags": [["beta"]]}), "featureFlags[0]"),
        (json!({"featureFlags": {"beta": true}}), "featureFlags"),
    ] {
        assert_error(
            &server.post(&path, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            field,
        );
    }
    // The body is optional: nothing, or `null`, is the defaults.
    let (status, answer) = raw(&server, Method::POST, &path, Some(TOKEN), "null").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn an_event_types_feature_flags_are_names_in_patch_as_in_create_and_put() {
    let server = TestServer::start().await;
    let path = "/api/v1/event-type/invoice.paid";
    let (status, created) = server
        .post(
            "/api/v1/event-type",
            json!({"name": "invoice.paid", "description": "An invoice was paid"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for method in [Method::PATCH, Method::PUT] {
        assert_error(
            &server
                .call(
                    method.clone(),
                    path,
                    Some(json!({"description": "d", "featureFlags": ["beta", "not a flag"]})),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "featureFlags[1]",
        );
    }
    let (_, unchanged) = server.get(path).await;
    assert_eq!(unchanged["featureFlags"], Value::Null, "{unchanged}");
    let (status, patched) = server
        .call(
            Method::PATCH,
            path,
            Some(json!({"featureFlags": ["beta", "v2.early-access_1"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (_, stored) = server.get(path).await;
    assert_eq!(stored["featureFlags"], json!(["beta", "v2.early-access_1"]));
    assert_eq!(stored["description"], "An invoice was paid");
    // `null` clears them, as PATCH does for its other optional fields.
    let (status, cleared) = server
        .call(Method::PATCH, path, Some(json!({"featureFlags": null})))
        .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["featureFlags"], Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn a_name_needs_a_character_that_is_not_whitespace() {
    let server = TestServer::start().await;
    // Whitespace is Unicode White_Space, as the document's pattern spells it out.
    for name in ["", " ", "\t\n", "\u{3000}\u{85}\u{2028}", "\u{a0}\u{202f}"] {
        assert_error(
            &server.post("/api/v1/app", json!({"name": name})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "name",
        );
    }
    // U+001C..U+001F are separators, not whitespace (though Python's `\s` matches them),
    // and U+FEFF is not whitespace either (though ECMAScript's `\s` matches it).
    for name in ["\u{1c}", "\u{1f}", "\u{feff}", " a "] {
        let (status, app) = server.post("/api/v1/app", json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{name:?}: {app}");
    }
    let app = server.app("Named").await;
    assert_error(
        &server
            .call(
                Method::PATCH,
                &format!("/api/v1/app/{app}"),
                Some(json!({"name": "\u{2003}"})),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "name",
    );
    server.stop().await;
}

#[tokio::test]
async fn bodies_are_objects_and_typed_query_parameters_are_not_empty() {
    let server = TestServer::start().await;
    let app = server.app("Shapes").await;
    // serde would read `[null, null]` as the fields in order; a body is an object.
    assert_error(
        &raw(
            &server,
            Method::PATCH,
            &format!("/api/v1/app/{app}"),
            Some(TOKEN),
            "[null, null]",
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "JSON object",
    );
    assert_error(
        &raw(&server, Method::POST, "/api/v1/app", Some(TOKEN), "[1, ").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "malformed JSON",
    );
    // Optional bodies may be `null`.
    let (status, bin) = raw(&server, Method::POST, "/api/v1/bin", Some(TOKEN), "null").await;
    assert_eq!(status, StatusCode::CREATED, "{bin}");
    // An empty value of a typed parameter does not parse; an empty string parameter is
    // as good as absent.
    for (path, parameter) in [
        ("/api/v1/app?limit=", "limit"),
        ("/api/v1/app?order=", "order"),
        ("/api/v1/event-type?include_archived=", "include_archived"),
        ("/api/v1/event-type?with_content=yes", "with_content"),
    ] {
        assert_error(
            &server.get(path).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            parameter,
        );
    }
    let (status, list) = server.get("/api/v1/app?iterator=&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    server.stop().await;
}

#[tokio::test]
async fn what_a_body_refers_to_is_404_and_what_it_conflicts_with_409() {
    let server = TestServer::start().await;
    let app = server.app("Refs").await;
    assert_error(
        &server
            .post(
                "/api/v1/source",
                json!({"name": "x", "provider": "stripe", "secret": "s", "appId": "app_missing"}),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        "appId",
    );
    // A raw-key scheme takes any secret; the Standard Webhooks schemes do not, so the
    // endpoint cannot move to one while it keeps this secret.
    let endpoint = server
        .endpoint(
            &app,
            json!({"url": "https://example.com/", "signatureScheme": "github", "secret": "plain"}),
        )
        .await;
    let path = format!("/api/v1/app/{app}/endpoint/{endpoint}");
    for method in [Method::PATCH, Method::PUT] {
        let body = json!({"url": "https://example.com/", "signatureScheme": "standard"});
        assert_error(
            &server.call(method, &path, Some(body)).await,
            StatusCode::CONFLICT,
            "conflict",
            "signatureScheme",
        );
    }
    let (_, unchanged) = server.get(&path).await;
    assert_eq!(unchanged["signatureScheme"], "github");
    // The same for a source: a PUT that gives no secret keeps the source's, which must
    // suit the provider asked for (schemathesis found this answered a 422 naming a
    // `secret` the request did not have).
    let (status, source) = server
        .post(
            "/api/v1/source",
            json!({"name": "s", "provider": "stripe", "secret": "plain", "appId": app}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{source}");
    let path = format!("/api/v1/source/{}", source["id"].as_str().unwrap());
    let body = json!({"name": "s", "provider": "standard-webhooks", "appId": app});
    assert_error(
        &server.call(Method::PUT, &path, Some(body.clone())).await,
        StatusCode::CONFLICT,
        "conflict",
        "provider",
    );
    let (_, unchanged) = server.get(&path).await;
    assert_eq!(unchanged["provider"], "stripe");
    let mut with_secret = body;
    with_secret["secret"] = json!("plain");
    assert_error(
        &server
            .call(Method::PUT, &path, Some(with_secret.clone()))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "secret",
    );
    with_secret["secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let (status, moved) = server.call(Method::PUT, &path, Some(with_secret)).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["provider"], "standard-webhooks");
    server.stop().await;
}

/// schemathesis found a discord source stored with a secret that is no public key, whose
/// `/in/{source}` then answered 500 `bad_source_config` to every request.
#[tokio::test]
async fn a_source_is_not_stored_with_settings_its_verifier_cannot_use() {
    let server = TestServer::start().await;
    let app = server.app("Verifiers").await;
    let hex = |byte: u8| format!("{byte:02x}").repeat(32);
    let (points, not_points): (Vec<String>, Vec<String>) = (0..=255u8)
        .map(hex)
        .partition(|key| hookd_core::inbound::discord::is_public_key(key));
    let discord =
        |secret: &str| json!({"name": "d", "provider": "discord", "secret": secret, "appId": app});
    for secret in ["plain", &not_points[0], &points[0][1..]] {
        assert_error(
            &server.post("/api/v1/source", discord(secret)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "secret",
        );
    }
    let (status, source) = server.post("/api/v1/source", discord(&points[0])).await;
    assert_eq!(status, StatusCode::CREATED, "{source}");
    // An hmac template that signs a timestamp or an id needs the header that carries it.
    let generic = |scheme: Value| json!({"name": "g", "provider": "generic", "secret": "s", "appId": app, "generic": scheme});
    for (scheme, field) in [
        (
            json!({"template": "{timestamp}.{body}"}),
            "generic.timestampHeader",
        ),
        (
            json!({"kind": "hmac", "template": "{id}:{body}", "timestampHeader": "x-t"}),
            "generic.idHeader",
        ),
    ] {
        assert_error(
            &server.post("/api/v1/source", generic(scheme)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            field,
        );
    }
    for scheme in [
        json!({"template": "{timestamp}.{body}", "timestampHeader": "x-t"}),
        json!({"kind": "api-key", "template": "{timestamp}"}),
    ] {
        let (status, source) = server.post("/api/v1/source", generic(scheme)).await;
        assert_eq!(status, StatusCode::CREATED, "{source}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_publish_checks_its_application_even_when_it_exists() {
    let server = TestServer::start().await;
    let app = server.app("Exists").await;
    assert_error(
        &server
            .post(
                &format!("/api/v1/app/{app}/msg"),
                json!({"eventType": "a.b", "payload": {}, "application": {"name": " ", "uid": "ok"}}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "name",
    );
    // A uid shaped like an application id is refused by PATCH as by POST and PUT.
    assert_error(
        &server
            .call(
                Method::PATCH,
                &format!("/api/v1/app/{app}"),
                Some(json!({"uid": "app_0ESEyHrJzD313r047OkrAbgO6Ow"})),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "uid",
    );
    server.stop().await;
}

/// schemathesis found a publish that created its application under the body's uid, so
/// that the path it was published to found nothing afterwards (a GET of the message was
/// a 404, and the next publish to the path too).
#[tokio::test]
async fn a_publish_creates_its_application_under_the_path_it_names() {
    let server = TestServer::start().await;
    let publish =
        json!({"eventType": "a.b", "payload": {}, "application": {"name": "New", "uid": "other"}});
    for _ in 0..2 {
        let (status, message) = server
            .post("/api/v1/app/named-here/msg", publish.clone())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{message}");
        let (status, found) = server
            .get(&format!(
                "/api/v1/app/named-here/msg/{}",
                message["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
    }
    let (_, app) = server.get("/api/v1/app/named-here").await;
    assert_eq!(app["uid"], "named-here");
    assert_eq!(app["name"], "New");
    let (status, _) = server.get("/api/v1/app/other").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}
