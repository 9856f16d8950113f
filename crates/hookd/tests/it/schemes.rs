//! Per-endpoint alternative signature schemes, checked with independent verifiers.

use hookd_core::signature;
use hookd_test_support::TestSink;
use serde_json::json;

use crate::support::{lookup, now_secs, TestServer, WAIT};

#[tokio::test]
async fn alternative_schemes_sign_what_existing_receivers_check() {
    let server = TestServer::start().await;
    let app = server.app("Schemes").await;
    let secret = "my-shared-secret";
    let cases = [
        ("hmac-sha256-hex", Some("x-razorpay-signature")),
        ("hmac-sha256-hex", None),
        ("stripe", None),
        ("github", None),
        ("svix", None),
    ];
    for (scheme, header) in cases {
        let mut sink = TestSink::start(&[200]).await;
        let mut body = json!({"url": sink.url("/"), "signatureScheme": scheme});
        if let Some(header) = header {
            body["signatureHeader"] = json!(header);
        }
        if scheme != "svix" {
            body["secret"] = json!(secret);
        }
        let endpoint = server.endpoint(&app, body).await;
        let stored = server.secret(&app, &endpoint).await;
        let msg_id = server
            .publish(
                &app,
                json!({"eventType": "order.paid", "payload": {"order": "ü-1"}}),
            )
            .await;
        // Other endpoints created earlier get it too; this sink only sees its own.
        let received = sink.next(WAIT).await.expect("delivery");
        assert_eq!(&received.body[..], r#"{"order":"ü-1"}"#.as_bytes());
        match scheme {
            "hmac-sha256-hex" => {
                let name = header.unwrap_or(signature::DEFAULT_HMAC_HEADER);
                signature::verify_hmac_sha256_hex(
                    secret,
                    &received.body,
                    received.header(name).expect(name),
                )
                .unwrap();
                assert_eq!(received.header("webhook-id"), Some(msg_id.as_str()));
            }
            "stripe" => signature::verify_stripe(
                secret,
                &received.body,
                received.header("stripe-signature").unwrap(),
                now_secs(),
                300,
            )
            .unwrap(),
            "github" => signature::verify_github(
                secret,
                &received.body,
                received.header("x-hub-signature-256").unwrap(),
            )
            .unwrap(),
            "svix" => {
                assert_eq!(received.header("svix-id"), Some(msg_id.as_str()));
                assert!(received.header("webhook-id").is_none());
                signature::verify(
                    &[&stored],
                    &lookup(&received),
                    &received.body,
                    now_secs(),
                    300,
                )
                .unwrap();
            }
            _ => unreachable!(),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn ed25519_endpoints_sign_v1a() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[200]).await;
    let app = server.app("Asym").await;
    let secret = signature::generate_ed25519_secret([9; 32]);
    let endpoint = server
        .endpoint(&app, json!({"url": sink.url("/"), "secret": secret}))
        .await;
    assert_eq!(server.secret(&app, &endpoint).await, secret);
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {"k": true}}))
        .await;
    let received = sink.next(WAIT).await.expect("delivery");
    assert!(received
        .header("webhook-signature")
        .unwrap()
        .starts_with("v1a,"));
    let public = signature::ed25519_public_key(&secret).unwrap();
    signature::verify(
        &[&public],
        &lookup(&received),
        &received.body,
        now_secs(),
        300,
    )
    .unwrap();
    server.stop().await;
}
