//! Where a message went, over HTTP: the endpoints a message was sent to and the messages
//! an endpoint was sent, each with its delivery's status and next attempt, against real
//! receivers (one answering 200, one 500 with the retry an hour away); and the expunging
//! of one attempt's content. The Svix SDK calls the same routes in `peers.rs`.

use std::time::Duration;

use hookd_test_support::TestSink;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Options, TestServer, WAIT};

#[tokio::test]
async fn a_message_and_an_endpoint_each_list_their_deliveries_with_status() {
    let server = TestServer::start_with(Options {
        retry_schedule: "1h",
        ..Options::default()
    })
    .await;
    let ok = TestSink::start(&[200]).await;
    let failing = TestSink::start(&[500]).await;
    let app = server.app("Acme").await;
    let good = server.endpoint(&app, json!({"url": ok.url("/ok")})).await;
    let bad = server
        .endpoint(&app, json!({"url": failing.url("/bad"), "uid": "bad-one"}))
        .await;
    let first = server
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "payload": {"n": 1}, "tags": ["vip"]}),
        )
        .await;
    let second = server
        .publish(
            &app,
            json!({"eventType": "user.created", "payload": {"n": 2}}),
        )
        .await;

    // Both messages settle: a success at one endpoint, a retry an hour away at the other.
    let destinations = format!("/api/v1/app/{app}/msg/{first}/endpoint");
    let listed = server
        .eventually(&destinations, |body| {
            body["data"]
                .as_array()
                .is_some_and(|data| data.len() == 2 && data.iter().all(|d| d["status"] != 1))
        })
        .await;
    let data = listed["data"].as_array().unwrap();
    let mut ids = [good.clone(), bad.clone()];
    ids.sort();
    assert_eq!(
        data[0]["id"],
        ids[0].as_str(),
        "oldest endpoint first: {listed}"
    );
    assert_eq!(data[1]["id"], ids[1].as_str());
    let at = |id: &str| data.iter().find(|d| d["id"] == id).unwrap().clone();
    assert_eq!(at(&good)["status"], 0);
    assert_eq!(at(&good)["statusText"], "success");
    assert_eq!(at(&good)["nextAttempt"], Value::Null);
    assert_eq!(at(&good)["url"], ok.url("/ok").as_str());
    assert_eq!(at(&bad)["status"], 3);
    assert_eq!(at(&bad)["statusText"], "sending");
    assert_eq!(at(&bad)["uid"], "bad-one");
    let next: chrono::DateTime<chrono::Utc> =
        at(&bad)["nextAttempt"].as_str().unwrap().parse().unwrap();
    // An hour with the default jitter of ±20%: 48 to 72 minutes after the attempt.
    let minutes = (next - chrono::Utc::now()).num_minutes();
    assert!(
        (46..=72).contains(&minutes),
        "retry in about an hour: {next}"
    );

    // The failing endpoint's messages, newest first, filtered, with and without payloads.
    let sent = |query: &str| {
        let path = format!("/api/v1/app/{app}/endpoint/bad-one/msg{query}");
        let server = &server;
        async move {
            let (status, body) = server.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body
        }
    };
    let both = server
        .eventually(&format!("/api/v1/app/{app}/endpoint/{bad}/msg"), |body| {
            body["data"]
                .as_array()
                .is_some_and(|data| data.len() == 2 && data.iter().all(|m| m["status"] == 3))
        })
        .await;
    assert_eq!(both["data"][0]["id"], second.as_str());
    assert_eq!(both["data"][1]["id"], first.as_str());
    assert_eq!(both["data"][1]["payload"], json!({"n": 1}));
    assert_eq!(both["data"][1]["eventType"], "invoice.paid");
    let bare = sent("?with_content=false&limit=1").await;
    assert_eq!(bare["data"][0]["payload"], json!({}));
    assert_eq!(bare["done"], false);
    let rest = sent(&format!("?iterator={}", bare["iterator"].as_str().unwrap())).await;
    assert_eq!(rest["data"][0]["id"], first.as_str());
    assert_eq!(rest["done"], true);
    for (query, expected) in [
        ("?status=3", vec![second.as_str(), first.as_str()]),
        ("?status=0", vec![]),
        ("?event_types=invoice.paid", vec![first.as_str()]),
        ("?tag=vip", vec![first.as_str()]),
    ] {
        let body = sent(query).await;
        let listed: Vec<_> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(listed, expected, "{query}");
    }
    let (status, good_sent) = server
        .get(&format!("/api/v1/app/{app}/endpoint/{good}/msg?status=0"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        good_sent["data"].as_array().unwrap().len(),
        2,
        "{good_sent}"
    );

    // The attempts themselves, by the class of their answer, with or without bodies.
    let attempts = |query: &str| {
        let path = format!("/api/v1/app/{app}/attempt/msg/{first}{query}");
        let server = &server;
        async move {
            let (status, body) = server.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body["data"].as_array().unwrap().clone()
        }
    };
    let failed = attempts("?status_code_class=500").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["endpointId"], bad.as_str());
    assert_eq!(failed[0]["responseStatusCode"], 500);
    let succeeded = attempts("?status_code_class=200&with_content=false").await;
    assert_eq!(succeeded.len(), 1, "{succeeded:?}");
    assert_eq!(succeeded[0]["endpointId"], good.as_str());
    assert_eq!(succeeded[0]["response"], "{}");
    assert!(attempts("?status_code_class=0").await.is_empty());
    assert_eq!(attempts("?tag=vip&event_types=invoice.paid").await.len(), 2);
    assert!(attempts("?channel=eu").await.is_empty());

    // Bad input.
    for (path, expected) in [
        (
            format!("/api/v1/app/{app}/msg/msg_nope/endpoint"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/app/{app}/endpoint/ep_nope/msg"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/app/app_nope/msg/{first}/endpoint"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/app/{app}/endpoint/{bad}/msg?status=9"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v1/app/{app}/endpoint/{bad}/msg?with_content=maybe"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v1/app/{app}/attempt/endpoint/{bad}?status_code_class=250"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, body) = server.get(&path).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(
            body["code"].is_string() && body["detail"].is_string(),
            "{body}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn one_attempts_content_can_be_expunged() {
    let server = TestServer::start().await;
    let sink = TestSink::start(&[200]).await;
    let app = server.app("Acme").await;
    let endpoint = server
        .endpoint(&app, json!({"url": sink.url("/hook")}))
        .await;
    let msg = server
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "payload": {"card": "4242"}}),
        )
        .await;
    let attempts = server
        .eventually(&format!("/api/v1/app/{app}/attempt/msg/{msg}"), |body| {
            body["data"].as_array().is_some_and(|data| !data.is_empty())
        })
        .await;
    let attempt = attempts["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(attempts["data"][0]["endpointId"], endpoint.as_str());
    assert_ne!(attempts["data"][0]["response"], "EXPUNGED");
    assert!(!attempts["data"][0]["requestHeaders"]
        .as_object()
        .unwrap()
        .is_empty());

    let content = format!("/api/v1/app/{app}/msg/{msg}/attempt/{attempt}/content");
    let (status, body) = server.call(Method::DELETE, &content, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, read) = server
        .get(&format!("/api/v1/app/{app}/msg/{msg}/attempt/{attempt}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["response"], "EXPUNGED");
    assert_eq!(read["requestHeaders"], json!({}));
    assert_eq!(
        read["responseStatusCode"], 200,
        "the outcome itself is kept"
    );
    // The message's own payload is untouched.
    let (_, message) = server.get(&format!("/api/v1/app/{app}/msg/{msg}")).await;
    assert_eq!(message["payload"], json!({"card": "4242"}));

    for path in [
        format!("/api/v1/app/{app}/msg/{msg}/attempt/atmpt_nope/content"),
        format!("/api/v1/app/{app}/msg/msg_nope/attempt/{attempt}/content"),
    ] {
        let (status, body) = server.call(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_endpoint_made_later_gets_what_it_missed_by_replay_once() {
    let server = TestServer::start().await;
    let mut first_sink = TestSink::start(&[200]).await;
    let mut late_sink = TestSink::start(&[200]).await;
    let app = server.app("Acme").await;
    server
        .endpoint(&app, json!({"url": first_sink.url("/first")}))
        .await;
    let paid = server
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
        )
        .await;
    server
        .publish(
            &app,
            json!({"eventType": "user.created", "payload": {"n": 2}}),
        )
        .await;
    for _ in 0..2 {
        first_sink
            .next(WAIT)
            .await
            .expect("the first endpoint gets both");
    }
    let late = server
        .endpoint(
            &app,
            json!({"url": late_sink.url("/late"), "filterTypes": ["invoice.paid"]}),
        )
        .await;

    let replay = format!("/api/v1/app/{app}/endpoint/{late}/replay-missing");
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, task) = server.post(&replay, json!({"since": since})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    assert_eq!(task["task"], "endpoint.replay");
    assert_eq!(task["status"], "finished");
    let got = late_sink
        .next(WAIT)
        .await
        .expect("the missed message arrives");
    assert_eq!(got.header("webhook-id"), Some(paid.as_str()));
    assert_eq!(got.body.as_ref(), br#"{"n":1}"#);
    // Once: a second replay finds nothing missing, and the filtered type never comes.
    let (status, _) = server.post(&replay, json!({"since": since})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(late_sink.next(Duration::from_millis(400)).await.is_none());
    assert!(first_sink.next(Duration::from_millis(100)).await.is_none());

    // Bad input.
    let (status, body) = server.post(&replay, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = server
        .post(
            &format!("/api/v1/app/{app}/endpoint/ep_nope/replay-missing"),
            json!({"since": since}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/app/{app}/endpoint/{late}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.post(&replay, json!({"since": since})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("is disabled"),
        "{body}"
    );
    // A resend to it is refused the same way.
    let (status, body) = server
        .post(
            &format!("/api/v1/app/{app}/msg/{paid}/endpoint/{late}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("before resending"),
        "{body}"
    );
    server.stop().await;
}
