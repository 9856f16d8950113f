//! Operational webhooks end to end: a real operator receiver gets `endpoint.created`,
//! `message.attempt.failing`, `message.attempt.exhausted`, `endpoint.disabled`,
//! `endpoint.updated` and `endpoint.deleted`, each signed so that the `standardwebhooks`
//! crate verifies it, in Svix's payload shape.

use std::time::Duration;

use hookd_test_support::{Received, TestSink};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Options, TestServer, WAIT};

/// 24 bytes, base64: a valid `whsec_` secret known to the test.
const OPERATOR_SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u";

/// The next event the operator receives, verified with the Standard Webhooks library.
async fn next_event(operator: &mut TestSink) -> Value {
    let received = operator
        .next(WAIT)
        .await
        .expect("an operational webhook arrives");
    verify(&received);
    serde_json::from_slice(&received.body).expect("a JSON body")
}

/// Events until one of `event_type` arrives; the others are returned too.
async fn event_of_type(operator: &mut TestSink, event_type: &str) -> (Value, Vec<Value>) {
    let mut others = Vec::new();
    loop {
        let event = next_event(operator).await;
        if event["type"] == event_type {
            return (event, others);
        }
        others.push(event);
    }
}

fn verify(received: &Received) {
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let value = received
            .header(name)
            .unwrap_or_else(|| panic!("{name} is sent"));
        headers.insert(name, value.parse().unwrap());
    }
    standardwebhooks::Webhook::new(OPERATOR_SECRET)
        .unwrap()
        .verify(&received.body, &headers)
        .expect("standardwebhooks verifies the operational webhook");
}

#[tokio::test]
async fn operator_receives_signed_operational_webhooks() {
    let mut operator = TestSink::start(&[200]).await;
    let server = TestServer::start_with(Options {
        // Five attempts: the fourth failure is followed by a retry (failing), the fifth
        // is the last (exhausted).
        retry_schedule: "20ms,20ms,20ms,20ms",
        operational_webhook_url: Some(operator.url("/operational")),
        operational_webhook_secret: Some(OPERATOR_SECRET.to_owned()),
        ..Options::default()
    })
    .await;

    // The internal application's uid is reserved.
    let (status, body) = server
        .post(
            "/api/v1/app",
            json!({"name": "squatter", "uid": "hookd-operational"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, app) = server
        .post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_id = app["id"].as_str().unwrap().to_owned();

    // endpoint.created
    let failing_sink = TestSink::start(&[500]).await;
    let failing = server
        .endpoint(
            &app_id,
            json!({"url": failing_sink.url("/a"), "uid": "always-500", "eventTypes": ["invoice.paid"]}),
        )
        .await;
    let created = next_event(&mut operator).await;
    assert_eq!(created["type"], "endpoint.created", "{created}");
    assert_eq!(
        created["data"],
        json!({"appId": app_id, "appUid": "acme", "endpointId": failing, "endpointUid": "always-500"})
    );
    assert!(created["timestamp"].is_string(), "{created}");

    // message.attempt.failing after the fourth failure, then message.attempt.exhausted.
    let msg_id = server
        .publish(
            &app_id,
            json!({"eventType": "invoice.paid", "eventId": "inv_1", "payload": {"amount": 1}}),
        )
        .await;
    let failing_event = next_event(&mut operator).await;
    assert_eq!(
        failing_event["type"], "message.attempt.failing",
        "{failing_event}"
    );
    let exhausted = next_event(&mut operator).await;
    assert_eq!(
        exhausted["type"], "message.attempt.exhausted",
        "{exhausted}"
    );
    for event in [&failing_event, &exhausted] {
        let data = &event["data"];
        assert_eq!(data["appId"], app_id.as_str(), "{event}");
        assert_eq!(data["appUid"], "acme", "{event}");
        assert_eq!(data["msgId"], msg_id.as_str(), "{event}");
        assert_eq!(data["msgEventId"], "inv_1", "{event}");
        assert_eq!(data["endpointId"], failing.as_str(), "{event}");
        assert_eq!(data["lastAttempt"]["responseStatusCode"], 500, "{event}");
        assert!(
            data["lastAttempt"]["id"]
                .as_str()
                .unwrap()
                .starts_with("atmpt_"),
            "{event}"
        );
        assert!(data["lastAttempt"]["timestamp"].is_string(), "{event}");
    }
    let attempts = server
        .get(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}"))
        .await
        .1;
    let attempt_ids: Vec<&str> = attempts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| attempt["id"].as_str().unwrap())
        .collect();
    assert_eq!(attempt_ids.len(), 5, "{attempts}");
    assert!(attempt_ids.contains(&exhausted["data"]["lastAttempt"]["id"].as_str().unwrap()));

    // endpoint.disabled (automatic) when an endpoint answers 410, with the exhausted
    // message that 410 failed.
    let gone_sink = TestSink::start(&[410]).await;
    let gone = server
        .endpoint(
            &app_id,
            json!({"url": gone_sink.url("/gone"), "eventTypes": ["account.closed"]}),
        )
        .await;
    let (created, _) = event_of_type(&mut operator, "endpoint.created").await;
    assert_eq!(created["data"]["endpointId"], gone.as_str());
    server
        .publish(
            &app_id,
            json!({"eventType": "account.closed", "payload": {}}),
        )
        .await;
    let (disabled, others) = event_of_type(&mut operator, "endpoint.disabled").await;
    assert_eq!(disabled["data"]["appId"], app_id.as_str(), "{disabled}");
    assert_eq!(disabled["data"]["appUid"], "acme", "{disabled}");
    assert_eq!(disabled["data"]["endpointId"], gone.as_str(), "{disabled}");
    assert_eq!(disabled["data"]["endpointUid"], Value::Null, "{disabled}");
    assert_eq!(disabled["data"]["trigger"], "automatic", "{disabled}");
    assert!(disabled["data"]["failSince"].is_string(), "{disabled}");
    assert!(
        others
            .iter()
            .any(|event| event["type"] == "message.attempt.exhausted"
                && event["data"]["endpointId"] == gone.as_str()),
        "{others:?}"
    );

    // endpoint.updated, and endpoint.disabled (manual) when an update disables it.
    let (status, _) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/app/{app_id}/endpoint/{failing}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let updated = next_event(&mut operator).await;
    assert_eq!(updated["type"], "endpoint.updated", "{updated}");
    assert_eq!(updated["data"]["endpointId"], failing.as_str());
    let manual = next_event(&mut operator).await;
    assert_eq!(manual["type"], "endpoint.disabled", "{manual}");
    assert_eq!(manual["data"]["trigger"], "manual", "{manual}");

    // endpoint.deleted
    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/app/{app_id}/endpoint/{failing}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let deleted = next_event(&mut operator).await;
    assert_eq!(deleted["type"], "endpoint.deleted", "{deleted}");
    assert_eq!(
        deleted["data"],
        json!({"appId": app_id, "appUid": "acme", "endpointId": failing, "endpointUid": "always-500"})
    );

    // Changes to the internal application's own endpoint send nothing (no loops).
    let (status, _) = server
        .call(
            Method::PATCH,
            "/api/v1/app/hookd-operational/endpoint/operator",
            Some(json!({"description": "still the operator"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        operator.next(Duration::from_millis(500)).await.is_none(),
        "no event about the operational application"
    );
    server.stop().await;
}

/// Without a configured secret, one is generated, kept, and readable with the admin token.
#[tokio::test]
async fn generated_operator_secret_is_readable_and_signs() {
    let mut operator = TestSink::start(&[200]).await;
    let server = TestServer::start_with(Options {
        operational_webhook_url: Some(operator.url("/operational")),
        ..Options::default()
    })
    .await;
    let (status, secret) = server
        .get("/api/v1/app/hookd-operational/endpoint/operator/secret")
        .await;
    assert_eq!(status, StatusCode::OK, "{secret}");
    let secret = secret["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");

    let app_id = server.app("generated").await;
    server
        .endpoint(&app_id, json!({"url": "https://example.com/hook"}))
        .await;
    let received = operator.next(WAIT).await.expect("endpoint.created arrives");
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, received.header(name).unwrap().parse().unwrap());
    }
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&received.body, &headers)
        .expect("the generated secret signs");
    server.stop().await;
}
