//! Retention and expunge through the real server: payloads and attempt content expire in
//! the background after their (here tiny) periods, except the payload of a message whose
//! delivery is still pending; `DELETE …/msg/{id}/content` removes one message's content
//! at once and stops its pending deliveries. Each scenario runs on SQLite and, when
//! `HOOKD_TEST_PG_URL` is set, on PostgreSQL.

use hookd_core::model::Attempt;
use hookd_store_postgres::testing::{server_url, TestDatabase};
use hookd_test_support::TestSink;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Options, TestServer, WAIT};

/// A retry schedule long enough that a failed delivery stays pending for the whole test.
const PENDING_FOR_THE_TEST: &str = "1h";

fn attempts_path(app: &str, msg_id: &str) -> String {
    format!("/api/v1/app/{app}/attempt/msg/{msg_id}")
}

fn has_attempts(body: &Value) -> bool {
    body["data"].as_array().is_some_and(|data| !data.is_empty())
}

async fn background_retention(database: Option<String>) {
    let server = TestServer::start_with(Options {
        retry_schedule: PENDING_FOR_THE_TEST,
        retention: Some(("300ms", "300ms", "50ms")),
        database,
        ..Options::default()
    })
    .await;
    let mut failing = TestSink::start(&[500]).await;
    let mut healthy = TestSink::start(&[200]).await;
    let stuck_app = server.app("Stuck").await;
    server
        .endpoint(&stuck_app, json!({"url": failing.url("/stuck")}))
        .await;
    let app = server.app("Acme").await;
    let endpoint = server
        .endpoint(&app, json!({"url": healthy.url("/ok")}))
        .await;

    // Published first, so it is older than the message that expires below: its first
    // attempt fails and its retry is an hour away, so its delivery stays unfinished.
    let pending = server
        .publish(
            &stuck_app,
            json!({"eventType": "invoice.paid", "payload": {"keep": "me"}}),
        )
        .await;
    failing
        .next(WAIT)
        .await
        .expect("the pending message's first attempt");
    server
        .eventually(&attempts_path(&stuck_app, &pending), has_attempts)
        .await;

    let delivered = server
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "eventId": "inv-1", "payload": {"secret": "s3"}}),
        )
        .await;
    let received = healthy.next(WAIT).await.expect("delivered");
    assert_eq!(&received.body[..], br#"{"secret":"s3"}"#);

    let message = server
        .eventually(&format!("/api/v1/app/{app}/msg/{delivered}"), |body| {
            body["payload"] == json!({"expired": true})
        })
        .await;
    assert_eq!(message["eventId"], "inv-1", "the message itself stays");
    let attempts = server
        .eventually(&attempts_path(&app, &delivered), |body| {
            body["data"][0]["response"] == Attempt::EXPUNGED_RESPONSE
        })
        .await;
    let attempt = &attempts["data"][0];
    assert_eq!(attempt["status"], 0, "{attempt}");
    assert_eq!(attempt["responseStatusCode"], 200);
    assert_eq!(attempt["requestHeaders"], json!({}));

    // The older message with a pending delivery was looked at in the same passes and
    // kept its payload.
    let (status, kept) = server
        .get(&format!("/api/v1/app/{stuck_app}/msg/{pending}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept["payload"], json!({"keep": "me"}));

    // The message listing shows the same, and the eventId is still taken.
    let (_, listed) = server.get(&format!("/api/v1/app/{app}/msg")).await;
    assert_eq!(listed["data"][0]["payload"], json!({"expired": true}));
    let (status, conflict) = server
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "invoice.paid", "eventId": "inv-1", "payload": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");

    let (status, refused) = server
        .post(
            &format!("/api/v1/app/{app}/msg/{delivered}/endpoint/{endpoint}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], "missing_payload");
    assert!(
        refused["detail"].as_str().unwrap().contains("expired"),
        "{refused}"
    );
    assert!(healthy
        .next(std::time::Duration::from_millis(300))
        .await
        .is_none());
    server.stop().await;
}

async fn expunge_on_request(database: Option<String>) {
    let server = TestServer::start_with(Options {
        retry_schedule: PENDING_FOR_THE_TEST,
        database,
        ..Options::default()
    })
    .await;
    let mut failing = TestSink::start(&[500]).await;
    let app = server.app("Acme").await;
    let endpoint = server
        .endpoint(&app, json!({"url": failing.url("/hook")}))
        .await;
    let msg_id = server
        .publish(
            &app,
            json!({"eventType": "user.created", "eventId": "u-1", "payload": {"ssn": "123"}}),
        )
        .await;
    failing.next(WAIT).await.expect("first attempt");
    server
        .eventually(&attempts_path(&app, &msg_id), has_attempts)
        .await;

    // By eventId, as every message path accepts.
    let (status, body) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/app/{app}/msg/u-1/content"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null);

    let (_, message) = server.get(&format!("/api/v1/app/{app}/msg/{msg_id}")).await;
    assert_eq!(message["payload"], json!({"expired": true}));
    let (_, attempts) = server.get(&attempts_path(&app, &msg_id)).await;
    let attempts = attempts["data"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let stop = attempts
        .iter()
        .find(|attempt| attempt["response"] == Attempt::PAYLOAD_GONE_RESPONSE)
        .expect("the stopped delivery is recorded");
    assert_eq!(stop["status"], 2);
    assert_eq!(stop["endpointId"], endpoint);
    let first = attempts
        .iter()
        .find(|attempt| attempt["responseStatusCode"] == 500)
        .expect("the first attempt stays in the log");
    assert_eq!(first["response"], Attempt::EXPUNGED_RESPONSE);

    let (status, refused) = server
        .post(
            &format!("/api/v1/app/{app}/msg/{msg_id}/endpoint/{endpoint}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], "missing_payload");
    let (status, recovered) = server
        .post(
            &format!("/api/v1/app/{app}/endpoint/{endpoint}/recover"),
            json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert!(status.is_success(), "{status} {recovered}");
    assert!(
        failing
            .next(std::time::Duration::from_millis(500))
            .await
            .is_none(),
        "nothing is sent after an expunge"
    );

    for path in [
        format!("/api/v1/app/{app}/msg/msg_unknown/content"),
        "/api/v1/app/app_unknown/msg/u-1/content".to_owned(),
    ] {
        let (status, body) = server.call(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["code"], "not_found");
    }
    server.stop().await;
}

#[tokio::test]
async fn payloads_and_attempt_content_expire_in_the_background() {
    background_retention(None).await;
}

#[tokio::test]
async fn expunging_a_message_removes_its_content_and_stops_its_deliveries() {
    expunge_on_request(None).await;
}

#[tokio::test]
async fn retention_and_expunge_on_postgres() {
    let Some(server_url) = server_url() else {
        return;
    };
    let database = TestDatabase::create(&server_url).await;
    background_retention(Some(database.url().to_owned())).await;
    let database = TestDatabase::create(&server_url).await;
    expunge_on_request(Some(database.url().to_owned())).await;
}
