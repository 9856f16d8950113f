//! `POST /api/v1/app/{app}/endpoint/{endpoint}/send-example`: an example of an event type,
//! taken from its schema's `examples`, sent to one endpoint and no other, against real
//! receivers; `svix.ping` without an event type; and every way the request can be wrong.

use std::time::Duration;

use hookd_test_support::TestSink;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, WAIT};

#[tokio::test]
async fn an_example_goes_to_the_one_endpoint_asked_for() {
    let server = TestServer::start().await;
    let mut chosen = TestSink::start(&[200]).await;
    let mut other = TestSink::start(&[200]).await;
    let app = server.app("Acme").await;
    let endpoint = server
        .endpoint(&app, json!({"url": chosen.url("/a")}))
        .await;
    server.endpoint(&app, json!({"url": other.url("/b")})).await;
    for (name, schema) in [
        (
            "invoice.paid",
            json!({"type": "object", "required": ["amount"],
                   "properties": {"amount": {"type": "integer"}},
                   "examples": [{"amount": 1}, {"amount": 2, "currency": "EUR"}]}),
        ),
        ("user.created", json!({"type": "object"})),
        (
            "order.broken",
            json!({"type": "object", "required": ["id"], "examples": [{"name": "x"}, [1]]}),
        ),
    ] {
        let (status, body) = server
            .post(
                "/api/v1/event-type",
                json!({"name": name, "description": name, "schemas": {"1": schema}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let send = format!("/api/v1/app/{app}/endpoint/{endpoint}/send-example");

    let (status, message) = server
        .post(
            &send,
            json!({"eventType": "invoice.paid", "exampleIndex": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{message}");
    assert_eq!(message["eventType"], "invoice.paid");
    assert_eq!(message["payload"], json!({"amount": 2, "currency": "EUR"}));
    let got = chosen.next(WAIT).await.expect("the example arrives");
    assert_eq!(got.header("webhook-id"), message["id"].as_str());
    assert_eq!(got.body.as_ref(), br#"{"amount":2,"currency":"EUR"}"#);

    let (status, ping) = server.post(&send, json!({"eventType": "svix.ping"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ping}");
    assert_eq!(ping["payload"], json!({"success": true}));
    let got = chosen.next(WAIT).await.expect("the ping arrives");
    assert_eq!(got.header("webhook-id"), ping["id"].as_str());
    assert!(
        other.next(Duration::from_millis(300)).await.is_none(),
        "the other endpoint gets neither"
    );
    // A real message: listed with the others.
    let (_, listed) = server.get(&format!("/api/v1/app/{app}/msg")).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");

    for (body, status, field) in [
        (
            json!({"eventType": "user.created"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "eventType",
        ),
        (
            json!({"eventType": "invoice.paid", "exampleIndex": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "exampleIndex",
        ),
        (
            json!({"eventType": "order.broken", "exampleIndex": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "exampleIndex",
        ),
        (
            json!({"eventType": "order.broken"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "id",
        ),
        (json!({"eventType": "no.such"}), StatusCode::NOT_FOUND, ""),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "eventType"),
    ] {
        let (answer_status, answer) = server.post(&send, body.clone()).await;
        assert_eq!(answer_status, status, "{body}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    let (status, _) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/app/{app}/endpoint/{endpoint}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.post(&send, json!({"eventType": "svix.ping"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(chosen.next(Duration::from_millis(200)).await.is_none());
    server.stop().await;
}
