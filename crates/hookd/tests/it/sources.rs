//! The receive side end to end: a provider (here the Standard Webhooks library, as Clerk,
//! Resend or OpenAI would) signs a request to `/in/{source}`; hookd verifies it, stores
//! it, deduplicates it, and delivers it re-signed to a real receiver on an endpoint of
//! the source's application. Rejections are answered and stored, never forwarded.

use std::time::Duration;

use hookd_core::signature;
use hookd_test_support::TestSink;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{lookup, now_secs, TestServer, WAIT};

/// Header pairs of a request.
type Headers = Vec<(String, String)>;

/// The provider's signing secret (what the provider dashboard would show).
const PROVIDER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A server, an application with an endpoint on a fresh receiver, and a
/// standard-webhooks source (uid `clerk`) feeding that application.
async fn setup(extra: Value) -> (TestServer, TestSink, String, String) {
    let server = TestServer::start().await;
    let sink = TestSink::start(&[200]).await;
    let app = server.app("Acme").await;
    let endpoint = server
        .endpoint(&app, json!({"url": sink.url("/hook")}))
        .await;
    let mut body = json!({
        "name": "Clerk",
        "uid": "clerk",
        "provider": "standard-webhooks",
        "secret": PROVIDER_SECRET,
        "appId": app,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let (status, source) = server.post("/api/v1/source", body).await;
    assert_eq!(status, StatusCode::CREATED, "{source}");
    (server, sink, app, endpoint)
}

/// A request signed by the Standard Webhooks library with `secret` at `timestamp`.
fn signed(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    let signature = standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign(msg_id, timestamp, body)
        .unwrap();
    vec![
        ("webhook-id".to_owned(), msg_id.to_owned()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        ("webhook-signature".to_owned(), signature),
        ("content-type".to_owned(), "application/json".to_owned()),
    ]
}

/// POSTs a provider request to `/in/{source}`; the answer's `Retry-After` header, if
/// any, is added to the body as `retryAfterHeader`.
pub(crate) async fn send(
    server: &TestServer,
    source: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .post(format!("{}/in/{source}", server.base))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("hookd answers");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let mut body: Value = response.json().await.unwrap_or(Value::Null);
    if let Some(retry_after) = retry_after {
        body["retryAfterHeader"] = retry_after.into();
    }
    (status, body)
}

#[tokio::test]
async fn a_signed_request_is_acknowledged_stored_and_delivered_re_signed() {
    let (server, mut sink, app, endpoint) = setup(json!({})).await;
    let endpoint_secret = server.secret(&app, &endpoint).await;
    let body = br#"{"type":"user.created","data":{"id":"user_1","name":"Zo\u00eb"}}"#;
    let headers = signed(PROVIDER_SECRET, "msg_provider_1", now_secs(), body);

    let (status, ack) = send(&server, "clerk", &headers, body).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["duplicate"], false);
    let msg_id = ack["msgId"].as_str().expect("a message id").to_owned();

    let received = sink.next(WAIT).await.expect("the receiver gets the event");
    // The provider's bytes, verbatim, under hookd's own signature.
    assert_eq!(&received.body[..], body);
    assert_eq!(received.header("webhook-id"), Some(msg_id.as_str()));
    signature::verify(
        &[&endpoint_secret],
        &lookup(&received),
        &received.body,
        now_secs(),
        300,
    )
    .expect("hookd re-signed the delivery with the endpoint's secret");

    let (status, message) = server.get(&format!("/api/v1/app/{app}/msg/{msg_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(message["eventType"], "user.created");
    assert_eq!(message["payload"]["data"]["name"], "Zoë");

    let request_id = ack["requestId"].as_str().unwrap();
    let (status, stored) = server
        .get(&format!("/api/v1/source/clerk/request/{request_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["status"], "verified");
    assert_eq!(stored["method"], "POST");
    assert_eq!(stored["eventId"], "msg_provider_1");
    assert_eq!(stored["msgId"], msg_id.as_str());
    assert_eq!(stored["body"].as_str().unwrap().as_bytes(), body);
    assert!(stored["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|pair| pair[0] == "webhook-id" && pair[1] == "msg_provider_1"));
    assert_eq!(stored["sourceIp"], "127.0.0.1");

    // Replay makes a new message from the stored request, delivered again.
    let (status, replayed) = server
        .post(
            &format!("/api/v1/source/clerk/request/{request_id}/replay"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    assert_ne!(replayed["id"], msg_id.as_str());
    let again = sink.next(WAIT).await.expect("the replay is delivered");
    assert_eq!(&again.body[..], body);
    assert_eq!(again.header("webhook-id"), replayed["id"].as_str());
    server.stop().await;
}

#[tokio::test]
async fn a_re_sent_event_gets_the_same_answer_and_is_delivered_once() {
    let (server, mut sink, _app, _endpoint) = setup(json!({})).await;
    let body = br#"{"type":"invoice.paid","amount":100}"#;
    let headers = signed(PROVIDER_SECRET, "msg_resend", now_secs(), body);
    let (first_status, first) = send(&server, "clerk", &headers, body).await;
    assert_eq!(first_status, StatusCode::OK, "{first}");
    // The provider re-sends (a timeout on its side, say), re-signed later.
    let headers = signed(PROVIDER_SECRET, "msg_resend", now_secs(), body);
    let (second_status, second) = send(&server, "clerk", &headers, body).await;
    assert_eq!(second_status, first_status);
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["msgId"], first["msgId"]);

    sink.next(WAIT).await.expect("delivered once");
    // A later, different event goes through; the duplicate never arrived before it.
    let body2 = br#"{"type":"invoice.paid","amount":200}"#;
    let headers = signed(PROVIDER_SECRET, "msg_other", now_secs(), body2);
    let (status, _) = send(&server, "clerk", &headers, body2).await;
    assert_eq!(status, StatusCode::OK);
    let next = sink.next(WAIT).await.expect("the next event arrives");
    assert_eq!(&next.body[..], body2, "the duplicate must not be delivered");
    assert!(sink.next(Duration::from_millis(300)).await.is_none());

    let (_, duplicates) = server
        .get("/api/v1/source/clerk/request?status=duplicate")
        .await;
    assert_eq!(duplicates["data"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn tampered_stale_or_wrongly_signed_requests_are_refused_and_stored() {
    let (server, mut sink, _app, _endpoint) = setup(json!({})).await;
    let body = br#"{"type":"user.deleted","id":"user_1"}"#;
    let other_secret = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXk=";
    let good = signed(PROVIDER_SECRET, "msg_bad", now_secs(), body);
    let tampered_body = br#"{"type":"user.deleted","id":"user_2"}"#;
    let cases: Vec<(&str, Headers, &[u8], &str)> = vec![
        (
            "tampered",
            good.clone(),
            tampered_body,
            "signature_mismatch",
        ),
        (
            "stale",
            signed(PROVIDER_SECRET, "msg_bad", now_secs() - 3600, body),
            body,
            "stale_timestamp",
        ),
        (
            "wrong secret",
            signed(other_secret, "msg_bad", now_secs(), body),
            body,
            "signature_mismatch",
        ),
        (
            "unsigned",
            vec![("content-type".into(), "application/json".into())],
            body,
            "missing_header",
        ),
    ];
    for (case, headers, body, code) in &cases {
        let (status, answer) = send(&server, "clerk", headers, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {answer}");
        assert_eq!(answer["code"], *code, "{case}: {answer}");
        let detail = answer["detail"].as_str().unwrap();
        assert!(!detail.contains(PROVIDER_SECRET), "{case}: {detail}");
        assert!(!detail.contains("MfKQ9r8"), "{case}: {detail}");
    }
    let (_, rejected) = server
        .get("/api/v1/source/clerk/request?status=rejected")
        .await;
    let rejected = rejected["data"].as_array().unwrap();
    assert_eq!(rejected.len(), cases.len());
    // Newest first: the last case is listed first.
    assert_eq!(rejected[0]["errorCode"], "missing_header");
    assert_eq!(rejected[3]["errorCode"], "signature_mismatch");
    assert_eq!(
        rejected[3]["body"].as_str().unwrap().as_bytes(),
        tampered_body
    );
    assert!(
        sink.next(Duration::from_millis(500)).await.is_none(),
        "a rejected request is never forwarded"
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_unknown_and_rate_limited_requests() {
    let (server, mut sink, _app, _endpoint) = setup(json!({"bodyLimit": 64, "rateLimit": 2})).await;
    let big = format!(r#"{{"type":"big","pad":"{}"}}"#, "x".repeat(100));
    let headers = signed(PROVIDER_SECRET, "msg_big", now_secs(), big.as_bytes());
    let (status, answer) = send(&server, "clerk", &headers, big.as_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["code"], "payload_too_large");

    let body = br#"{"type":"small"}"#;
    let headers = signed(PROVIDER_SECRET, "msg_small", now_secs(), body);
    let (status, answer) = send(&server, "no-such-source", &headers, body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["code"], "not_found");

    // Two requests a second: a burst of five meets the limit before it ends.
    let mut limited = None;
    for index in 0..5 {
        let headers = signed(
            PROVIDER_SECRET,
            &format!("msg_rl_{index}"),
            now_secs(),
            body,
        );
        let (status, answer) = send(&server, "clerk", &headers, body).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(answer);
            break;
        }
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let limited = limited.expect("the source's rate limit answers 429");
    assert_eq!(limited["code"], "rate_limited");
    let retry_after: u64 = limited["retryAfterHeader"]
        .as_str()
        .expect("a Retry-After header")
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{limited}");
    // What was accepted before the limit was delivered; the 413 never was.
    let first = sink.next(WAIT).await.expect("an accepted request arrives");
    assert_eq!(&first.body[..], body);
    server.stop().await;
}

#[tokio::test]
async fn a_source_holding_the_senders_public_key_verifies_its_ed25519_signatures() {
    // A sender that signs with ed25519 (`v1a`) publishes its `whpk_` public key; the
    // source holds that key alone and can verify but never sign.
    let sender_secret = signature::generate_ed25519_secret([42; 32]);
    let public_key = signature::ed25519_public_key(&sender_secret).unwrap();
    let (server, mut sink, app, _endpoint) = setup(json!({"secret": public_key})).await;
    let body = br#"{"type":"invoice.paid","id":"in_1"}"#;
    let sign = |secret: &str, body: &[u8], msg_id: &str| {
        let mut headers = signature::sign(
            signature::SignatureScheme::Standard,
            None,
            &[secret],
            msg_id,
            now_secs(),
            body,
        )
        .unwrap();
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        headers
    };
    let headers = sign(&sender_secret, body, "msg_ed25519_1");
    assert!(headers[2].1.starts_with("v1a,"), "{headers:?}");

    let (status, ack) = send(&server, "clerk", &headers, body).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    let delivered = sink.next(WAIT).await.expect("the event is delivered");
    assert_eq!(&delivered.body[..], body);

    // Another key pair's signature, a tampered body, and an HMAC signature all fail.
    let other_secret = signature::generate_ed25519_secret([43; 32]);
    for (case, headers, body) in [
        (
            "another key",
            sign(&other_secret, body, "msg_ed25519_2"),
            &body[..],
        ),
        (
            "tampered",
            headers.clone(),
            &br#"{"type":"invoice.paid","id":"in_2"}"#[..],
        ),
        (
            "hmac",
            signed(PROVIDER_SECRET, "msg_ed25519_3", now_secs(), body),
            &body[..],
        ),
    ] {
        let (status, answer) = send(&server, "clerk", &headers, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {answer}");
        assert_eq!(answer["code"], "signature_mismatch", "{case}: {answer}");
    }
    assert!(sink.next(Duration::from_millis(300)).await.is_none());

    // A public key that is not a point of the curve is refused when the source is made.
    use base64::Engine as _;
    let not_a_point = (0..=u8::MAX)
        .map(|byte| {
            let bytes = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
            format!("whpk_{bytes}")
        })
        .find(|key| signature::validate_verifying_secret(key).is_err())
        .expect("some 32 equal bytes are no curve point");
    let (status, answer) = server
        .post(
            "/api/v1/source",
            json!({"name": "x", "provider": "svix", "appId": app, "secret": not_a_point}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn source_crud_names_bad_fields_and_hides_secrets() {
    let server = TestServer::start().await;
    let app = server.app("Acme").await;
    for (body, field) in [
        (
            json!({"name": "x", "provider": "carrier-pigeon", "secret": "s", "appId": app}),
            "provider",
        ),
        (
            json!({"name": "x", "provider": "stripe", "appId": app}),
            "secret",
        ),
        (
            json!({"name": "x", "provider": "svix", "secret": "not-a-whsec", "appId": app}),
            "secret",
        ),
        (
            json!({"name": "x", "provider": "generic", "secret": "s", "appId": app}),
            "generic",
        ),
    ] {
        let (status, answer) = server.post("/api/v1/source", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap().starts_with(field),
            "{body}: {answer}"
        );
    }

    let (status, created) = server
        .post(
            "/api/v1/source",
            json!({"name": "Stripe", "uid": "stripe", "provider": "stripe",
                   "secret": "whsec_stripe_1", "secrets": ["whsec_stripe_0"], "appId": app}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("src_"), "{created}");
    assert_eq!(created["appId"], app.as_str());
    assert_eq!(created["ingestPath"], format!("/in/{id}"));
    assert_eq!(created["toleranceSecs"], 300);
    assert!(!created.to_string().contains("whsec_stripe"), "{created}");
    let (status, conflict) = server
        .post(
            "/api/v1/source",
            json!({"name": "again", "uid": "stripe", "provider": "stripe", "secret": "s", "appId": app}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");

    let (_, secret) = server.get("/api/v1/source/stripe/secret").await;
    assert_eq!(
        secret,
        json!({"secret": "whsec_stripe_1", "secrets": ["whsec_stripe_1", "whsec_stripe_0"]})
    );
    let (_, listed) = server.get("/api/v1/source?limit=10").await;
    assert_eq!(listed["data"][0]["id"], id);
    assert!(!listed.to_string().contains("whsec_stripe"));

    // PUT without secrets keeps them.
    let (status, updated) = server
        .call(
            reqwest::Method::PUT,
            "/api/v1/source/stripe",
            Some(
                json!({"name": "Stripe live", "uid": "stripe", "provider": "stripe",
                        "appId": app, "toleranceSecs": 600}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["toleranceSecs"], 600);
    assert_eq!(updated["secretCount"], 2);

    let (status, _) = server
        .call(reqwest::Method::DELETE, "/api/v1/source/stripe", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get(&format!("/api/v1/source/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}
