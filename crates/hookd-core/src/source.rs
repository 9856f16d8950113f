//! Sources (inbound provider connections) and the pure decisions of the ingest path:
//! which secrets and rules verify a source's requests, what message a verified request
//! becomes (payload and event type), which provider headers may be forwarded and how they
//! join hookd's own on a delivery, and the token bucket behind the inbound rate limits.
//!
//! **Invariants:** nothing here reads a clock or does IO (`now` is a parameter). A
//! message payload made here is always valid JSON text: the provider's body verbatim when
//! it is JSON (so its bytes, and a provider signature over them, survive), otherwise a
//! documented wrapper object. Event types made here always pass the API's name rules.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::ids::{ApplicationId, InboundRequestId, MessageId, SourceId};
use crate::inbound::{GenericScheme, Provider, VerifierConfig};
use crate::Timestamp;

/// Default tolerance for signed timestamps, in seconds (Stripe, Slack and Standard
/// Webhooks all use five minutes).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// One inbound provider connection: the URL `/in/{id or uid}` a provider calls, how its
/// requests are verified, and the application its events become messages in.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: SourceId,
    pub uid: Option<String>,
    pub name: String,
    pub app_id: ApplicationId,
    pub provider: Provider,
    /// Every secret in force, the current one first (several during a rotation).
    pub secrets: Vec<String>,
    pub settings: SourceSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A source's optional provider settings, stored as one JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSettings {
    /// Seconds a signed timestamp may be from now. Default: 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<i64>,
    /// The user-described scheme of a `generic` source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<GenericScheme>,
    /// Largest body accepted, in bytes. Default: the server's body limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_limit: Option<usize>,
    /// Requests per second accepted for this source (a burst of as many is allowed).
    /// Default: no per-source limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// The token Meta sends back in its `hub.verify_token` subscription handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
}

impl Source {
    /// The headers of a request to this source that an endpoint asking for them may
    /// receive: [`forwardable_headers`], minus the header that carries this source's
    /// secret itself (GitLab's token, a basic-auth or API-key header), which never
    /// leaves hookd.
    pub fn forwarded_headers(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        // Which header carries the secret depends on the provider and the generic scheme
        // only, so the secrets themselves are not copied to ask.
        let scheme = VerifierConfig {
            provider: self.provider,
            generic: self.settings.generic.clone(),
            ..VerifierConfig::default()
        };
        let secret_header = crate::inbound::secret_header(&scheme);
        let mut kept = forwardable_headers(headers);
        if let Some(secret_header) = secret_header {
            kept.retain(|(name, _)| !name.eq_ignore_ascii_case(&secret_header));
        }
        kept
    }

    /// The verifier configuration of this source.
    pub fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig {
            provider: self.provider,
            secrets: self.secrets.clone(),
            tolerance_secs: self
                .settings
                .tolerance_secs
                .unwrap_or(DEFAULT_TOLERANCE_SECS),
            generic: self.settings.generic.clone(),
            verify_token: self.settings.verify_token.clone(),
        }
    }
}

/// What became of one received request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundStatus {
    /// Signature good; it became a message.
    Verified,
    /// Verification failed; never forwarded.
    Rejected,
    /// Signature good, but its event id was seen inside the dedup window.
    Duplicate,
    /// A provider handshake (challenge), answered without a message.
    Handshake,
}

impl InboundStatus {
    pub const ALL: [InboundStatus; 4] = [
        Self::Verified,
        Self::Rejected,
        Self::Duplicate,
        Self::Handshake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Rejected => "rejected",
            Self::Duplicate => "duplicate",
            Self::Handshake => "handshake",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// One request received at a source's `/in` URL, as kept for inspection and replay.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRecord {
    pub id: InboundRequestId,
    pub source_id: SourceId,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lowercase names, values as received, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: InboundStatus,
    /// `InboundError::code()` of a rejected request.
    pub error_code: Option<String>,
    /// The failed check, in words (never a secret or an expected signature).
    pub error_detail: Option<String>,
    /// The provider's event id, when the request carried one.
    pub event_id: Option<String>,
    /// The message it became (for a duplicate: the message of the first delivery).
    pub msg_id: Option<MessageId>,
    pub source_ip: Option<String>,
    pub received_at: Timestamp,
}

/// The payload of the message a verified body becomes.
///
/// A body that parses as JSON is kept byte for byte. Anything else (form posts, plain
/// text, binary) is wrapped as `{"contentType": …, "body": "<text>"}`, or with
/// `"bodyBase64"` instead of `"body"` when it is not UTF-8.
pub fn message_payload(body: &[u8], content_type: Option<&str>) -> String {
    if let Ok(text) = std::str::from_utf8(body) {
        if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
            return text.to_owned();
        }
    }
    let mut wrapper = serde_json::Map::new();
    wrapper.insert(
        "contentType".to_owned(),
        content_type.map_or(serde_json::Value::Null, |value| value.into()),
    );
    match std::str::from_utf8(body) {
        Ok(text) => wrapper.insert("body".to_owned(), text.into()),
        Err(_) => wrapper.insert(
            "bodyBase64".to_owned(),
            base64::engine::general_purpose::STANDARD
                .encode(body)
                .into(),
        ),
    };
    serde_json::Value::Object(wrapper).to_string()
}

/// The event type of the message: the provider's own name for the event, made to fit
/// hookd's event type rules (characters outside `[A-Za-z0-9._-]` become `.`, at most 256
/// characters), or `{provider}.event` when the provider named none.
pub fn message_event_type(provider: Provider, from_provider: Option<&str>) -> String {
    let fitted: String = from_provider
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '.'
            }
        })
        .take(256)
        .collect();
    if fitted.is_empty() {
        format!("{}.event", provider.as_str())
    } else {
        fitted
    }
}

/// Headers never forwarded to an endpoint: hop-by-hop headers, those hookd or its HTTP
/// client sets itself (length, host, content type and encoding, user agent, its own
/// signature headers), and credentials.
const NEVER_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "accept-encoding",
    "user-agent",
    "expect",
    "authorization",
    "cookie",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
];

/// The provider headers an endpoint that asks for them receives (besides hookd's own):
/// every received header but the ones in `NEVER_FORWARDED` and those the proxy in front
/// of hookd adds (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`, `Via`). The provider's own signature
/// header is kept: the body is forwarded byte for byte when it is JSON, so a receiver
/// that holds the provider secret can still check it.
pub fn forwardable_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.to_ascii_lowercase();
            !NEVER_FORWARDED.contains(&name.as_str())
                && !matches!(name.as_str(), "forwarded" | "x-real-ip" | "via")
                && !name.starts_with("x-forwarded-")
        })
        .cloned()
        .collect()
}

/// The headers of one delivery to an endpoint that forwards source headers: hookd's own
/// (`own`: content type, the endpoint's custom headers, hookd's signature) followed by
/// the provider's `source_headers`, minus any whose name hookd already set. hookd's
/// headers win a clash, so a receiver always finds the signature it was configured for
/// (an endpoint signed Stripe-style keeps hookd's `stripe-signature`, not Stripe's).
pub fn with_source_headers(
    mut own: Vec<(String, String)>,
    source_headers: &[(String, String)],
) -> Vec<(String, String)> {
    let taken: Vec<String> = own
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    own.extend(
        source_headers
            .iter()
            .filter(|(name, _)| !taken.contains(&name.to_ascii_lowercase()))
            .cloned(),
    );
    own
}

/// A token bucket: `rate` tokens per second, holding at most `burst`. Time is a
/// parameter (milliseconds on any monotonic clock).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket at `now_ms`.
    pub fn full(burst: u32, now_ms: u64) -> Self {
        Self {
            tokens: f64::from(burst),
            last_ms: now_ms,
        }
    }

    /// Takes one token at `now_ms`. `Err` carries the whole seconds until one is
    /// available (at least 1, what a `Retry-After` header says).
    pub fn take(&mut self, rate: u32, burst: u32, now_ms: u64) -> Result<(), u64> {
        let rate = f64::from(rate.max(1));
        let elapsed_secs = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed_secs * rate).min(f64::from(burst.max(1)));
        self.last_ms = self.last_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait_secs = (1.0 - self.tokens) / rate;
            Err((wait_secs.ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_are_kept_byte_for_byte() {
        let body = b"{ \"b\": 1,\n  \"a\": \"caf\\u00e9\" }";
        assert_eq!(
            message_payload(body, Some("application/json")).as_bytes(),
            body
        );
        assert_eq!(message_payload(b"[1, 2]", None), "[1, 2]");
    }

    #[test]
    fn other_bodies_are_wrapped() {
        let form = message_payload(b"a=1&b=2", Some("application/x-www-form-urlencoded"));
        let value: serde_json::Value = serde_json::from_str(&form).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"contentType": "application/x-www-form-urlencoded", "body": "a=1&b=2"})
        );
        let binary = message_payload(&[0xff, 0x00, 0x01], None);
        let value: serde_json::Value = serde_json::from_str(&binary).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"contentType": null, "bodyBase64": "/wAB"})
        );
        let empty: serde_json::Value = serde_json::from_str(&message_payload(b"", None)).unwrap();
        assert_eq!(empty["body"], "");
    }

    #[test]
    fn event_types_fit_the_name_rules() {
        for (provider, given, expected) in [
            (Provider::Stripe, Some("invoice.paid"), "invoice.paid"),
            (Provider::Shopify, Some("orders/create"), "orders.create"),
            (Provider::Github, Some("push"), "push"),
            (Provider::Svix, None, "svix.event"),
            (
                Provider::StandardWebhooks,
                Some(""),
                "standard-webhooks.event",
            ),
            (Provider::Generic, Some("a b:c"), "a.b.c"),
        ] {
            assert_eq!(message_event_type(provider, given), expected, "{given:?}");
        }
        assert_eq!(
            message_event_type(Provider::Stripe, Some(&"x".repeat(300))).len(),
            256
        );
    }

    #[test]
    fn forwarding_drops_hop_by_hop_and_hookd_headers() {
        let headers: Vec<(String, String)> = [
            ("connection", "keep-alive"),
            ("host", "hookd.example"),
            ("stripe-signature", "t=1,v1=ab"),
            ("x-forwarded-for", "10.0.0.1"),
            ("X-Forwarded-Proto", "https"),
            ("x-forwarded", "not a proxy header"),
            ("webhook-signature", "v1,abc"),
            ("x-github-event", "push"),
            ("content-length", "12"),
            ("Transfer-Encoding", "chunked"),
            ("user-agent", "Stripe/1.0"),
            ("accept-encoding", "gzip"),
            ("authorization", "Bearer t"),
            ("forwarded", "for=10.0.0.1"),
            ("X-Real-IP", "10.0.0.1"),
            ("via", "1.1 proxy"),
            ("svix-id", "msg_1"),
            ("x-request-id", "abc"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let kept: Vec<String> = forwardable_headers(&headers)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            kept,
            [
                "stripe-signature",
                "x-forwarded",
                "x-github-event",
                "x-request-id"
            ]
        );
    }

    #[test]
    fn a_header_carrying_the_sources_secret_is_never_forwarded() {
        let headers: Vec<(String, String)> = [
            ("X-Gitlab-Token", "secret-token"),
            ("x-ci-key", "key_1"),
            ("x-gitlab-event", "Push Hook"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let source = |provider, generic| Source {
            id: SourceId::new(1, [1; 14]),
            uid: None,
            name: "s".into(),
            app_id: ApplicationId::new(1, [2; 14]),
            provider,
            secrets: vec!["secret-token".into()],
            settings: SourceSettings {
                generic,
                ..SourceSettings::default()
            },
            created_at: Timestamp::default(),
            updated_at: Timestamp::default(),
        };
        let names = |source: Source| -> Vec<String> {
            source
                .forwarded_headers(&headers)
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        assert_eq!(
            names(source(Provider::Gitlab, None)),
            ["x-ci-key", "x-gitlab-event"]
        );
        let api_key = GenericScheme {
            kind: crate::inbound::GenericKind::ApiKey,
            header: "X-CI-Key".into(),
            ..GenericScheme::default()
        };
        assert_eq!(
            names(source(Provider::Generic, Some(api_key))),
            ["X-Gitlab-Token", "x-gitlab-event"]
        );
        // A signature is not the secret: an HMAC scheme keeps every header.
        assert_eq!(
            names(source(Provider::Generic, Some(GenericScheme::default()))).len(),
            3
        );
    }

    #[test]
    fn hookd_headers_win_over_forwarded_ones_of_the_same_name() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect()
        };
        let own = pairs(&[
            ("content-type", "application/json"),
            ("stripe-signature", "t=2,v1=hookd"),
        ]);
        let source = pairs(&[
            ("Stripe-Signature", "t=1,v1=stripe"),
            ("x-github-event", "push"),
            ("x-github-event", "again"),
        ]);
        assert_eq!(
            with_source_headers(own, &source),
            pairs(&[
                ("content-type", "application/json"),
                ("stripe-signature", "t=2,v1=hookd"),
                ("x-github-event", "push"),
                ("x-github-event", "again"),
            ])
        );
        assert_eq!(with_source_headers(Vec::new(), &[]), Vec::new());
    }

    #[test]
    fn token_bucket_allows_a_burst_then_refills() {
        let mut bucket = TokenBucket::full(2, 1_000);
        assert_eq!(bucket.take(2, 2, 1_000), Ok(()));
        assert_eq!(bucket.take(2, 2, 1_000), Ok(()));
        assert_eq!(bucket.take(2, 2, 1_000), Err(1));
        // Half a second at 2/s refills one token.
        assert_eq!(bucket.take(2, 2, 1_500), Ok(()));
        assert_eq!(bucket.take(2, 2, 1_500), Err(1));
        // A slow rate asks for a longer wait.
        let mut slow = TokenBucket::full(1, 0);
        assert_eq!(slow.take(1, 1, 0), Ok(()));
        assert!(slow.take(1, 1, 0).is_err());
        // Time never refills past the burst.
        assert_eq!(bucket.take(2, 2, 100_000), Ok(()));
        assert_eq!(bucket.take(2, 2, 100_000), Ok(()));
        assert_eq!(bucket.take(2, 2, 100_000), Err(1));
    }

    #[test]
    fn statuses_round_trip() {
        for status in InboundStatus::ALL {
            assert_eq!(InboundStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(InboundStatus::parse("other"), None);
    }
}
