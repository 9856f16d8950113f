//! Receiving webhooks from providers: which provider a source speaks for, how its requests
//! are verified over the raw bytes, which handshakes it expects, and which event id and
//! event type a verified request carries.
//!
//! This is the contract between the ingest route (`hookd-api`, `POST /in/{source}`), the
//! `hookd verify` command and the per-provider rules in `inbound/*.rs`.
//!
//! How a caller uses it, per request: [`handshake`] first (it answers Slack's, Discord's
//! and Meta's handshakes, and verifies the signed ones itself); otherwise [`verify`]
//! (refuse with the error's [`InboundError::code`] on failure); then [`source_event_id`]
//! for deduplication and [`source_event_type`] for the message. Each provider's rules,
//! and a `sign` function that produces what the provider sends (for tests and
//! `hookd verify`), are in its own module.
//!
//! What a source's secret is, per provider: the signing secret exactly as the provider
//! shows it (Stripe `whsec_…`, Slack signing secret, Shopify client secret, Razorpay and
//! GitHub webhook secrets, Twilio auth token, Paddle `pdl_ntfset_…`, Square signature
//! key, Meta app secret), the `whsec_`/`whpk_` key for Standard Webhooks and Svix, the
//! application's hex public key for Discord, the token itself for GitLab, and for
//! the generic scheme the HMAC key, `user:password` (basic auth) or the API key. Meta's
//! subscription handshake also needs [`VerifierConfig::verify_token`].
//!
//! **Invariants:** everything here is pure: the clock is the `now` parameter, the request
//! is plain bytes and strings. Verification reads the body exactly as received, never a
//! re-serialised form. Signature comparisons are constant time, and an error never
//! carries the expected signature or a secret.

use std::fmt;

use serde::{Deserialize, Serialize};

mod common;
pub mod discord;
pub mod generic;
pub mod github;
pub mod gitlab;
mod json_field;
pub mod meta;
pub mod paddle;
pub mod razorpay;
pub mod shopify;
pub mod slack;
pub mod square;
mod standard;
pub mod stripe;
pub mod twilio;

#[cfg(test)]
mod tests;

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

    /// Whether this provider's rules read [`InboundRequest::url`]: Twilio and Square sign
    /// the URL, and Meta's subscription handshake reads its query. For every other
    /// provider the URL may be left empty, which spares rebuilding it per request.
    pub fn reads_url(self) -> bool {
        matches!(self, Self::Twilio | Self::Square | Self::Meta)
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
/// (`provider: "generic"`); the rules are in [`generic`]. Every field but the ones its
/// `kind` needs may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenericScheme {
    /// `sha1`, `sha256` or `sha512` (`kind: hmac`). Default: `sha256`.
    #[serde(default)]
    pub algorithm: String,
    /// `hex` or `base64` (`kind: hmac`). Default: `hex`.
    #[serde(default)]
    pub encoding: String,
    /// The header that carries the signature, credentials or key. Default: `x-signature`
    /// (hmac), `authorization` (basic-auth), `x-api-key` (api-key).
    #[serde(default)]
    pub header: String,
    /// A prefix in front of the signature or key in the header, such as `sha256=` or
    /// `Bearer `.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// What is signed: `{body}` by default; may use `{timestamp}` and `{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The header carrying `{timestamp}` (Unix seconds, checked against the tolerance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// The header carrying `{id}`, also the event id for deduplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_header: Option<String>,
    /// What is checked: an HMAC signature (default), HTTP basic auth, or an API key.
    #[serde(default)]
    pub kind: GenericKind,
}

/// What a [`GenericScheme`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GenericKind {
    /// An HMAC of the template, in a header.
    #[default]
    Hmac,
    /// `Authorization: Basic base64(user:password)`; each secret is `user:password`.
    BasicAuth,
    /// A header whose value (after the prefix) equals a secret.
    ApiKey,
}

/// How a source checks its requests: the provider's rules and the secrets in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    pub provider: Provider,
    /// Every secret currently valid (several during a rotation). For token or API-key
    /// providers (GitLab, basic auth, header key) the expected token; for Discord the
    /// application's public key in hex.
    pub secrets: Vec<String>,
    /// How far a signed timestamp may be from `now`, in seconds (providers with
    /// timestamps; 300 unless the source says otherwise).
    pub tolerance_secs: i64,
    /// The generic scheme, when `provider` is [`Provider::Generic`].
    pub generic: Option<GenericScheme>,
    /// Meta: the verify token the GET `hub.challenge` handshake must present (chosen by
    /// the user when subscribing the URL; not a signing secret). Default: none, and then
    /// every subscription handshake is refused.
    pub verify_token: Option<String>,
}

impl VerifierConfig {
    /// `provider` with `secrets`, the default tolerance and nothing else.
    pub fn new(provider: Provider, secrets: Vec<String>) -> Self {
        Self {
            provider,
            secrets,
            ..Self::default()
        }
    }
}

impl Default for VerifierConfig {
    /// Standard Webhooks, no secrets, a 300 s tolerance.
    fn default() -> Self {
        Self {
            provider: Provider::StandardWebhooks,
            secrets: Vec::new(),
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            generic: None,
            verify_token: None,
        }
    }
}

/// The tolerance of signed timestamps unless a source sets its own (5 minutes, as
/// Stripe, Slack and Standard Webhooks advise).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// One received request, as the provider sent it.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The full URL the provider called, as it signed it: the public base URL (or
    /// `http(s)://{Host}`) followed by the path and query. May be empty when
    /// [`Provider::reads_url`] is false for the source's provider.
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
    #[error("the body's SHA-256 does not match the bodySHA256 the provider signed")]
    BodyHashMismatch,
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
            Self::BodyHashMismatch => "body_hash_mismatch",
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
/// The first check that failed, as [`InboundError`]. Signatures are checked before
/// timestamps, so a [`InboundError::StaleTimestamp`] means the signature itself was right.
pub fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    if config.secrets.is_empty() {
        return Err(InboundError::NoSecret);
    }
    if let Some(index) = config.secrets.iter().position(String::is_empty) {
        return Err(InboundError::BadConfig(format!("secret {index} is empty")));
    }
    match config.provider {
        Provider::Stripe => stripe::verify(config, request, now_unix_secs),
        Provider::Github => github::verify(config, request),
        Provider::Shopify => shopify::verify(config, request),
        Provider::Razorpay => razorpay::verify(config, request),
        Provider::Slack => slack::verify(config, request, now_unix_secs),
        Provider::Twilio => twilio::verify(config, request),
        Provider::StandardWebhooks | Provider::Svix => {
            standard::verify(config, request, now_unix_secs)
        }
        Provider::Paddle => paddle::verify(config, request, now_unix_secs),
        Provider::Square => square::verify(config, request),
        Provider::Discord => discord::verify(config, request, now_unix_secs),
        Provider::Meta => meta::verify(config, request),
        Provider::Gitlab => gitlab::verify(config, request),
        Provider::Generic => generic::verify(config, request, now_unix_secs),
    }
}

/// The reply to a handshake, if `request` is one: Slack's `url_verification` (answered
/// with its challenge), Discord's PINGs (`{"type":1}`, or 204 for webhook events), Meta's
/// GET `hub.challenge` (the challenge when `hub.verify_token` matches, 403 otherwise).
///
/// Safe to call before [`verify`]: a signed handshake (Slack, Discord) is only recognised
/// when its signature checks, so a forged PING falls through to [`verify`] and its 401.
/// The age of a handshake's timestamp is not checked, since answering a replayed
/// handshake changes nothing.
pub fn handshake(config: &VerifierConfig, request: &InboundRequest<'_>) -> Option<HandshakeReply> {
    match config.provider {
        Provider::Slack => slack::handshake(config, request),
        Provider::Discord => discord::handshake(config, request),
        Provider::Meta => meta::handshake(config, request),
        _ => None,
    }
}

/// The provider's own id for the event (for deduplication), if the request carries one.
/// For [`Provider::Generic`] prefer [`source_event_id`], which knows the configured id
/// header.
pub fn event_id(provider: Provider, request: &InboundRequest<'_>) -> Option<String> {
    match provider {
        Provider::Stripe => stripe::event_id(request),
        Provider::Github => github::event_id(request),
        Provider::Shopify => shopify::event_id(request),
        Provider::Razorpay => razorpay::event_id(request),
        Provider::Slack => slack::event_id(request),
        Provider::Twilio => twilio::event_id(request),
        Provider::StandardWebhooks | Provider::Svix => standard::event_id(request),
        Provider::Paddle => paddle::event_id(request),
        Provider::Square => square::event_id(request),
        Provider::Discord => discord::event_id(request),
        Provider::Meta => meta::event_id(request),
        Provider::Gitlab => gitlab::event_id(request),
        Provider::Generic => generic::event_id(None, request),
    }
    .filter(|id| !id.trim().is_empty())
}

/// The event type the message gets, from the provider's own naming, if found. Always a
/// valid hookd event type name (`[A-Za-z0-9._-]`, at most 256 characters).
pub fn event_type(provider: Provider, request: &InboundRequest<'_>) -> Option<String> {
    match provider {
        Provider::Stripe => stripe::event_type(request),
        Provider::Github => github::event_type(request),
        Provider::Shopify => shopify::event_type(request),
        Provider::Razorpay => razorpay::event_type(request),
        Provider::Slack => slack::event_type(request),
        Provider::Twilio => twilio::event_type(request),
        Provider::StandardWebhooks | Provider::Svix => standard::event_type(request),
        Provider::Paddle => paddle::event_type(request),
        Provider::Square => square::event_type(request),
        Provider::Discord => discord::event_type(request),
        Provider::Meta => meta::event_type(request),
        Provider::Gitlab => gitlab::event_type(request),
        Provider::Generic => generic::event_type(request),
    }
}

/// [`event_id`] for a source's configuration: the generic scheme's `idHeader` first.
pub fn source_event_id(config: &VerifierConfig, request: &InboundRequest<'_>) -> Option<String> {
    match config.provider {
        Provider::Generic => generic::event_id(config.generic.as_ref(), request),
        provider => event_id(provider, request),
    }
    .filter(|id| !id.trim().is_empty())
}

/// [`event_type`] for a source's configuration (the same for every provider today).
pub fn source_event_type(config: &VerifierConfig, request: &InboundRequest<'_>) -> Option<String> {
    event_type(config.provider, request)
}

/// The header (lowercase) that carries a source's secret itself, for schemes that send
/// their token rather than a signature made with it: GitLab's `X-Gitlab-Token`, and the
/// generic scheme's basic-auth or API-key header. Such a header must never leave hookd
/// (it is not forwarded to endpoints).
pub fn secret_header(config: &VerifierConfig) -> Option<String> {
    match config.provider {
        Provider::Gitlab => Some(gitlab::HEADER.to_owned()),
        Provider::Generic => config.generic.as_ref().and_then(generic::secret_header),
        _ => None,
    }
}

/// Runs a provider's `verify` with the timestamp's age ignored (for handshakes).
fn verify_ignoring_age(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    verify: fn(&VerifierConfig, &InboundRequest<'_>, i64) -> Result<Verified, InboundError>,
) -> Option<Verified> {
    if config.secrets.is_empty() || config.secrets.iter().any(String::is_empty) {
        return None;
    }
    let relaxed = VerifierConfig {
        tolerance_secs: i64::MAX,
        ..config.clone()
    };
    verify(&relaxed, request, 0).ok()
}
