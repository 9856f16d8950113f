//! Provider verification: documented or independently computed known answers per
//! provider, then one table of cases every signed provider must pass (valid, rotation,
//! tampered body, wrong secret, missing header, stale timestamp), then handshakes, event
//! ids and event types.

use ed25519_dalek::SigningKey;

use super::*;

const NOW: i64 = 1_700_000_000;

/// A request owned by the test, lent to `verify` as an [`InboundRequest`].
#[derive(Clone)]
struct Owned {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Owned {
    fn post(url: &str, headers: Vec<(String, String)>, body: &[u8]) -> Self {
        Self {
            method: "POST".into(),
            url: url.into(),
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect(),
            body: body.to_vec(),
        }
    }

    fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn request(&self) -> InboundRequest<'_> {
        InboundRequest {
            method: &self.method,
            url: &self.url,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

fn config(provider: Provider, secrets: &[&str]) -> VerifierConfig {
    VerifierConfig::new(provider, secrets.iter().map(|s| s.to_string()).collect())
}

fn check(provider: Provider, secrets: &[&str], request: &Owned) -> Result<usize, InboundError> {
    verify(&config(provider, secrets), &request.request(), NOW).map(|v| v.secret_index)
}

// ---- known answers ----

#[test]
fn github_documented_vector() {
    // GitHub's "Validating webhook deliveries" example.
    let secret = "It's a Secret to Everybody";
    let body = b"Hello, World!";
    let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(github::sign(secret, body)[0].1, expected);
    let request = Owned::post(
        "https://h/in/gh",
        vec![("X-Hub-Signature-256".into(), expected.into())],
        body,
    );
    assert_eq!(check(Provider::Github, &[secret], &request), Ok(0));
}

#[test]
fn twilio_documented_vector() {
    // Twilio's "Webhooks security" worked example (auth token 12345).
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    let request = Owned::post(
        url,
        vec![
            (
                "X-Twilio-Signature".into(),
                "0/KCTR6DLpKmkAf8muzZqo1nDgQ=".into(),
            ),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body,
    );
    assert_eq!(check(Provider::Twilio, &["12345"], &request), Ok(0));
    assert_eq!(
        twilio::sign("12345", url, body, true)[0].1,
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
    // The same URL with the default port written out is also accepted.
    let with_port = Owned {
        url: "https://mycompany.com:443/myapp.php?foo=1&bar=2".into(),
        ..request.clone()
    };
    assert_eq!(check(Provider::Twilio, &["12345"], &with_port), Ok(0));
}

#[test]
fn slack_documented_vector() {
    // Slack's "Verifying requests from Slack" example.
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let headers = slack::sign(secret, 1_531_420_618, body);
    assert_eq!(
        headers[1].1,
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    let request = Owned::post("https://h/in/slack", headers, body);
    let config = config(Provider::Slack, &[secret]);
    assert_eq!(
        verify(&config, &request.request(), 1_531_420_618 + 60),
        Ok(Verified { secret_index: 0 })
    );
    assert_eq!(
        event_type(Provider::Slack, &request.request()).as_deref(),
        Some("slash_command")
    );
}

#[test]
fn stripe_vector_from_the_stripe_library() {
    // stripe-python's generate_signature_header(body, secret, timestamp=1700000000).
    let body = br#"{"id": "evt_test_1", "object": "event", "type": "invoice.paid"}"#;
    let header = "t=1700000000,v1=0a5c3dfb493370214fa5cca650aa34748a9cf8f7578f975408c0dda71a31e6f4";
    assert_eq!(
        stripe::sign("whsec_test_secret_for_peer_tests", NOW, body)[0].1,
        header
    );
    let request = Owned::post(
        "https://h/in/stripe",
        vec![("Stripe-Signature".into(), header.into())],
        body,
    );
    assert_eq!(
        check(
            Provider::Stripe,
            &["whsec_test_secret_for_peer_tests"],
            &request
        ),
        Ok(0)
    );
    // Several v1 entries (Stripe rolling a secret) and unknown keys are fine.
    let rolled = Owned::post(
        "https://h/in/stripe",
        vec![(
            "Stripe-Signature".into(),
            format!(
                "t=1700000000,v1={},v0=00,{}",
                "ab".repeat(32),
                &header[13..]
            ),
        )],
        body,
    );
    assert_eq!(
        check(
            Provider::Stripe,
            &["whsec_test_secret_for_peer_tests"],
            &rolled
        ),
        Ok(0)
    );
}

#[test]
fn hmac_providers_match_independently_computed_signatures() {
    // Computed with Python's hmac module, not with this crate.
    let shopify = Owned::post(
        "https://h/in/shop",
        vec![(
            "X-Shopify-Hmac-Sha256".into(),
            "PRQ/lGKgPDrGh8C/v3KAJFehD1HeQlgDy6hzGEIRYQw=".into(),
        )],
        br#"{"id":"evt_1","type":"orders/create"}"#,
    );
    assert_eq!(
        check(Provider::Shopify, &["shpss_example_secret"], &shopify),
        Ok(0)
    );
    let razorpay = Owned::post(
        "https://h/in/rzp",
        vec![(
            "X-Razorpay-Signature".into(),
            "bb23e99a63affcafa84fe47a9e7b117356acd0452b3dff471f7a55c4edc24b9a".into(),
        )],
        br#"{"entity":"event","event":"payment.captured"}"#,
    );
    assert_eq!(check(Provider::Razorpay, &["rzp_secret"], &razorpay), Ok(0));
    let paddle = Owned::post(
        "https://h/in/paddle",
        vec![(
            "Paddle-Signature".into(),
            "ts=1671552777;h1=0b2d029c85d19ce9d7ca8ba041c7eda6c8e0e94417b7149f5514ed3d7d704883"
                .into(),
        )],
        br#"{"event_id":"evt_01h","event_type":"transaction.completed"}"#,
    );
    let paddle_config = config(Provider::Paddle, &["pdl_ntfset_01_example"]);
    assert_eq!(
        verify(&paddle_config, &paddle.request(), 1_671_552_777),
        Ok(Verified { secret_index: 0 })
    );
    let square = Owned::post(
        "https://example.com/in/square",
        vec![(
            "x-square-hmacsha256-signature".into(),
            "xhYQmc93kD75eshfo68rY9KlU8NarUikDatL9WoWgFc=".into(),
        )],
        br#"{"merchant_id":"M1","type":"payment.updated","event_id":"e-1"}"#,
    );
    assert_eq!(
        check(Provider::Square, &["sq_signature_key"], &square),
        Ok(0)
    );
    // Square signs the notification URL: another URL is another signature.
    let elsewhere = Owned {
        url: "https://example.org/in/square".into(),
        ..square
    };
    assert!(matches!(
        check(Provider::Square, &["sq_signature_key"], &elsewhere),
        Err(InboundError::SignatureMismatch { .. })
    ));
}

#[test]
fn generic_schemes_match_independently_computed_signatures() {
    let body = br#"{"type":"thing.happened"}"#;
    let sha512 = VerifierConfig {
        generic: Some(GenericScheme {
            algorithm: "sha512".into(),
            encoding: "base64".into(),
            header: "X-Sig".into(),
            prefix: Some("v1=".into()),
            template: Some("{timestamp}.{id}.{body}".into()),
            timestamp_header: Some("X-Timestamp".into()),
            id_header: Some("X-Id".into()),
            ..GenericScheme::default()
        }),
        ..config(Provider::Generic, &["gen_secret"])
    };
    let request = Owned::post(
        "https://h/in/gen",
        vec![
            ("X-Timestamp".into(), NOW.to_string()),
            ("X-Id".into(), "msg_1".into()),
            ("X-Sig".into(), "v1=VR/qzfT5R3lkAFNi6FraKbbQbaY0ifGR7aobT07mpcfj+UahrM2XLM1g00snAajQRnCPpgNuPzugn+TUvfx+zQ==".into()),
        ],
        body,
    );
    assert_eq!(
        verify(&sha512, &request.request(), NOW),
        Ok(Verified { secret_index: 0 })
    );
    assert_eq!(
        source_event_id(&sha512, &request.request()).as_deref(),
        Some("msg_1")
    );
    assert!(matches!(
        verify(&sha512, &request.request(), NOW + 301),
        Err(InboundError::StaleTimestamp {
            age_secs: 301,
            tolerance_secs: 300
        })
    ));
    let signed = generic::sign(
        sha512.generic.as_ref().unwrap(),
        "gen_secret",
        NOW,
        "msg_1",
        body,
    )
    .unwrap();
    assert_eq!(signed[2].1, request.headers[2].1);

    let sha1 = VerifierConfig {
        generic: Some(GenericScheme {
            algorithm: "sha1".into(),
            header: "X-Hook-Signature".into(),
            ..GenericScheme::default()
        }),
        ..config(Provider::Generic, &["gen_secret"])
    };
    let request = Owned::post(
        "https://h/in/gen",
        vec![(
            "X-Hook-Signature".into(),
            "31df1360fd95df6e629decd932cbdba27fff4ff9".into(),
        )],
        body,
    );
    assert_eq!(
        verify(&sha1, &request.request(), NOW),
        Ok(Verified { secret_index: 0 })
    );
}

#[test]
fn generic_basic_auth_and_api_key() {
    let basic = VerifierConfig {
        generic: Some(GenericScheme {
            kind: GenericKind::BasicAuth,
            ..GenericScheme::default()
        }),
        ..config(Provider::Generic, &["old:pw", "hook:s3cret"])
    };
    // base64("hook:s3cret")
    let request = Owned::post(
        "https://h/in/b",
        vec![("Authorization".into(), "Basic aG9vazpzM2NyZXQ=".into())],
        b"{}",
    );
    assert_eq!(
        verify(&basic, &request.request(), NOW),
        Ok(Verified { secret_index: 1 })
    );
    let wrong = Owned::post(
        "https://h/in/b",
        vec![("Authorization".into(), "Basic aG9vazpub3Bl".into())],
        b"{}",
    );
    assert!(matches!(
        verify(&basic, &wrong.request(), NOW),
        Err(InboundError::SignatureMismatch { secrets: 2 })
    ));
    let bearer = Owned::post(
        "https://h/in/b",
        vec![("Authorization".into(), "Bearer abc".into())],
        b"{}",
    );
    assert_eq!(
        verify(&basic, &bearer.request(), NOW).unwrap_err().code(),
        "malformed_header"
    );

    let api_key = VerifierConfig {
        generic: Some(GenericScheme {
            kind: GenericKind::ApiKey,
            header: "Authorization".into(),
            prefix: Some("Bearer ".into()),
            ..GenericScheme::default()
        }),
        ..config(Provider::Generic, &["key-123"])
    };
    let request = Owned::post(
        "https://h/in/k",
        vec![("Authorization".into(), "Bearer key-123".into())],
        b"{}",
    );
    assert_eq!(
        verify(&api_key, &request.request(), NOW),
        Ok(Verified { secret_index: 0 })
    );
    let default_header = VerifierConfig {
        generic: Some(GenericScheme {
            kind: GenericKind::ApiKey,
            ..GenericScheme::default()
        }),
        ..config(Provider::Generic, &["key-123"])
    };
    let missing = Owned::post("https://h/in/k", vec![], b"{}");
    assert_eq!(
        verify(&default_header, &missing.request(), NOW),
        Err(InboundError::MissingHeader("x-api-key".into()))
    );
    let scheme: GenericScheme = serde_json::from_str(r#"{"kind":"api-key","header":"X-Key"}"#)
        .expect("a generic scheme needs only the fields its kind uses");
    assert_eq!(scheme.kind, GenericKind::ApiKey);
}

#[test]
fn gitlab_token_must_equal_a_secret() {
    let request = Owned::post("https://h/in/gl", gitlab::sign("tok-2"), b"{}");
    assert_eq!(
        check(Provider::Gitlab, &["tok-1", "tok-2"], &request),
        Ok(1)
    );
    assert!(matches!(
        check(Provider::Gitlab, &["tok-1"], &request),
        Err(InboundError::SignatureMismatch { secrets: 1 })
    ));
    // A prefix of the secret is not the secret.
    let short = Owned::post("https://h/in/gl", gitlab::sign("tok-"), b"{}");
    assert!(check(Provider::Gitlab, &["tok-1"], &short).is_err());
}

#[test]
fn twilio_json_bodies_are_checked_through_body_sha256() {
    let body = br#"{"property": "value", "boolean": true}"#;
    let url = twilio::url_with_body_hash("https://example.test/hook?x=1", body);
    let request = Owned::post(&url, twilio::sign("12345", &url, body, false), body)
        .with_header("content-type", "application/json");
    assert_eq!(check(Provider::Twilio, &["12345"], &request), Ok(0));
    let tampered = Owned {
        body: br#"{"property": "value", "boolean": false}"#.to_vec(),
        ..request.clone()
    };
    assert_eq!(
        check(Provider::Twilio, &["12345"], &tampered),
        Err(InboundError::BodyHashMismatch)
    );
    // HMAC-SHA256, as named by the signature settings header.
    let form = b"MessageSid=SM1&MessageStatus=delivered";
    let mac = common::hmac(
        common::Digest::Sha256,
        b"12345",
        &[
            b"https://example.test/sms",
            b"MessageSid",
            b"SM1",
            b"MessageStatus",
            b"delivered",
        ],
    );
    let sha256 = Owned::post(
        "https://example.test/sms",
        vec![
            ("X-Twilio-Signature".into(), common::to_base64(&mac)),
            (
                "X-Twilio-Webhooks-Signature-Settings".into(),
                "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256".into(),
            ),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        form,
    );
    assert_eq!(check(Provider::Twilio, &["12345"], &sha256), Ok(0));
    assert_eq!(
        event_type(Provider::Twilio, &sha256.request()).as_deref(),
        Some("message.delivered")
    );
}

// ---- every signed provider, the same cases ----

/// Signs `body` with a secret at a timestamp, as the provider does.
type Signer = Box<dyn Fn(&str, i64, &[u8]) -> Owned>;

/// How to produce a request signed as a provider does, and what to strip to make it
/// unsigned.
struct Case {
    provider: Provider,
    secret: String,
    wrong_secret: String,
    sign: Signer,
    signature_header: &'static str,
    timestamped: bool,
}

fn discord_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn discord_public(seed: u8) -> String {
    common::to_hex(discord_key(seed).verifying_key().as_bytes())
}

fn cases() -> Vec<Case> {
    const URL: &str = "https://hooks.example.com/in/src";
    let form = |headers: Vec<(String, String)>, body: &[u8]| {
        Owned::post(URL, headers, body)
            .with_header("content-type", "application/x-www-form-urlencoded")
    };
    let standard_secret = crate::signature::generate_symmetric_secret(&[7; 32]);
    let standard_wrong = crate::signature::generate_symmetric_secret(&[8; 32]);
    vec![
        Case {
            provider: Provider::Stripe,
            secret: "whsec_stripe_right".into(),
            wrong_secret: "whsec_stripe_wrong".into(),
            sign: Box::new(|secret, ts, body| {
                Owned::post(URL, stripe::sign(secret, ts, body), body)
            }),
            signature_header: "stripe-signature",
            timestamped: true,
        },
        Case {
            provider: Provider::Github,
            secret: "gh-right".into(),
            wrong_secret: "gh-wrong".into(),
            sign: Box::new(|secret, _, body| Owned::post(URL, github::sign(secret, body), body)),
            signature_header: "x-hub-signature-256",
            timestamped: false,
        },
        Case {
            provider: Provider::Shopify,
            secret: "shop-right".into(),
            wrong_secret: "shop-wrong".into(),
            sign: Box::new(|secret, _, body| Owned::post(URL, shopify::sign(secret, body), body)),
            signature_header: "x-shopify-hmac-sha256",
            timestamped: false,
        },
        Case {
            provider: Provider::Razorpay,
            secret: "rzp-right".into(),
            wrong_secret: "rzp-wrong".into(),
            sign: Box::new(|secret, _, body| Owned::post(URL, razorpay::sign(secret, body), body)),
            signature_header: "x-razorpay-signature",
            timestamped: false,
        },
        Case {
            provider: Provider::Slack,
            secret: "slack-right".into(),
            wrong_secret: "slack-wrong".into(),
            sign: Box::new(|secret, ts, body| {
                Owned::post(URL, slack::sign(secret, ts, body), body)
            }),
            signature_header: "x-slack-signature",
            timestamped: true,
        },
        Case {
            provider: Provider::Twilio,
            secret: "twilio-right".into(),
            wrong_secret: "twilio-wrong".into(),
            sign: Box::new(move |secret, _, body| {
                form(twilio::sign(secret, URL, body, true), body)
            }),
            signature_header: "x-twilio-signature",
            timestamped: false,
        },
        Case {
            provider: Provider::StandardWebhooks,
            secret: standard_secret.clone(),
            wrong_secret: standard_wrong.clone(),
            sign: Box::new(|secret, ts, body| {
                let headers = crate::signature::sign(
                    crate::signature::SignatureScheme::Standard,
                    None,
                    &[secret],
                    "msg_1",
                    ts,
                    body,
                )
                .unwrap();
                Owned::post(URL, headers, body)
            }),
            signature_header: "webhook-signature",
            timestamped: true,
        },
        Case {
            provider: Provider::Paddle,
            secret: "pdl_ntfset_right".into(),
            wrong_secret: "pdl_ntfset_wrong".into(),
            sign: Box::new(|secret, ts, body| {
                Owned::post(URL, paddle::sign(secret, ts, body), body)
            }),
            signature_header: "paddle-signature",
            timestamped: true,
        },
        Case {
            provider: Provider::Square,
            secret: "sq-right".into(),
            wrong_secret: "sq-wrong".into(),
            sign: Box::new(|secret, _, body| {
                Owned::post(URL, square::sign(secret, URL, body), body)
            }),
            signature_header: "x-square-hmacsha256-signature",
            timestamped: false,
        },
        Case {
            provider: Provider::Discord,
            secret: discord_public(1),
            wrong_secret: discord_public(2),
            // The "secret" handed to the signer is the public key; the matching private
            // key is looked up by it.
            sign: Box::new(|public, ts, body| {
                let seed = if public == discord_public(1) { 1 } else { 2 };
                Owned::post(URL, discord::sign(&discord_key(seed), ts, body), body)
            }),
            signature_header: "x-signature-ed25519",
            timestamped: true,
        },
        Case {
            provider: Provider::Meta,
            secret: "meta-right".into(),
            wrong_secret: "meta-wrong".into(),
            sign: Box::new(|secret, _, body| Owned::post(URL, meta::sign(secret, body), body)),
            signature_header: "x-hub-signature-256",
            timestamped: false,
        },
    ]
}

#[test]
fn every_signed_provider_accepts_its_own_signature_and_refuses_the_rest() {
    let body: &[u8] = "{\"id\":\"evt_1\",\"type\":\"a.b\",\"name\":\"Zoë\"}".as_bytes();
    let form_body: &[u8] = b"MessageSid=SM1&Body=Zo%C3%AB&From=%2B15551234567";
    for case in cases() {
        let name = case.provider.as_str();
        let body = if case.provider == Provider::Twilio {
            form_body
        } else {
            body
        };
        let signed = (case.sign)(&case.secret, NOW, body);
        assert_eq!(
            check(case.provider, &[&case.secret], &signed),
            Ok(0),
            "{name}: valid"
        );
        assert_eq!(
            check(case.provider, &[&case.wrong_secret, &case.secret], &signed),
            Ok(1),
            "{name}: rotation, second secret"
        );
        // Only providers that say they read the URL may depend on it: Twilio and Square
        // sign it (Meta reads the query of its handshake, tested on its own).
        let elsewhere = |url: &str| Owned {
            url: url.into(),
            ..signed.clone()
        };
        if !case.provider.reads_url() {
            assert_eq!(
                check(case.provider, &[&case.secret], &elsewhere("")),
                Ok(0),
                "{name}: its rules never read the URL"
            );
        }
        if matches!(case.provider, Provider::Twilio | Provider::Square) {
            let moved = check(
                case.provider,
                &[&case.secret],
                &elsewhere("https://elsewhere.example/in/src"),
            );
            assert!(
                matches!(moved, Err(InboundError::SignatureMismatch { .. })),
                "{name}: signs the URL, so another URL must fail, gave {moved:?}"
            );
        }
        let mut tampered = signed.clone();
        let last = tampered.body.len() - 3;
        tampered.body[last] ^= 0x01;
        assert!(
            matches!(
                check(case.provider, &[&case.secret], &tampered),
                Err(InboundError::SignatureMismatch { secrets: 1 })
            ),
            "{name}: tampered body"
        );
        let wrong = check(case.provider, &[&case.wrong_secret], &signed);
        assert!(
            matches!(wrong, Err(InboundError::SignatureMismatch { secrets: 1 })),
            "{name}: wrong secret gave {wrong:?}"
        );
        let mut unsigned = signed.clone();
        unsigned
            .headers
            .retain(|(key, _)| key != case.signature_header);
        assert_eq!(
            check(case.provider, &[&case.secret], &unsigned),
            Err(InboundError::MissingHeader(case.signature_header.into())),
            "{name}: missing header"
        );
        let stale = (case.sign)(&case.secret, NOW - 301, body);
        let result = check(case.provider, &[&case.secret], &stale);
        if case.timestamped {
            assert!(
                matches!(
                    result,
                    Err(InboundError::StaleTimestamp {
                        age_secs: 301,
                        tolerance_secs: 300
                    })
                ),
                "{name}: stale gave {result:?}"
            );
            let future = (case.sign)(&case.secret, NOW + 301, body);
            assert!(
                check(case.provider, &[&case.secret], &future).is_err(),
                "{name}: a timestamp from the future"
            );
        } else {
            assert_eq!(result, Ok(0), "{name}: no timestamp to be stale");
        }
        // No error message carries a secret or a signature.
        for error in [
            wrong.unwrap_err(),
            check(case.provider, &[&case.secret], &tampered).unwrap_err(),
        ] {
            let text = error.to_string();
            assert!(
                !text.contains(&case.secret) && !text.contains(&case.wrong_secret),
                "{text}"
            );
            for (_, value) in &signed.headers {
                assert!(
                    value.len() < 16 || !text.contains(value.as_str()),
                    "{name}: {text}"
                );
            }
        }
        assert_eq!(
            verify(&config(case.provider, &[]), &signed.request(), NOW),
            Err(InboundError::NoSecret)
        );
    }
}

#[test]
fn malformed_headers_are_named() {
    let cases = [
        (Provider::Stripe, "stripe-signature", "v1=abc"),
        (Provider::Stripe, "stripe-signature", "t=1700000000"),
        (Provider::Stripe, "stripe-signature", "t=yesterday,v1=ab"),
        (Provider::Github, "x-hub-signature-256", "sha1=abcd"),
        (Provider::Github, "x-hub-signature-256", "sha256=not-hex"),
        (Provider::Shopify, "x-shopify-hmac-sha256", "%%%"),
        (Provider::Paddle, "paddle-signature", "h1=abcd"),
        (Provider::Discord, "x-signature-ed25519", "abcd"),
    ];
    for (provider, header, value) in cases {
        let mut request = Owned::post("https://h/in/x", vec![(header.into(), value.into())], b"{}");
        if provider == Provider::Discord {
            request = request.with_header("x-signature-timestamp", &NOW.to_string());
        }
        let secret = if provider == Provider::Discord {
            discord_public(1)
        } else {
            "s".into()
        };
        let result = check(provider, &[&secret], &request);
        assert!(
            matches!(&result, Err(InboundError::MalformedHeader { header: named, .. }) if named == header),
            "{provider} {value:?}: {result:?}"
        );
    }
    let bad_key = check(
        Provider::Discord,
        &["not-a-key"],
        &Owned::post("https://h/in/x", vec![], b"{}"),
    );
    assert_eq!(bad_key.unwrap_err().code(), "bad_source_config");
}

// ---- handshakes ----

#[test]
fn slack_url_verification_is_answered_only_when_signed() {
    let body = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let config = config(Provider::Slack, &["slack-secret"]);
    let signed = Owned::post(
        "https://h/in/slack",
        slack::sign("slack-secret", NOW - 3600, body),
        body,
    );
    let reply = handshake(&config, &signed.request()).expect("a signed challenge is answered");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let forged = Owned::post("https://h/in/slack", slack::sign("other", NOW, body), body);
    assert_eq!(handshake(&config, &forged.request()), None);
    let event = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
    let event = Owned::post(
        "https://h/in/slack",
        slack::sign("slack-secret", NOW, event),
        event,
    );
    assert_eq!(handshake(&config, &event.request()), None);
    assert_eq!(
        event_id(Provider::Slack, &event.request()).as_deref(),
        Some("Ev1")
    );
    assert_eq!(
        event_type(Provider::Slack, &event.request()).as_deref(),
        Some("app_mention")
    );
}

#[test]
fn discord_pings_are_answered_only_when_signed() {
    let config = config(Provider::Discord, &[&discord_public(1)]);
    let ping = br#"{"id":"1","application_id":"2","type":1,"token":"tok","version":1}"#;
    let signed = Owned::post(
        "https://h/in/d",
        discord::sign(&discord_key(1), NOW, ping),
        ping,
    );
    let reply = handshake(&config, &signed.request()).expect("PING answered");
    assert_eq!(
        (reply.status, reply.body.as_slice()),
        (200, br#"{"type":1}"#.as_slice())
    );
    // Discord checks that endpoints refuse bad signatures: no reply, and verify says 401.
    let forged = Owned::post(
        "https://h/in/d",
        discord::sign(&discord_key(2), NOW, ping),
        ping,
    );
    assert_eq!(handshake(&config, &forged.request()), None);
    assert!(verify(&config, &forged.request(), NOW).is_err());
    let event_ping = br#"{"version":1,"application_id":"2","type":0}"#;
    let signed = Owned::post(
        "https://h/in/d",
        discord::sign(&discord_key(1), NOW, event_ping),
        event_ping,
    );
    assert_eq!(
        handshake(&config, &signed.request()).map(|r| r.status),
        Some(204)
    );
    let command = br#"{"id":"99","application_id":"2","type":2,"token":"tok","version":1}"#;
    let command = Owned::post(
        "https://h/in/d",
        discord::sign(&discord_key(1), NOW, command),
        command,
    );
    assert_eq!(handshake(&config, &command.request()), None);
    assert_eq!(
        event_id(Provider::Discord, &command.request()).as_deref(),
        Some("99")
    );
    assert_eq!(
        event_type(Provider::Discord, &command.request()).as_deref(),
        Some("interaction.application_command")
    );
}

#[test]
fn meta_subscription_handshake_checks_the_verify_token() {
    let config = VerifierConfig {
        verify_token: Some("my-verify-token".into()),
        ..config(Provider::Meta, &["app-secret"])
    };
    let get = |query: &str| Owned {
        method: "GET".into(),
        url: format!("https://h/in/meta?{query}"),
        headers: vec![],
        body: vec![],
    };
    let good = get("hub.mode=subscribe&hub.verify_token=my-verify-token&hub.challenge=1158201444");
    let reply = handshake(&config, &good.request()).unwrap();
    assert_eq!(
        (reply.status, reply.body.as_slice()),
        (200, b"1158201444".as_slice())
    );
    let bad = get("hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444");
    let reply = handshake(&config, &bad.request()).unwrap();
    assert_eq!(reply.status, 403);
    assert!(!String::from_utf8_lossy(&reply.body).contains("my-verify-token"));
    let no_token = VerifierConfig {
        verify_token: None,
        ..config.clone()
    };
    assert_eq!(handshake(&no_token, &good.request()).unwrap().status, 403);
    assert_eq!(handshake(&config, &get("other=1").request()), None);
}

// ---- event ids and types ----

#[test]
fn event_ids_and_types_follow_each_provider() {
    let json = |headers: Vec<(&str, &str)>, body: &str| {
        Owned::post(
            "https://h/in/x",
            headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body.as_bytes(),
        )
    };
    let cases: Vec<(Provider, Owned, Option<&str>, Option<&str>)> = vec![
        (
            Provider::Stripe,
            json(vec![], r#"{"id":"evt_1","type":"invoice.paid"}"#),
            Some("evt_1"),
            Some("invoice.paid"),
        ),
        (
            Provider::Github,
            json(
                vec![
                    ("X-GitHub-Delivery", "72d3162e"),
                    ("X-GitHub-Event", "pull_request"),
                ],
                r#"{"action":"opened"}"#,
            ),
            Some("72d3162e"),
            Some("pull_request.opened"),
        ),
        (
            Provider::Github,
            json(
                vec![("X-GitHub-Delivery", "d2"), ("X-GitHub-Event", "push")],
                r#"{"ref":"x"}"#,
            ),
            Some("d2"),
            Some("push"),
        ),
        (
            Provider::Shopify,
            json(
                vec![
                    ("X-Shopify-Webhook-Id", "b54557e4"),
                    ("X-Shopify-Topic", "orders/create"),
                ],
                "{}",
            ),
            Some("b54557e4"),
            Some("orders.create"),
        ),
        (
            Provider::Razorpay,
            json(
                vec![("X-Razorpay-Event-Id", "Ev_1")],
                r#"{"event":"payment.captured"}"#,
            ),
            Some("Ev_1"),
            Some("payment.captured"),
        ),
        (
            Provider::Paddle,
            json(
                vec![],
                r#"{"event_id":"evt_01h","event_type":"transaction.completed"}"#,
            ),
            Some("evt_01h"),
            Some("transaction.completed"),
        ),
        (
            Provider::Square,
            json(
                vec![],
                r#"{"event_id":"6a8f5f28","type":"payment.updated"}"#,
            ),
            Some("6a8f5f28"),
            Some("payment.updated"),
        ),
        (
            Provider::Meta,
            json(
                vec![],
                r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"id":"wamid.HBgL"}]}}]}]}"#,
            ),
            Some("wamid.HBgL"),
            Some("whatsapp_business_account.messages"),
        ),
        (
            Provider::Meta,
            json(
                vec![],
                r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.X","status":"read"}]}}]}]}"#,
            ),
            Some("wamid.X:read"),
            Some("whatsapp_business_account.messages"),
        ),
        (
            Provider::Gitlab,
            json(
                vec![
                    ("X-Gitlab-Event-UUID", "uuid-1"),
                    ("X-Gitlab-Event", "Merge Request Hook"),
                ],
                r#"{"object_kind":"merge_request","object_attributes":{"action":"open"}}"#,
            ),
            Some("uuid-1"),
            Some("merge_request.open"),
        ),
        (
            Provider::Gitlab,
            json(vec![("X-Gitlab-Event", "Push Hook")], "not json"),
            None,
            Some("push_hook"),
        ),
        (
            Provider::StandardWebhooks,
            json(vec![("webhook-id", "msg_1")], r#"{"type":"user.created"}"#),
            Some("msg_1"),
            Some("user.created"),
        ),
        (
            Provider::Svix,
            json(vec![("svix-id", "msg_2")], r#"{"type":"email.sent"}"#),
            Some("msg_2"),
            Some("email.sent"),
        ),
        (
            Provider::Twilio,
            json(
                vec![("I-Twilio-Idempotency-Token", "idem-1")],
                "CallSid=CA1&CallStatus=completed",
            ),
            Some("idem-1"),
            Some("call.completed"),
        ),
        (Provider::Stripe, json(vec![], "not json"), None, None),
    ];
    for (provider, request, id, kind) in cases {
        assert_eq!(
            event_id(provider, &request.request()).as_deref(),
            id,
            "{provider} id"
        );
        assert_eq!(
            event_type(provider, &request.request()).as_deref(),
            kind,
            "{provider} type"
        );
    }
}

#[test]
fn event_types_are_always_valid_names() {
    for raw in ["orders/create", "Push Hook", "a:b c", "ünïcode/évent", ""] {
        if let Some(name) = common::event_type_name(raw) {
            assert!(
                !name.is_empty()
                    && name.len() <= 256
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{raw:?} -> {name:?}"
            );
        }
    }
    assert_eq!(common::event_type_name(""), None);
}

#[test]
fn provider_names_round_trip() {
    for provider in Provider::ALL {
        assert_eq!(Provider::parse(provider.as_str()), Some(provider));
        let json = serde_json::to_string(&provider).unwrap();
        assert_eq!(json, format!("\"{}\"", provider.as_str()));
    }
}

// ---- no input makes it panic ----

mod no_panics {
    use proptest::prelude::*;

    use super::*;

    /// Header names every provider reads, so that generated values reach the parsers.
    const NAMES: [&str; 16] = [
        "stripe-signature",
        "x-hub-signature-256",
        "x-shopify-hmac-sha256",
        "x-razorpay-signature",
        "x-slack-signature",
        "x-slack-request-timestamp",
        "x-twilio-signature",
        "x-twilio-webhooks-signature-settings",
        "webhook-signature",
        "webhook-timestamp",
        "paddle-signature",
        "x-square-hmacsha256-signature",
        "x-signature-ed25519",
        "x-signature-timestamp",
        "x-gitlab-token",
        "content-type",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_signer_round_trips_through_verify(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            skew in -300i64..=300,
        ) {
            for case in cases() {
                // Twilio signs form fields, which a non-form body does not have.
                let body = if case.provider == Provider::Twilio {
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("Body", &String::from_utf8_lossy(&body))
                        .finish()
                        .into_bytes()
                } else {
                    body.clone()
                };
                let signed = (case.sign)(&case.secret, NOW + skew, &body);
                prop_assert_eq!(
                    check(case.provider, &[&case.wrong_secret, &case.secret], &signed),
                    Ok(1),
                    "{}",
                    case.provider
                );
            }
        }

        #[test]
        fn any_request_gets_an_answer(
            values in proptest::collection::vec("[ -~]{0,80}", NAMES.len()),
            body in proptest::collection::vec(any::<u8>(), 0..200),
            url in "[ -~]{0,60}",
            now in any::<i64>(),
            tolerance in any::<i64>(),
        ) {
            let headers: Vec<(String, String)> = NAMES
                .iter()
                .zip(values)
                .map(|(name, value)| (name.to_string(), value))
                .collect();
            let request = InboundRequest { method: "POST", url: &url, headers: &headers, body: &body };
            for provider in Provider::ALL {
                let secret = if provider == Provider::Discord {
                    discord_public(1)
                } else {
                    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()
                };
                let config = VerifierConfig {
                    tolerance_secs: tolerance,
                    generic: Some(GenericScheme {
                        template: Some("{timestamp}.{id}.{body}{".into()),
                        timestamp_header: Some("webhook-timestamp".into()),
                        id_header: Some("x-gitlab-token".into()),
                        ..GenericScheme::default()
                    }),
                    verify_token: Some("t".into()),
                    ..config(provider, &[&secret])
                };
                let _ = verify(&config, &request, now);
                let _ = handshake(&config, &request);
                let _ = source_event_id(&config, &request);
                if let Some(name) = source_event_type(&config, &request) {
                    prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
                }
            }
        }
    }
}
