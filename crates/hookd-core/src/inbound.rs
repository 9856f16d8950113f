//! Receiving webhooks from providers: which provider a source speaks for, how its requests
//! are verified over the raw bytes, which handshakes it expects, and which event id and
//! event type a verified request carries.
//!
//! This is the contract between the ingest route (`hookd-api`, `POST /in/{source}`), the
//! `hookd verify` command and the per-provider rules in `inbound/*.rs`.
//!
//! **Invariants:** everything here is pure: the clock is the `now` parameter, the request
//! is plain bytes and strings. Verification reads the body exactly as received, never a
//! re-serialised form. Signature comparisons are constant time, and an error never
//! carries the expected signature or a secret.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The providers a source can verify, by their names in the API (`provider` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    Stripe,
    Github,
    Shopify,
    Razorpay,
    Slack,
    Twilio,
    StandardWebhooks,
    Svix,
    Paddle,
    Square,
    Discord,
    Meta,
    Gitlab,
    /// A scheme the user describes with [`GenericScheme`].
    Generic,
}

impl Provider {
    /// Every provider, in the order DESIGN.md lists them.
    pub const ALL: [Provider; 14] = [
        Self::Stripe,
        Self::Github,
        Self::Shopify,
        Self::Razorpay,
        Self::Slack,
        Self::Twilio,
        Self::StandardWebhooks,
        Self::Svix,
        Self::Paddle,
        Self::Square,
        Self::Discord,
        Self::Meta,
        Self::Gitlab,
        Self::Generic,
    ];

    /// The provider's name in the API and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Shopify => "shopify",
            Self::Razorpay => "razorpay",
            Self::Slack => "slack",
            Self::Twilio => "twilio",
            Self::StandardWebhooks => "standard-webhooks",
            Self::Svix => "svix",
            Self::Paddle => "paddle",
            Self::Square => "square",
            Self::Discord => "discord",
            Self::Meta => "meta",
            Self::Gitlab => "gitlab",
            Self::Generic => "generic",
        }
    }

    /// The provider named `text` (the inverse of [`Provider::as_str`]).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|provider| provider.as_str() == text)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user-described signature scheme for providers hookd has no rules for
/// (`provider: "generic"`). Filled in by the provider rules; the fields may grow.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenericScheme {
    /// `sha1`, `sha256` or `sha512`.
    pub algorithm: String,
    /// `hex` or `base64`.
    pub encoding: String,
    /// The header that carries the signature.
    pub header: String,
    /// A prefix in front of the signature in the header, such as `sha256=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// What is signed: `{body}` by default; may use `{timestamp}` and `{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The header carrying `{timestamp}`, when the template uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// The header carrying `{id}`, when the template uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_header: Option<String>,
}

/// How a source checks its requests: the provider's rules and the secrets in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    pub provider: Provider,
    /// Every secret currently valid (several during a rotation). For token or API-key
    /// providers (GitLab, basic auth, header key) the expected token.
    pub secrets: Vec<String>,
    /// How far a signed timestamp may be from `now`, in seconds (providers with
    /// timestamps; 300 unless the source says otherwise).
    pub tolerance_secs: i64,
    /// The generic scheme, when `provider` is [`Provider::Generic`].
    pub generic: Option<GenericScheme>,
}

/// One received request, as the provider sent it.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The full URL the provider called, as it signed it: the public base URL (or
    /// `http(s)://{Host}`) followed by the path and query.
    pub url: &'a str,
    /// Header names in lowercase, values as received, in order (a name may repeat).
    pub headers: &'a [(String, String)],
    /// The body exactly as received.
    pub body: &'a [u8],
}

impl InboundRequest<'_> {
    /// The first value of the header `name` (give it in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// What a request that passed verification carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Which of [`VerifierConfig::secrets`] matched (for rotation diagnostics).
    pub secret_index: usize,
}

/// Why a request was refused. The `code` is what the API answers in `{"code"}` and what
/// `hookd verify` prints; the message names the failed check, never a secret or an
/// expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("missing header {0}")]
    MissingHeader(String),
    #[error("header {header} is malformed: {reason}")]
    MalformedHeader { header: String, reason: String },
    #[error("timestamp is {age_secs} s from now, outside the {tolerance_secs} s tolerance")]
    StaleTimestamp { age_secs: i64, tolerance_secs: i64 },
    #[error("the signature matches none of the source's {secrets} secret(s)")]
    SignatureMismatch { secrets: usize },
    #[error("the source has no secret configured")]
    NoSecret,
    #[error("the source's configuration is unusable: {0}")]
    BadConfig(String),
    #[error("provider {0} is not supported yet")]
    Unsupported(Provider),
}

impl InboundError {
    /// The stable error code (`missing_header`, `stale_timestamp`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::MalformedHeader { .. } => "malformed_header",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::SignatureMismatch { .. } => "signature_mismatch",
            Self::NoSecret => "no_secret",
            Self::BadConfig(_) => "bad_source_config",
            Self::Unsupported(_) => "unsupported_provider",
        }
    }
}

/// A handshake the provider expects answered instead of an event (Slack
/// `url_verification`, Discord PING, Meta's GET `hub.challenge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Checks that `request` really comes from the source's provider.
///
/// # Errors
/// The first check that failed, as [`InboundError`].
pub fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    if config.secrets.is_empty() {
        return Err(InboundError::NoSecret);
    }
    match config.provider {
        Provider::StandardWebhooks | Provider::Svix => {
            let header = |name: &str| request.header(name).map(str::to_owned);
            for (index, secret) in config.secrets.iter().enumerate() {
                match crate::signature::verify(
                    &[secret.as_str()],
                    &header,
                    request.body,
                    now_unix_secs,
                    config.tolerance_secs,
                ) {
                    Ok(()) => {
                        return Ok(Verified {
                            secret_index: index,
                        })
                    }
                    Err(crate::signature::VerifyError::InvalidSignature) => continue,
                    Err(error) => {
                        return Err(standard_error(error, request, now_unix_secs, config))
                    }
                }
            }
            Err(InboundError::SignatureMismatch {
                secrets: config.secrets.len(),
            })
        }
        other => Err(InboundError::Unsupported(other)),
    }
}

fn standard_error(
    error: crate::signature::VerifyError,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
    config: &VerifierConfig,
) -> InboundError {
    use crate::signature::VerifyError;
    match error {
        VerifyError::MissingHeader(name) => InboundError::MissingHeader(name.to_owned()),
        VerifyError::InvalidTimestamp => InboundError::MalformedHeader {
            header: "webhook-timestamp".to_owned(),
            reason: "not a Unix time in seconds".to_owned(),
        },
        VerifyError::TimestampTooOld | VerifyError::TimestampTooNew => {
            let sent = request
                .header("webhook-timestamp")
                .or_else(|| request.header("svix-timestamp"))
                .and_then(|value| value.trim().parse::<i64>().ok())
                .unwrap_or(now_unix_secs);
            InboundError::StaleTimestamp {
                age_secs: now_unix_secs - sent,
                tolerance_secs: config.tolerance_secs,
            }
        }
        VerifyError::InvalidSignature => InboundError::SignatureMismatch {
            secrets: config.secrets.len(),
        },
        VerifyError::Secret(secret) => InboundError::BadConfig(secret.to_string()),
    }
}

/// The handshake reply `request` asks for, if it is one (checked before [`verify`] for
/// providers whose handshake is unsigned, after it otherwise).
pub fn handshake(
    _config: &VerifierConfig,
    _request: &InboundRequest<'_>,
) -> Option<HandshakeReply> {
    None
}

/// The provider's own id for the event (for deduplication), if the request carries one.
pub fn event_id(provider: Provider, request: &InboundRequest<'_>) -> Option<String> {
    match provider {
        Provider::StandardWebhooks | Provider::Svix => request
            .header("webhook-id")
            .or_else(|| request.header("svix-id"))
            .map(str::to_owned),
        _ => None,
    }
}

/// The event type the message gets, from the provider's own naming, if found.
pub fn event_type(provider: Provider, request: &InboundRequest<'_>) -> Option<String> {
    match provider {
        Provider::StandardWebhooks | Provider::Svix => {
            let value: serde_json::Value = serde_json::from_slice(request.body).ok()?;
            value.get("type")?.as_str().map(str::to_owned)
        }
        _ => None,
    }
}
