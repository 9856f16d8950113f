//! The receive side at route level, provider by provider: a request signed as the
//! provider signs it goes to `POST /in/{source}`; hookd accepts it and delivers it
//! re-signed to a real receiver on 127.0.0.1 (which checks hookd's signature), answers a
//! re-send as a duplicate that is never delivered again, and refuses the same request
//! tampered, stale (where the scheme signs a timestamp) and under the wrong secret with
//! 401 and the code of the failed check. Refused requests are kept as rejected and never
//! forwarded.
//!
//! Providers with an official library in `../shared/peers` (Standard Webhooks, Svix,
//! Stripe, Slack, Twilio, Razorpay, GitHub's @octokit/webhooks-methods) are signed by
//! that library ([`Libraries::sign`]); like `provider_peers.rs`, that test skips locally
//! when the peers are missing and fails under `CI`. The others (Discord with an ed25519
//! key pair generated here, Paddle, Square, Meta, GitLab, Shopify, the generic HMAC
//! scheme, basic auth and a header API key) are signed by hookd-core's signers, which the
//! core tests hold to the providers' documented examples. One harness runs every case.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use hookd_core::inbound::{
    discord, generic, github, meta, paddle, shopify, square, stripe, GenericScheme,
};
use hookd_core::signature;
use hookd_test_support::TestSink;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::provider_peers::Libraries;
use crate::sources::send;
use crate::support::{lookup, now_secs, TestServer, WAIT};

type Headers = Vec<(String, String)>;

/// What a signer is asked for: a request to `url` carrying `body`, signed with `secret`
/// at `timestamp` (Unix seconds).
struct Signing<'a> {
    secret: &'a str,
    timestamp: i64,
    body: &'a [u8],
    url: &'a str,
}

/// Produces the headers the provider would send (signature, event id, content type…).
type Sign = Box<dyn Fn(&Signing<'_>) -> Headers>;

/// One provider at route level.
struct ProviderCase {
    /// The source's uid, also the case's name in failures.
    name: &'static str,
    /// `provider` and any settings, merged into the source's create body.
    source: Value,
    secret: String,
    /// A secret of the same shape that the source does not hold.
    wrong_secret: String,
    body: Vec<u8>,
    sign: Sign,
    /// The code a changed body is refused with; `None` for token schemes, which do not
    /// sign the body.
    tampered_code: Option<&'static str>,
    /// Whether the scheme signs a timestamp, and so refuses a stale one.
    timestamped: bool,
    /// The message's event type, by the provider's naming rules.
    event_type: &'static str,
}

/// One server, one application whose endpoint is a real receiver, and the cases' sources
/// feeding that application.
struct Harness {
    server: TestServer,
    sink: TestSink,
    app: String,
    endpoint_secret: String,
}

impl Harness {
    async fn start() -> Self {
        let server = TestServer::start().await;
        let sink = TestSink::start(&[200]).await;
        let app = server.app("Acme").await;
        let endpoint = server
            .endpoint(&app, json!({"url": sink.url("/hook")}))
            .await;
        let endpoint_secret = server.secret(&app, &endpoint).await;
        Self {
            server,
            sink,
            app,
            endpoint_secret,
        }
    }

    /// Runs one case end to end; see the module documentation for what it checks.
    async fn check(&mut self, case: &ProviderCase) {
        let name = case.name;
        let mut source = json!({
            "name": name, "uid": name, "secret": case.secret, "appId": self.app,
        });
        if let (Some(source), Some(settings)) = (source.as_object_mut(), case.source.as_object()) {
            source.extend(settings.clone());
        }
        let (status, created) = self.server.post("/api/v1/source", source).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {created}");
        let url = format!("{}/in/{name}", self.server.base);
        let sign = |secret: &str, timestamp: i64| {
            (case.sign)(&Signing {
                secret,
                timestamp,
                body: &case.body,
                url: &url,
            })
        };

        // Accepted, delivered once, re-signed by hookd.
        let good = sign(&case.secret, now_secs());
        let (status, ack) = send(&self.server, name, &good, &case.body).await;
        assert_eq!(status, StatusCode::OK, "{name}: {ack}");
        assert_eq!(ack["duplicate"], false, "{name}: {ack}");
        let msg_id = ack["msgId"].as_str().expect("a message id").to_owned();
        let received = self
            .sink
            .next(WAIT)
            .await
            .unwrap_or_else(|| panic!("{name}: the receiver never got the event"));
        assert_eq!(
            received.header("webhook-id"),
            Some(msg_id.as_str()),
            "{name}"
        );
        signature::verify(
            &[&self.endpoint_secret],
            &lookup(&received),
            &received.body,
            now_secs(),
            300,
        )
        .unwrap_or_else(|error| panic!("{name}: hookd's signature does not verify: {error}"));
        if serde_json::from_slice::<Value>(&case.body).is_ok() {
            assert_eq!(&received.body[..], &case.body[..], "{name}: JSON verbatim");
        } else {
            let payload: Value = serde_json::from_slice(&received.body).unwrap();
            assert_eq!(
                payload["body"].as_str().map(str::as_bytes),
                Some(&case.body[..]),
                "{name}: a non-JSON body arrives wrapped"
            );
        }
        let (_, message) = self
            .server
            .get(&format!("/api/v1/app/{}/msg/{msg_id}", self.app))
            .await;
        assert_eq!(message["eventType"], case.event_type, "{name}: {message}");

        // The provider re-sends: the same answer, no second delivery (a second one would
        // reach the receiver before the next case's event and fail that case).
        let (status, again) = send(&self.server, name, &good, &case.body).await;
        assert_eq!(status, StatusCode::OK, "{name}: {again}");
        assert_eq!(again["duplicate"], true, "{name}: {again}");
        assert_eq!(again["msgId"], msg_id.as_str(), "{name}");

        // Refused with the failed check's code, kept as rejected.
        let mut refusals: Vec<(&str, Headers, Vec<u8>, &str)> = Vec::new();
        if let Some(code) = case.tampered_code {
            refusals.push(("tampered", good.clone(), tampered(&case.body), code));
        }
        refusals.push((
            "wrong secret",
            sign(&case.wrong_secret, now_secs()),
            case.body.clone(),
            "signature_mismatch",
        ));
        if case.timestamped {
            refusals.push((
                "stale",
                sign(&case.secret, now_secs() - 3600),
                case.body.clone(),
                "stale_timestamp",
            ));
        }
        for (what, headers, body, code) in &refusals {
            let (status, answer) = send(&self.server, name, headers, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} {what}: {answer}");
            assert_eq!(answer["code"], *code, "{name} {what}: {answer}");
            let detail = answer["detail"].as_str().unwrap_or_default();
            assert!(
                !detail.contains(&case.secret) && !detail.contains(&case.wrong_secret),
                "{name} {what}: {detail}"
            );
        }
        let (_, rejected) = self
            .server
            .get(&format!("/api/v1/source/{name}/request?status=rejected"))
            .await;
        let codes: Vec<&str> = rejected["data"]
            .as_array()
            .expect("a page")
            .iter()
            .map(|request| request["errorCode"].as_str().unwrap_or_default())
            .collect();
        let expected: Vec<&str> = refusals.iter().rev().map(|(_, _, _, code)| *code).collect();
        assert_eq!(codes, expected, "{name}: stored rejections, newest first");
    }

    /// Nothing refused or re-sent reached the receiver, then stops the server.
    async fn finish(mut self) {
        assert!(
            self.sink.next(Duration::from_millis(500)).await.is_none(),
            "a refused or duplicate request was forwarded"
        );
        self.server.stop().await;
    }
}

/// `body` with one byte near its end changed (inside the JSON or form text).
fn tampered(body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    let index = body.len() - 3;
    body[index] ^= 0x01;
    body
}

fn pairs(list: &[(&str, &str)]) -> Headers {
    list.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn with(mut headers: Headers, extra: &[(&str, &str)]) -> Headers {
    headers.extend(pairs(extra));
    headers
}

const JSON: (&str, &str) = ("content-type", "application/json");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// A fresh `whsec_` secret.
fn symmetric_secret() -> String {
    signature::generate_symmetric_secret(&rand::random::<[u8; 24]>())
}

/// A case signed by the official library `peer`, with `extra` keyword options and
/// `add` headers the provider sends besides the signature (event id, content type).
fn library(
    libraries: &Arc<Libraries>,
    peer: &'static str,
    timestamped: bool,
    options: &'static [&'static str],
    add: &'static [(&'static str, &'static str)],
) -> Sign {
    let libraries = Arc::clone(libraries);
    Box::new(move |signing: &Signing<'_>| {
        let mut extra: Vec<String> = options.iter().map(|option| (*option).to_owned()).collect();
        if timestamped {
            extra.push(format!("timestamp={}", signing.timestamp));
        }
        if peer == "twilio_peer" {
            extra.push(format!("url={}", signing.url));
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let signed = libraries.sign(peer, signing.secret, signing.body, &extra);
        // The Twilio peer also reports the URL it signed; a provider sends no such header.
        let headers = signed
            .headers
            .into_iter()
            .filter(|(name, _)| name != "x-url")
            .collect();
        with(headers, add)
    })
}

fn library_cases(libraries: &Arc<Libraries>) -> Vec<ProviderCase> {
    let standard_secret = symmetric_secret();
    vec![
        ProviderCase {
            name: "stripe",
            source: json!({"provider": "stripe"}),
            secret: "whsec_route_stripe_secret".into(),
            wrong_secret: "whsec_route_stripe_other".into(),
            body: r#"{"id":"evt_route_1","object":"event","type":"invoice.paid","data":{"name":"Zoë ✓"}}"#.into(),
            sign: library(libraries, "stripe_peer", true, &[], &[JSON]),
            tampered_code: Some("signature_mismatch"),
            timestamped: true,
            event_type: "invoice.paid",
        },
        ProviderCase {
            name: "github",
            source: json!({"provider": "github"}),
            secret: "It's a Secret to Everybody".into(),
            wrong_secret: "It's a secret to nobody".into(),
            body: r#"{"action":"opened","number":7,"title":"Zoë ✓"}"#.into(),
            sign: library(
                libraries,
                "github_peer",
                false,
                &[],
                &[
                    JSON,
                    ("x-github-event", "pull_request"),
                    ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
                ],
            ),
            tampered_code: Some("signature_mismatch"),
            timestamped: false,
            event_type: "pull_request.opened",
        },
        ProviderCase {
            name: "slack",
            source: json!({"provider": "slack"}),
            secret: "8f742231b10e8888abcd99yyyzzz85a5".into(),
            wrong_secret: "8f742231b10e8888abcd99yyyzzz0000".into(),
            body: r#"{"token":"t","team_id":"T1","type":"event_callback","event_id":"Ev_route_1","event":{"type":"app_mention","text":"Zoë ✓"}}"#.into(),
            sign: library(libraries, "slack_peer", true, &[], &[JSON]),
            tampered_code: Some("signature_mismatch"),
            timestamped: true,
            event_type: "app_mention",
        },
        ProviderCase {
            name: "twilio",
            source: json!({"provider": "twilio"}),
            secret: "twilio_auth_token_0123456789".into(),
            wrong_secret: "twilio_auth_token_9876543210".into(),
            body: b"MessageSid=SM_route_1&MessageStatus=delivered&From=%2B15551234567&Body=Zo%C3%AB+%E2%9C%93".to_vec(),
            sign: library(
                libraries,
                "twilio_peer",
                false,
                &[],
                &[FORM, ("i-twilio-idempotency-token", "idem-route-1")],
            ),
            tampered_code: Some("signature_mismatch"),
            timestamped: false,
            event_type: "message.delivered",
        },
        ProviderCase {
            name: "razorpay",
            source: json!({"provider": "razorpay"}),
            secret: "rzp_webhook_secret_for_routes".into(),
            wrong_secret: "rzp_webhook_secret_other".into(),
            body: r#"{"entity":"event","account_id":"acc_1","event":"payment.captured","payload":{"note":"Zoë"}}"#.into(),
            sign: library(
                libraries,
                "razorpay_peer",
                false,
                &[],
                &[JSON, ("x-razorpay-event-id", "evt_rzp_route_1")],
            ),
            tampered_code: Some("signature_mismatch"),
            timestamped: false,
            event_type: "payment.captured",
        },
        ProviderCase {
            name: "clerk",
            source: json!({"provider": "standard-webhooks"}),
            secret: standard_secret.clone(),
            wrong_secret: symmetric_secret(),
            body: r#"{"type":"user.created","data":{"id":"user_1","name":"Zoë ✓"}}"#.into(),
            sign: library(
                libraries,
                "standardwebhooks_peer",
                true,
                &["msg_id=msg_route_standard"],
                &[JSON],
            ),
            tampered_code: Some("signature_mismatch"),
            timestamped: true,
            event_type: "user.created",
        },
        ProviderCase {
            name: "svix",
            source: json!({"provider": "svix"}),
            secret: standard_secret,
            wrong_secret: symmetric_secret(),
            body: r#"{"type":"email.delivered","data":{"to":"zoë@example.com"}}"#.into(),
            sign: library(libraries, "svix_peer", true, &["msg_id=msg_route_svix"], &[JSON]),
            tampered_code: Some("signature_mismatch"),
            timestamped: true,
            event_type: "email.delivered",
        },
    ]
}

#[tokio::test]
async fn official_libraries_sign_what_hookd_accepts_delivers_once_and_refuses() {
    let Some(libraries) = Libraries::find() else {
        return;
    };
    let libraries = Arc::new(libraries);
    let mut harness = Harness::start().await;
    for case in library_cases(&libraries) {
        harness.check(&case).await;
    }
    harness.finish().await;
}

/// A Discord application's key pair, made for this test; the source holds the public
/// key in hex, the signer the private key.
struct DiscordKeys {
    right: SigningKey,
    wrong: SigningKey,
}

impl DiscordKeys {
    fn generate() -> Self {
        Self {
            right: SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
            wrong: SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
        }
    }

    fn public_hex(key: &SigningKey) -> String {
        key.verifying_key()
            .as_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

fn hookd_signed_cases() -> Vec<ProviderCase> {
    let discord_keys = Arc::new(DiscordKeys::generate());
    let discord_public = DiscordKeys::public_hex(&discord_keys.right);
    let discord_wrong = DiscordKeys::public_hex(&discord_keys.wrong);
    let generic_scheme = GenericScheme {
        algorithm: "sha512".into(),
        encoding: "base64".into(),
        header: "x-ci-signature".into(),
        prefix: Some("v1=".into()),
        template: Some("{id}.{timestamp}.{body}".into()),
        timestamp_header: Some("x-ci-timestamp".into()),
        id_header: Some("x-ci-delivery".into()),
        ..GenericScheme::default()
    };
    let generic_settings = serde_json::to_value(&generic_scheme).unwrap();
    vec![
        ProviderCase {
            name: "discord",
            source: json!({"provider": "discord"}),
            secret: discord_public.clone(),
            wrong_secret: discord_wrong,
            body: r#"{"id":"int_route_1","token":"tok","type":2,"data":{"name":"deploy"}}"#
                .into(),
            sign: Box::new(move |signing: &Signing<'_>| {
                // The "secret" is a public key: sign with its private half.
                let key = if signing.secret == discord_public {
                    &discord_keys.right
                } else {
                    &discord_keys.wrong
                };
                with(discord::sign(key, signing.timestamp, signing.body), &[JSON])
            }),
            tampered_code: Some("signature_mismatch"),
            timestamped: true,
            event_type: "interaction.application_command",
        },
        ProviderCase {
            name: "paddle",
            source: json!({"provider": "paddle"}),
            secret: "pdl_ntfset_01_route_secret".into(),
            wrong_secret: "pdl_ntfset_01_other_secret".into(),
            body: r#"{"event_id":"evt_paddle_route_1","event_type":"transaction.completed","data":{"note":"Zoë"}}"#.into(),
            sign: Box::new(|signing: &Signing<'_>| {
                with(
                    paddle::sign(signing.secret, signing.timestamp, signing.body),
                    &[JSON],
                )
            }),
            tampered_code: Some("signature_mismatch"),
            timestamped: true,
            event_type: "transaction.completed",
        },
        ProviderCase {
            name: "square",
            source: json!({"provider": "square"}),
            secret: "sq0wss-route-signature-key".into(),
            wrong_secret: "sq0wss-other-signature-key".into(),
            body: r#"{"event_id":"sq_route_1","type":"payment.updated","data":{"note":"Zoë"}}"#.into(),
            // Square signs the notification URL too: the one hookd rebuilds from Host.
            sign: Box::new(|signing: &Signing<'_>| {
                with(
                    square::sign(signing.secret, signing.url, signing.body),
                    &[JSON],
                )
            }),
            tampered_code: Some("signature_mismatch"),
            timestamped: false,
            event_type: "payment.updated",
        },
        ProviderCase {
            name: "whatsapp",
            source: json!({"provider": "meta", "verifyToken": "subscribe-me"}),
            secret: "meta_app_secret_route".into(),
            wrong_secret: "meta_app_secret_other".into(),
            body: r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"id":"wamid.route1","text":{"body":"Zoë"}}]}}]}]}"#.into(),
            sign: Box::new(|signing: &Signing<'_>| with(meta::sign(signing.secret, signing.body), &[JSON])),
            tampered_code: Some("signature_mismatch"),
            timestamped: false,
            event_type: "whatsapp_business_account.messages",
        },
        ProviderCase {
            name: "gitlab",
            source: json!({"provider": "gitlab"}),
            secret: "gitlab-route-token".into(),
            wrong_secret: "gitlab-other-token".into(),
            body: r#"{"object_kind":"push","ref":"refs/heads/main","user_name":"Zoë"}"#.into(),
            sign: Box::new(|signing: &Signing<'_>| {
                pairs(&[
                    ("x-gitlab-token", signing.secret),
                    ("x-gitlab-event", "Push Hook"),
                    ("idempotency-key", "gitlab-route-1"),
                    JSON,
                ])
            }),
            // A token does not sign the body.
            tampered_code: None,
            timestamped: false,
            event_type: "push",
        },
        ProviderCase {
            name: "shopify",
            source: json!({"provider": "shopify"}),
            secret: "shpss_route_client_secret".into(),
            wrong_secret: "shpss_other_client_secret".into(),
            body: r#"{"id":820982911946154508,"email":"zoë@example.com"}"#.into(),
            sign: Box::new(|signing: &Signing<'_>| {
                with(
                    shopify::sign(signing.secret, signing.body),
                    &[
                        JSON,
                        ("x-shopify-topic", "orders/create"),
                        ("x-shopify-webhook-id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
                    ],
                )
            }),
            tampered_code: Some("signature_mismatch"),
            timestamped: false,
            event_type: "orders.create",
        },
        ProviderCase {
            name: "ci-hmac",
            source: json!({"provider": "generic", "generic": generic_settings}),
            secret: "ci-shared-secret".into(),
            wrong_secret: "ci-other-secret".into(),
            body: r#"{"type":"build.finished","status":"green"}"#.into(),
            sign: Box::new(move |signing: &Signing<'_>| {
                let headers = generic::sign(
                    &generic_scheme,
                    signing.secret,
                    signing.timestamp,
                    "ci-delivery-1",
                    signing.body,
                )
                .expect("the scheme signs");
                with(headers, &[JSON])
            }),
            tampered_code: Some("signature_mismatch"),
            timestamped: true,
            event_type: "build.finished",
        },
        ProviderCase {
            name: "basic-auth",
            source: json!({"provider": "generic", "generic": {"kind": "basic-auth"}}),
            secret: "ci:s3cret".into(),
            wrong_secret: "ci:wrong".into(),
            body: r#"{"event":"job.done"}"#.into(),
            sign: Box::new(|signing: &Signing<'_>| {
                // base64 of the two credentials, worked out by hand: the scheme is
                // RFC 7617, not hookd's.
                let credentials = match signing.secret {
                    "ci:s3cret" => "Basic Y2k6czNjcmV0",
                    _ => "Basic Y2k6d3Jvbmc=",
                };
                pairs(&[
                    ("authorization", credentials),
                    ("idempotency-key", "basic-route-1"),
                    JSON,
                ])
            }),
            tampered_code: None,
            timestamped: false,
            event_type: "job.done",
        },
        ProviderCase {
            name: "api-key",
            source: json!({"provider": "generic", "generic": {"kind": "api-key", "header": "x-api-key"}}),
            secret: "key_route_0123456789".into(),
            wrong_secret: "key_other_0123456789".into(),
            body: r#"{"event_type":"report.ready"}"#.into(),
            sign: Box::new(|signing: &Signing<'_>| {
                pairs(&[
                    ("x-api-key", signing.secret),
                    ("x-request-id", "api-key-route-1"),
                    JSON,
                ])
            }),
            tampered_code: None,
            timestamped: false,
            event_type: "report.ready",
        },
    ]
}

#[tokio::test]
async fn providers_without_a_library_are_accepted_delivered_once_and_refused() {
    let mut harness = Harness::start().await;
    for case in hookd_signed_cases() {
        harness.check(&case).await;
    }
    harness.finish().await;
}

/// An endpoint with `forwardSourceHeaders` gets the provider's headers besides hookd's:
/// a receiver holding the provider's secret can check the provider's own signature on
/// the body it got. Hop-by-hop and proxy headers, `Host`, credentials and hookd's own
/// headers are never forwarded; an endpoint signed GitHub-style keeps hookd's signature
/// in the header both use; endpoints that did not ask get none of it, and a message
/// published through the API has no provider headers to forward.
#[tokio::test]
async fn endpoints_that_ask_receive_the_providers_headers() {
    let server = TestServer::start().await;
    let app = server.app("Acme").await;
    let mut forwarding = TestSink::start(&[200]).await;
    let mut plain = TestSink::start(&[200]).await;
    let mut github_style = TestSink::start(&[200]).await;
    let forwarding_id = server
        .endpoint(
            &app,
            json!({"url": forwarding.url("/hook"), "forwardSourceHeaders": true,
                   "headers": {"x-team": "payments"}}),
        )
        .await;
    server
        .endpoint(&app, json!({"url": plain.url("/hook")}))
        .await;
    server
        .endpoint(
            &app,
            json!({"url": github_style.url("/hook"), "signatureScheme": "github",
                   "secret": "endpoint-secret", "forwardSourceHeaders": true}),
        )
        .await;
    let (_, shown) = server
        .get(&format!("/api/v1/app/{app}/endpoint/{forwarding_id}"))
        .await;
    assert_eq!(shown["forwardSourceHeaders"], true, "{shown}");
    let forwarding_secret = server.secret(&app, &forwarding_id).await;
    let provider_secret = "It's a Secret to Everybody";
    let (status, created) = server
        .post(
            "/api/v1/source",
            json!({"name": "GitHub", "uid": "gh", "provider": "github",
                   "secret": provider_secret, "appId": app}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let body = br#"{"action":"published","release":{"name":"Zo\u00eb"}}"#;
    let headers = with(
        github::sign(provider_secret, body),
        &[
            JSON,
            ("x-github-event", "release"),
            ("x-github-delivery", "d1e2a3b4"),
            ("x-github-hook-id", "42"),
            ("x-forwarded-for", "140.82.115.1"),
            ("authorization", "Bearer not-for-endpoints"),
            ("connection", "keep-alive"),
            ("webhook-id", "forged"),
        ],
    );
    let (status, ack) = send(&server, "gh", &headers, body).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    let msg_id = ack["msgId"].as_str().unwrap();

    let received = forwarding.next(WAIT).await.expect("forwarded");
    assert_eq!(&received.body[..], body);
    for (name, value) in [
        ("x-github-event", "release"),
        ("x-github-delivery", "d1e2a3b4"),
        ("x-github-hook-id", "42"),
        ("x-team", "payments"),
        ("webhook-id", msg_id),
    ] {
        assert_eq!(received.header(name), Some(value), "{name}");
    }
    for name in ["x-forwarded-for", "authorization"] {
        assert_eq!(received.header(name), None, "{name} must not be forwarded");
    }
    assert_ne!(
        received.header("host"),
        Some(server.base.trim_start_matches("http://")),
        "Host names the receiver, not hookd"
    );
    assert_eq!(
        received.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    signature::verify(
        &[&forwarding_secret],
        &lookup(&received),
        &received.body,
        now_secs(),
        300,
    )
    .expect("hookd's own signature still verifies");
    // The provider's signature, forwarded, checks against the body as received.
    let forwarded: Headers = received
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let config = hookd_core::inbound::VerifierConfig::new(
        hookd_core::inbound::Provider::Github,
        vec![provider_secret.to_owned()],
    );
    let request = hookd_core::inbound::InboundRequest {
        method: "POST",
        url: "http://receiver/hook",
        headers: &forwarded,
        body: &received.body,
    };
    hookd_core::inbound::verify(&config, &request, now_secs())
        .expect("the forwarded X-Hub-Signature-256 verifies with the provider's secret");
    if let Some(libraries) = Libraries::find() {
        assert!(
            libraries.verifies(
                "github_peer",
                provider_secret,
                &received.body,
                &forwarded,
                &[]
            ),
            "octokit accepts the forwarded signature"
        );
    }

    let untouched = plain.next(WAIT).await.expect("delivered");
    assert_eq!(untouched.header("x-github-event"), None);
    assert_eq!(untouched.header("x-hub-signature-256"), None);

    // Both hookd and GitHub use X-Hub-Signature-256: the endpoint gets hookd's.
    let clash = github_style.next(WAIT).await.expect("delivered");
    assert_eq!(clash.header("x-github-event"), Some("release"));
    // The github scheme signs with the endpoint secret as it is, exactly as GitHub does.
    let hookd_signature = github::sign("endpoint-secret", body).remove(0).1;
    assert_eq!(
        clash.header("x-hub-signature-256"),
        Some(hookd_signature.as_str()),
        "hookd's signature wins the clash"
    );

    // A published message has no provider headers.
    server
        .publish(
            &app,
            json!({"eventType": "release.published", "payload": {"a": 1}}),
        )
        .await;
    let published = forwarding
        .next(WAIT)
        .await
        .expect("published message arrives");
    assert_eq!(published.header("x-github-event"), None);

    // Switched off, the headers stop.
    let (status, patched) = server
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/app/{app}/endpoint/{forwarding_id}"),
            Some(json!({"forwardSourceHeaders": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["forwardSourceHeaders"], false);
    let headers = with(
        github::sign(provider_secret, body),
        &[
            JSON,
            ("x-github-event", "release"),
            ("x-github-delivery", "d1e2a3b5"),
        ],
    );
    let (status, _) = send(&server, "gh", &headers, body).await;
    assert_eq!(status, StatusCode::OK);
    let after = forwarding.next(WAIT).await.expect("delivered");
    assert_eq!(after.header("x-github-event"), None);
    server.stop().await;
}

/// A good signature on a payload without the provider's event id (a Stripe body with no
/// `id`) is accepted, stored and delivered; with nothing to deduplicate on, a second one
/// is delivered too.
#[tokio::test]
async fn a_verified_payload_without_an_event_id_is_accepted_and_delivered() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[200]).await;
    let app = server.app("Acme").await;
    server
        .endpoint(&app, json!({"url": sink.url("/hook")}))
        .await;
    let secret = "whsec_no_event_id";
    let (status, _) = server
        .post(
            "/api/v1/source",
            json!({"name": "Stripe", "uid": "stripe", "provider": "stripe",
                   "secret": secret, "appId": app}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let body = br#"{"object":"event","type":"invoice.paid"}"#;
    let mut request_ids = Vec::new();
    for _ in 0..2 {
        let headers = with(stripe::sign(secret, now_secs(), body), &[JSON]);
        let (status, ack) = send(&server, "stripe", &headers, body).await;
        assert_eq!(status, StatusCode::OK, "{ack}");
        assert_eq!(ack["duplicate"], false);
        let received = sink.next(WAIT).await.expect("delivered");
        assert_eq!(&received.body[..], body);
        request_ids.push(ack["requestId"].as_str().unwrap().to_owned());
    }
    for request_id in request_ids {
        let (_, stored) = server
            .get(&format!("/api/v1/source/stripe/request/{request_id}"))
            .await;
        assert_eq!(stored["status"], "verified", "{stored}");
        assert_eq!(stored["eventId"], Value::Null, "{stored}");
    }
    server.stop().await;
}

/// The body limit is the source's own: the same body is refused with 413 by the source
/// that set a small limit and accepted by one that did not. The refused body is never
/// delivered.
#[tokio::test]
async fn the_body_limit_is_per_source() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[200]).await;
    let app = server.app("Acme").await;
    server
        .endpoint(&app, json!({"url": sink.url("/hook")}))
        .await;
    let secret = "shpss_limit";
    for (uid, extra) in [("small", json!({"bodyLimit": 64})), ("roomy", json!({}))] {
        let mut source = json!({"name": uid, "uid": uid, "provider": "shopify",
                                "secret": secret, "appId": app});
        source
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, created) = server.post("/api/v1/source", source).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let body = format!(r#"{{"note":"{}"}}"#, "x".repeat(100));
    let headers = with(
        shopify::sign(secret, body.as_bytes()),
        &[JSON, ("x-shopify-webhook-id", "limit-1")],
    );
    let (status, answer) = send(&server, "small", &headers, body.as_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["code"], "payload_too_large");
    let (status, answer) = send(&server, "roomy", &headers, body.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let received = sink.next(WAIT).await.expect("the accepted body arrives");
    assert_eq!(&received.body[..], body.as_bytes());
    assert!(sink.next(Duration::from_millis(300)).await.is_none());
    server.stop().await;
}
