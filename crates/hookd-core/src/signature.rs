//! Signing outbound webhooks and verifying Standard Webhooks signatures.
//!
//! STUB: the public API below is fixed; the bodies are being written.

use serde::{Deserialize, Serialize};

/// How an endpoint's deliveries are signed (endpoint field `signatureScheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureScheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    #[default]
    Standard,
    /// The same algorithm under `svix-id`, `svix-timestamp`, `svix-signature`.
    Svix,
    /// Hex HMAC-SHA256 of the raw body in one header (default `x-webhook-signature`).
    HmacSha256Hex,
    /// `Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "ts.body">`.
    Stripe,
    /// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of body>`.
    Github,
}

/// The header [`SignatureScheme::HmacSha256Hex`] uses when the endpoint names none.
pub const DEFAULT_HMAC_HEADER: &str = "x-webhook-signature";

impl SignatureScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Svix => "svix",
            Self::HmacSha256Hex => "hmac-sha256-hex",
            Self::Stripe => "stripe",
            Self::Github => "github",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Standard, Self::Svix, Self::HmacSha256Hex, Self::Stripe, Self::Github]
            .into_iter()
            .find(|scheme| scheme.as_str() == text)
    }
}

/// A secret that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret must start with whsec_ (HMAC) or whsk_ (ed25519) followed by base64")]
    UnknownPrefix,
    #[error("secret is not valid base64 after its prefix")]
    NotBase64,
    #[error("secret must decode to between 24 and 64 bytes, found {0}")]
    BadLength(usize),
    #[error("an ed25519 secret (whsk_) must decode to a 32-byte seed or a 64-byte keypair")]
    BadEd25519Key,
    #[error("secret is empty")]
    Empty,
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("timestamp header is not a Unix time in seconds")]
    InvalidTimestamp,
    #[error("timestamp is older than the tolerance")]
    TimestampTooOld,
    #[error("timestamp is further in the future than the tolerance")]
    TimestampTooNew,
    #[error("no signature matches")]
    InvalidSignature,
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// A new `whsec_` secret from `random` (24 to 64 bytes).
pub fn generate_symmetric_secret(random: &[u8]) -> String {
    let _ = random;
    unimplemented!("stub")
}

/// A new `whsk_` ed25519 secret from a 32-byte seed.
pub fn generate_ed25519_secret(seed: [u8; 32]) -> String {
    let _ = seed;
    unimplemented!("stub")
}

/// Checks a user-supplied secret for `scheme`.
pub fn validate_secret(scheme: SignatureScheme, secret: &str) -> Result<(), SecretError> {
    let _ = (scheme, secret);
    unimplemented!("stub")
}

/// The headers that sign `body` for one delivery.
pub fn sign(
    scheme: SignatureScheme,
    signature_header: Option<&str>,
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(String, String)>, SecretError> {
    let _ = (scheme, signature_header, secrets, msg_id, timestamp, body);
    unimplemented!("stub")
}

/// Verifies a Standard Webhooks (or `svix-*`) signed request.
pub fn verify(
    secrets: &[&str],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let _ = (secrets, header, body, now, tolerance_secs);
    unimplemented!("stub")
}
