//! The send path end to end: publish → signed POST to a real receiver → attempt logged.

use std::time::{Duration, Instant};

use hookd_core::signature;
use hookd_test_support::{Script, TestSink};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{lookup, now_secs, TestServer, WAIT};

#[tokio::test]
async fn published_message_arrives_signed_and_the_attempt_is_logged() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[200]).await;
    let app = server.app("Acme").await;
    let endpoint = server
        .endpoint(&app, json!({"url": sink.url("/hook")}))
        .await;
    let secret = server.secret(&app, &endpoint).await;
    assert!(secret.starts_with("whsec_"), "{secret}");

    // Keys deliberately out of alphabetical order: the body keeps the published order.
    let msg_id = server
        .publish(&app, json!({"eventType": "invoice.paid", "payload": {"zeta": 1, "alpha": "é", "mid": [1, 2]}}))
        .await;
    let received = sink
        .next(WAIT)
        .await
        .expect("the receiver gets the message");
    assert_eq!(received.path, "/hook");
    assert_eq!(
        &received.body[..],
        r#"{"zeta":1,"alpha":"é","mid":[1,2]}"#.as_bytes()
    );
    assert_eq!(received.header("webhook-id"), Some(msg_id.as_str()));
    assert_eq!(received.header("content-type"), Some("application/json"));

    // hookd's own verifier…
    signature::verify(
        &[&secret],
        &lookup(&received),
        &received.body,
        now_secs(),
        300,
    )
    .expect("hookd verifies its signature");
    // …and the Standard Webhooks library.
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, received.header(name).unwrap().parse().unwrap());
    }
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&received.body, &headers)
        .expect("standardwebhooks verifies hookd's signature");

    let attempts = server
        .eventually(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}"), |body| {
            body["data"].as_array().is_some_and(|data| !data.is_empty())
        })
        .await;
    let attempt = &attempts["data"][0];
    assert_eq!(attempt["responseStatusCode"], 200);
    assert_eq!(attempt["status"], 0);
    assert_eq!(attempt["endpointId"], endpoint);
    assert_eq!(attempt["response"], "sink answered 200");
    let attempt_id = attempt["id"].as_str().unwrap();
    let (status, one) = server
        .get(&format!(
            "/api/v1/app/{app}/msg/{msg_id}/attempt/{attempt_id}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], attempt_id);
    assert!(one["requestHeaders"]["webhook-signature"]
        .as_str()
        .unwrap()
        .starts_with("v1,"));
    server.stop().await;
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_message_on_the_third_attempt() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[500, 503, 200]).await;
    let app = server.app("Retry").await;
    let endpoint = server.endpoint(&app, json!({"url": sink.url("/")})).await;
    let msg_id = server
        .publish(&app, json!({"eventType": "a.b", "payload": {"n": 1}}))
        .await;
    for _ in 0..3 {
        let received = sink.next(WAIT).await.expect("an attempt arrives");
        assert_eq!(
            received.header("webhook-id"),
            Some(msg_id.as_str()),
            "every retry carries the same id"
        );
    }
    let attempts = server
        .eventually(
            &format!("/api/v1/app/{app}/attempt/endpoint/{endpoint}"),
            |body| body["data"].as_array().is_some_and(|data| data.len() == 3),
        )
        .await;
    let codes: Vec<_> = attempts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["responseStatusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, vec![200, 503, 500], "newest first");
    let stats = server
        .eventually(
            &format!("/api/v1/app/{app}/endpoint/{endpoint}/stats"),
            |body| body["success"] == 1,
        )
        .await;
    assert_eq!(stats["fail"], 0);
    let (_, failed_only) = server
        .get(&format!(
            "/api/v1/app/{app}/attempt/endpoint/{endpoint}?status=2"
        ))
        .await;
    assert_eq!(failed_only["data"].as_array().unwrap().len(), 2);
    assert!(
        sink.next(Duration::from_millis(300)).await.is_none(),
        "no attempt after a success"
    );
    server.stop().await;
}

#[tokio::test]
async fn exhausted_retries_fail_the_message_and_resend_delivers_it() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[500, 500, 500, 500, 200]).await;
    let app = server.app("Exhaust").await;
    let endpoint = server.endpoint(&app, json!({"url": sink.url("/")})).await;
    let msg_id = server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    // Schedule 50ms,50ms,50ms: four attempts in all, then the delivery fails.
    for _ in 0..4 {
        sink.next(WAIT).await.expect("attempt");
    }
    server
        .eventually(
            &format!("/api/v1/app/{app}/endpoint/{endpoint}/stats"),
            |body| body["fail"] == 1,
        )
        .await;
    assert!(
        sink.next(Duration::from_millis(300)).await.is_none(),
        "no fifth attempt"
    );
    let (status, _) = server
        .post(
            &format!("/api/v1/app/{app}/msg/{msg_id}/endpoint/{endpoint}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    sink.next(WAIT).await.expect("the resend arrives");
    let attempts = server
        .eventually(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}"), |body| {
            body["data"].as_array().is_some_and(|data| data.len() == 5)
        })
        .await;
    assert_eq!(
        attempts["data"][0]["triggerType"], 1,
        "the resend is a manual attempt"
    );
    assert_eq!(attempts["data"][0]["status"], 0);
    server.stop().await;
}

#[tokio::test]
async fn gone_disables_the_endpoint() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[410]).await;
    let app = server.app("Gone").await;
    let endpoint = server.endpoint(&app, json!({"url": sink.url("/")})).await;
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    sink.next(WAIT).await.expect("first attempt");
    let out = server
        .eventually(&format!("/api/v1/app/{app}/endpoint/{endpoint}"), |body| {
            body["disabled"] == true
        })
        .await;
    assert_eq!(out["disabled"], true);
    // A disabled endpoint gets nothing more.
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    assert!(sink.next(Duration::from_millis(500)).await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_during_the_grace_period() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[200]).await;
    let app = server.app("Rotate").await;
    let endpoint = server.endpoint(&app, json!({"url": sink.url("/")})).await;
    let old = server.secret(&app, &endpoint).await;
    let (status, _) = server
        .post(
            &format!("/api/v1/app/{app}/endpoint/{endpoint}/secret/rotate"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new = server.secret(&app, &endpoint).await;
    assert_ne!(old, new);
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {"x": 1}}))
        .await;
    let received = sink.next(WAIT).await.expect("delivery");
    let header = received.header("webhook-signature").unwrap();
    assert_eq!(header.split(' ').count(), 2, "{header}");
    for secret in [&old, &new] {
        signature::verify(
            &[secret],
            &lookup(&received),
            &received.body,
            now_secs(),
            300,
        )
        .unwrap_or_else(|error| panic!("{secret} should verify: {error}"));
    }
    // With no grace period the old secret stops signing at once.
    let (status, _) = server
        .post(
            &format!("/api/v1/app/{app}/endpoint/{endpoint}/secret/rotate"),
            json!({"gracePeriodSeconds": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let newest = server.secret(&app, &endpoint).await;
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {"x": 2}}))
        .await;
    let received = sink.next(WAIT).await.expect("delivery");
    let header = received.header("webhook-signature").unwrap();
    // The first rotation's old secret is still in its grace period; `new` is not.
    assert_eq!(header.split(' ').count(), 2, "{header}");
    signature::verify(
        &[&newest],
        &lookup(&received),
        &received.body,
        now_secs(),
        300,
    )
    .unwrap();
    assert!(
        signature::verify(&[&new], &lookup(&received), &received.body, now_secs(), 300).is_err()
    );
    server.stop().await;
}

#[tokio::test]
async fn filters_route_messages_by_event_type_and_channel() {
    let server = TestServer::start().await;
    let mut typed = TestSink::start(&[200]).await;
    let mut channeled = TestSink::start(&[200]).await;
    let app = server.app("Filters").await;
    server
        .endpoint(
            &app,
            json!({"url": typed.url("/"), "eventTypes": ["user.created"]}),
        )
        .await;
    server
        .endpoint(&app, json!({"url": channeled.url("/"), "channels": ["eu"]}))
        .await;
    let created = server
        .publish(&app, json!({"eventType": "user.created", "payload": {}}))
        .await;
    let eu = server
        .publish(
            &app,
            json!({"eventType": "user.deleted", "payload": {}, "channels": ["eu"]}),
        )
        .await;
    assert_eq!(
        typed.next(WAIT).await.unwrap().header("webhook-id"),
        Some(created.as_str())
    );
    assert_eq!(
        channeled.next(WAIT).await.unwrap().header("webhook-id"),
        Some(eu.as_str())
    );
    assert!(typed.next(Duration::from_millis(300)).await.is_none());
    assert!(channeled.next(Duration::from_millis(100)).await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn throttle_rate_spaces_deliveries() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[200]).await;
    let app = server.app("Throttle").await;
    server
        .endpoint(&app, json!({"url": sink.url("/"), "throttleRate": 4}))
        .await;
    for n in 0..6 {
        server
            .publish(&app, json!({"eventType": "a.b", "payload": {"n": n}}))
            .await;
    }
    let mut arrivals = Vec::new();
    for _ in 0..6 {
        arrivals.push(
            sink.next(WAIT)
                .await
                .expect("every message arrives")
                .received_at,
        );
    }
    // Six messages at four per second take 5 × 250 ms from the first arrival to the
    // last; measured at the sink, so slow publishing cannot shorten it.
    let spread = arrivals
        .iter()
        .max()
        .unwrap()
        .duration_since(*arrivals.iter().min().unwrap());
    assert!(spread >= Duration::from_millis(1_100), "took {spread:?}");
    server.stop().await;
}

#[tokio::test]
async fn custom_headers_are_sent_and_retry_after_is_honoured() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start_with(Script {
        statuses: vec![429, 200],
        headers: vec![("retry-after".into(), "1".into())],
        delay: Duration::ZERO,
    })
    .await;
    let app = server.app("Headers").await;
    server
        .endpoint(
            &app,
            json!({"url": sink.url("/"), "headers": {"x-tenant": "acme"}}),
        )
        .await;
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    let first = sink.next(WAIT).await.expect("first attempt");
    assert_eq!(first.header("x-tenant"), Some("acme"));
    let started = Instant::now();
    sink.next(WAIT).await.expect("retry");
    // The schedule says 50 ms; Retry-After says 1 s, and wins.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "retried after {:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn private_addresses_are_refused_with_a_reason_that_says_how_to_allow_them() {
    let server = TestServer::start_with(crate::support::Options {
        allow_loopback: false,
        ..Default::default()
    })
    .await;
    let mut sink = TestSink::start(&[200]).await;
    let app = server.app("Ssrf").await;
    let by_ip = server.endpoint(&app, json!({"url": sink.url("/")})).await;
    let by_name = server
        .endpoint(
            &app,
            json!({"url": format!("http://localhost:{}/", sink.address.port())}),
        )
        .await;
    let metadata = server
        .endpoint(
            &app,
            json!({"url": "http://169.254.169.254/latest/meta-data"}),
        )
        .await;
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    for endpoint in [&by_ip, &by_name, &metadata] {
        let attempts = server
            .eventually(
                &format!("/api/v1/app/{app}/attempt/endpoint/{endpoint}"),
                |body| body["data"].as_array().is_some_and(|data| !data.is_empty()),
            )
            .await;
        let attempt = &attempts["data"][0];
        assert_eq!(attempt["responseStatusCode"], 0);
        let reason = attempt["response"].as_str().unwrap();
        assert!(reason.contains("--allow-private-network"), "{reason}");
    }
    assert!(
        sink.next(Duration::from_millis(300)).await.is_none(),
        "nothing reached the loopback receiver"
    );
    server.stop().await;
}

#[tokio::test]
async fn recover_resends_failed_messages_in_the_window() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[500, 500, 500, 500, 500, 500, 500, 500, 200]).await;
    let app = server.app("Recover").await;
    let endpoint = server.endpoint(&app, json!({"url": sink.url("/")})).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    let first = server
        .publish(&app, json!({"eventType": "a.b", "payload": {"n": 1}}))
        .await;
    let second = server
        .publish(&app, json!({"eventType": "a.b", "payload": {"n": 2}}))
        .await;
    // Four attempts each (schedule 50ms,50ms,50ms), all failing.
    for _ in 0..8 {
        sink.next(WAIT).await.expect("attempt");
    }
    server
        .eventually(
            &format!("/api/v1/app/{app}/endpoint/{endpoint}/stats"),
            |body| body["fail"] == 2,
        )
        .await;
    let (status, task) = server
        .post(
            &format!("/api/v1/app/{app}/endpoint/{endpoint}/recover"),
            json!({"since": since.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    assert!(task["id"].as_str().unwrap().starts_with("qtask_"));
    let mut recovered = std::collections::HashSet::new();
    while recovered.len() < 2 {
        let received = sink.next(WAIT).await.expect("recovered message");
        recovered.insert(received.header("webhook-id").unwrap().to_owned());
    }
    assert!(recovered.contains(&first) && recovered.contains(&second));
    server.stop().await;
}

#[tokio::test]
async fn an_endpoint_failing_longer_than_the_disable_period_is_disabled() {
    let server = TestServer::start_with(crate::support::Options {
        retry_schedule: "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms",
        disable_endpoint_after: Some("500ms"),
        ..Default::default()
    })
    .await;
    let mut sink = TestSink::start(&[500]).await;
    let app = server.app("Failing").await;
    let endpoint = server.endpoint(&app, json!({"url": sink.url("/")})).await;
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    sink.next(WAIT).await.expect("first attempt");
    server
        .eventually(&format!("/api/v1/app/{app}/endpoint/{endpoint}"), |body| {
            body["disabled"] == true
        })
        .await;
    let (_, attempts) = server
        .get(&format!("/api/v1/app/{app}/attempt/endpoint/{endpoint}"))
        .await;
    let count = attempts["data"].as_array().unwrap().len();
    assert!(
        (2..9).contains(&count),
        "disabled after the period, before the schedule ran out: {count} attempts"
    );
    // Re-enabling clears the failure streak and deliveries resume.
    let (status, out) = server
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/app/{app}/endpoint/{endpoint}"),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["disabled"], false);
    server.stop().await;
}

#[tokio::test]
async fn a_hanging_receiver_does_not_slow_other_endpoints() {
    // Eight worker slots in all, at most two per endpoint.
    let server = TestServer::start_with(crate::support::Options {
        worker_concurrency: Some(8),
        endpoint_concurrency: Some(2),
        ..Default::default()
    })
    .await;
    let mut hanging = TestSink::start_with(Script {
        statuses: vec![200],
        headers: Vec::new(),
        delay: Duration::from_secs(3),
    })
    .await;
    let mut healthy = TestSink::start(&[200]).await;
    let app = server.app("Neighbours").await;
    server
        .endpoint(
            &app,
            json!({"url": hanging.url("/"), "eventTypes": ["slow.event"]}),
        )
        .await;
    server
        .endpoint(
            &app,
            json!({"url": healthy.url("/"), "eventTypes": ["fast.event"]}),
        )
        .await;
    for n in 0..40 {
        server
            .publish(
                &app,
                json!({"eventType": "slow.event", "payload": {"n": n}}),
            )
            .await;
    }
    hanging
        .next(WAIT)
        .await
        .expect("the hanging receiver is being called");
    let started = Instant::now();
    for n in 0..5 {
        server
            .publish(
                &app,
                json!({"eventType": "fast.event", "payload": {"n": n}}),
            )
            .await;
    }
    for _ in 0..5 {
        healthy
            .next(WAIT)
            .await
            .expect("the healthy endpoint gets its messages");
    }
    // Each hanging request takes 3 s; without the per-endpoint bound the slow backlog
    // would hold all eight slots and the healthy messages would wait for them.
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "healthy deliveries waited {:?} behind the hanging receiver",
        started.elapsed()
    );
    server.stop().await;
}
