//! Signing outbound webhooks and verifying signed requests, for every scheme an endpoint
//! may choose: Standard Webhooks (`v1` HMAC and `v1a` ed25519), its `svix-*` twin, and the
//! hex-HMAC, Stripe and GitHub styles that existing receivers expect.
//!
//! **Invariant:** signing and verification share one definition of the signed content
//! per scheme (the private `*_content` helpers), so the two cannot drift; signature
//! comparisons are constant time. Nothing here reads a clock: `timestamp` and `now` are
//! parameters.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ed25519_dalek::Signer;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

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

/// The header that carries a [`SignatureScheme::Stripe`] signature.
pub const STRIPE_HEADER: &str = "stripe-signature";

/// The header that carries a [`SignatureScheme::Github`] signature.
pub const GITHUB_HEADER: &str = "x-hub-signature-256";

impl SignatureScheme {
    /// Every scheme, the default first.
    pub const ALL: [SignatureScheme; 5] = [
        Self::Standard,
        Self::Svix,
        Self::HmacSha256Hex,
        Self::Stripe,
        Self::Github,
    ];

    /// Whether the scheme's secret is a Standard Webhooks key (`whsec_…` or `whsk_…`);
    /// the other schemes use any non-empty secret as it is.
    pub fn takes_webhook_secret(self) -> bool {
        matches!(self, Self::Standard | Self::Svix)
    }

    /// The scheme's name in the API and on the command line (`standard`, `svix`,
    /// `hmac-sha256-hex`, `stripe`, `github`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Svix => "svix",
            Self::HmacSha256Hex => "hmac-sha256-hex",
            Self::Stripe => "stripe",
            Self::Github => "github",
        }
    }

    /// The scheme named `text` (the inverse of [`SignatureScheme::as_str`]).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scheme| scheme.as_str() == text)
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
    #[error("an ed25519 public key (whpk_) must be the base64 of 32 bytes that are a point of the curve")]
    BadEd25519PublicKey,
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

/// A new `whsec_` secret from `random`, which should be 24 to 64 bytes from a CSPRNG.
///
/// Other sizes are a caller bug: debug builds assert, release builds encode what they
/// were given (and [`validate_secret`] would then refuse the result).
pub fn generate_symmetric_secret(random: &[u8]) -> String {
    debug_assert!(
        HMAC_KEY_LEN.contains(&random.len()),
        "a whsec_ secret needs 24 to 64 random bytes, got {}",
        random.len()
    );
    format!("{HMAC_PREFIX}{}", STANDARD.encode(random))
}

/// A new `whsk_` ed25519 secret from a 32-byte seed: `whsk_` and the base64 of the
/// 64-byte keypair (seed, then public key).
pub fn generate_ed25519_secret(seed: [u8; 32]) -> String {
    let signing_key = ed25519_dalek::SigningKey::from_bytes(&seed);
    format!(
        "{ED25519_SECRET_PREFIX}{}",
        STANDARD.encode(signing_key.to_keypair_bytes())
    )
}

/// The `whpk_` public key that verifies the `v1a` signatures of an ed25519 secret.
///
/// A receiver configured with the public key can verify but never sign.
///
/// # Errors
///
/// `secret` is not a valid `whsk_` secret (or `whpk_` public key, which is returned
/// normalised).
pub fn ed25519_public_key(secret: &str) -> Result<String, SecretError> {
    match parse_verifying_key(secret)? {
        VerifyingKey::Ed25519(key) => Ok(format!(
            "{ED25519_PUBLIC_PREFIX}{}",
            STANDARD.encode(key.as_bytes())
        )),
        VerifyingKey::Hmac(_) => Err(SecretError::UnknownPrefix),
    }
}

/// Checks a user-supplied secret for `scheme`.
///
/// Standard and Svix need `whsec_` with 24 to 64 bytes of base64, or a valid `whsk_`
/// ed25519 key. The other schemes use the string itself as the HMAC key, so any
/// non-empty string will do.
///
/// # Errors
///
/// Says what is wrong with the secret.
pub fn validate_secret(scheme: SignatureScheme, secret: &str) -> Result<(), SecretError> {
    if secret.is_empty() {
        return Err(SecretError::Empty);
    }
    if !scheme.takes_webhook_secret() {
        return Ok(());
    }
    if let Some(encoded) = secret.strip_prefix(HMAC_PREFIX) {
        let key = decode_base64(encoded)?;
        if !HMAC_KEY_LEN.contains(&key.len()) {
            return Err(SecretError::BadLength(key.len()));
        }
        Ok(())
    } else if secret.starts_with(ED25519_SECRET_PREFIX) {
        parse_signing_key(secret).map(drop)
    } else {
        Err(SecretError::UnknownPrefix)
    }
}

/// Checks a secret that will only verify Standard Webhooks (or Svix) signatures, as an
/// inbound source's is: what [`validate_secret`] takes for [`SignatureScheme::Standard`],
/// or a `whpk_` ed25519 public key, which verifies `v1a` signatures but cannot sign.
///
/// # Errors
///
/// Says what is wrong with the secret.
pub fn validate_verifying_secret(secret: &str) -> Result<(), SecretError> {
    if secret.starts_with(ED25519_PUBLIC_PREFIX) {
        parse_verifying_key(secret).map(drop)
    } else {
        validate_secret(SignatureScheme::Standard, secret)
    }
}

/// The headers that sign `body` for one delivery, names in lowercase.
///
/// `secrets` lists the current secret first, then any still-valid retired ones. Standard
/// and Svix sign with each of them (space-separated, in order) and Stripe adds one `v1=`
/// per secret; the hex-HMAC and GitHub schemes sign with the first only. Those three
/// schemes also carry `webhook-id` and `webhook-timestamp` so receivers can deduplicate.
///
/// # Errors
///
/// `secrets` is empty, or one of them cannot sign under `scheme`.
pub fn sign(
    scheme: SignatureScheme,
    signature_header: Option<&str>,
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(String, String)>, SecretError> {
    let Some(&current_secret) = secrets.first() else {
        return Err(SecretError::Empty);
    };
    let headers = match scheme {
        SignatureScheme::Standard | SignatureScheme::Svix => {
            let names = StandardHeaders::of(scheme);
            let content = standard_content(msg_id, timestamp, body);
            let signatures = secrets
                .iter()
                .map(|secret| Ok(parse_signing_key(secret)?.sign(&content)))
                .collect::<Result<Vec<_>, SecretError>>()?;
            vec![
                (names.id.to_owned(), msg_id.to_owned()),
                (names.timestamp.to_owned(), timestamp.to_string()),
                (names.signature.to_owned(), signatures.join(" ")),
            ]
        }
        SignatureScheme::HmacSha256Hex => {
            let signature = hex::encode(hmac_sha256(raw_key(current_secret)?, body));
            with_dedup_headers(
                hmac_header_name(signature_header),
                signature,
                msg_id,
                timestamp,
            )
        }
        SignatureScheme::Stripe => {
            let content = stripe_content(timestamp, body);
            let mut value = format!("t={timestamp}");
            for secret in secrets {
                value.push_str(",v1=");
                value.push_str(&hex::encode(hmac_sha256(raw_key(secret)?, &content)));
            }
            with_dedup_headers(STRIPE_HEADER.to_owned(), value, msg_id, timestamp)
        }
        SignatureScheme::Github => {
            let signature = hex::encode(hmac_sha256(raw_key(current_secret)?, body));
            let value = format!("sha256={signature}");
            with_dedup_headers(GITHUB_HEADER.to_owned(), value, msg_id, timestamp)
        }
    };
    Ok(headers)
}

/// Verifies a Standard Webhooks (or `svix-*`) signed request.
///
/// `header` looks a header up by its lowercase name. The `webhook-*` headers are read
/// first, then the `svix-*` ones. The timestamp must be within `tolerance_secs` of `now`
/// (Unix seconds) either way, and then any `v1,` or `v1a,` signature in the
/// space-separated list that matches any of `secrets` passes. A secret may be `whsec_`
/// (checks `v1`), `whsk_` or a `whpk_` public key (both check `v1a`).
///
/// # Errors
///
/// The first problem found, in the order: missing headers, bad timestamp, unusable
/// secret, no matching signature.
pub fn verify(
    secrets: &[&str],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let standard = StandardHeaders::of(SignatureScheme::Standard);
    let svix = StandardHeaders::of(SignatureScheme::Svix);
    let msg_id = header_with_fallback(header, standard.id, svix.id)?;
    let timestamp = header_with_fallback(header, standard.timestamp, svix.timestamp)?;
    let signatures = header_with_fallback(header, standard.signature, svix.signature)?;

    let timestamp = parse_timestamp(&timestamp)?;
    check_tolerance(timestamp, now, tolerance_secs)?;

    if secrets.is_empty() {
        return Err(SecretError::Empty.into());
    }
    let keys = secrets
        .iter()
        .map(|secret| parse_verifying_key(secret))
        .collect::<Result<Vec<_>, SecretError>>()?;

    let content = standard_content(&msg_id, timestamp, body);
    let matches = signatures
        .split_ascii_whitespace()
        .filter_map(|versioned| versioned.split_once(','))
        .any(|(version, signature)| {
            keys.iter()
                .any(|key| key.verifies(version, signature, &content))
        });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::InvalidSignature)
    }
}

/// Verifies a request signed under `scheme`, trying each of `secrets`.
///
/// Standard and Svix defer to [`verify`]. The other schemes read their own header
/// (`signature_header` or [`DEFAULT_HMAC_HEADER`] for the hex scheme); only Stripe's
/// carries a timestamp, which must be within `tolerance_secs` of `now`.
///
/// # Errors
///
/// As [`verify`], and [`VerifyError::MissingHeader`] naming the scheme's header.
pub fn verify_scheme(
    scheme: SignatureScheme,
    signature_header: Option<&str>,
    secrets: &[&str],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    match scheme {
        SignatureScheme::Standard | SignatureScheme::Svix => {
            verify(secrets, header, body, now, tolerance_secs)
        }
        SignatureScheme::HmacSha256Hex => {
            let name = hmac_header_name(signature_header);
            let missing = if name == DEFAULT_HMAC_HEADER {
                DEFAULT_HMAC_HEADER
            } else {
                "configured signature header"
            };
            let value = header(&name).ok_or(VerifyError::MissingHeader(missing))?;
            any_secret(secrets, |secret| {
                verify_hmac_sha256_hex(secret, body, &value)
            })
        }
        SignatureScheme::Stripe => {
            let value = header(STRIPE_HEADER).ok_or(VerifyError::MissingHeader(STRIPE_HEADER))?;
            any_secret(secrets, |secret| {
                verify_stripe(secret, body, &value, now, tolerance_secs)
            })
        }
        SignatureScheme::Github => {
            let value = header(GITHUB_HEADER).ok_or(VerifyError::MissingHeader(GITHUB_HEADER))?;
            any_secret(secrets, |secret| verify_github(secret, body, &value))
        }
    }
}

/// Verifies a [`SignatureScheme::HmacSha256Hex`] header value: the hex HMAC-SHA256 of
/// `body` keyed with `secret`'s UTF-8 bytes (either letter case accepted).
///
/// # Errors
///
/// [`SecretError::Empty`] for an empty secret, else [`VerifyError::InvalidSignature`].
pub fn verify_hmac_sha256_hex(
    secret: &str,
    body: &[u8],
    header_value: &str,
) -> Result<(), VerifyError> {
    let expected = hmac_sha256(raw_key(secret)?, body);
    if hex_matches(header_value.trim(), &expected) {
        Ok(())
    } else {
        Err(VerifyError::InvalidSignature)
    }
}

/// Verifies a `Stripe-Signature` header value (`t=<ts>,v1=<hex>[,v1=<hex>…]`): its
/// timestamp must be within `tolerance_secs` of `now`, and any `v1` must be the hex
/// HMAC-SHA256 of `"{t}.{body}"` keyed with `secret`'s UTF-8 bytes.
///
/// # Errors
///
/// [`VerifyError::InvalidTimestamp`] when `t=` is missing or not an integer, the
/// tolerance errors, [`SecretError::Empty`], or [`VerifyError::InvalidSignature`].
pub fn verify_stripe(
    secret: &str,
    body: &[u8],
    header_value: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let key = raw_key(secret)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for (name, value) in header_value
        .split(',')
        .filter_map(|item| item.split_once('='))
    {
        match name.trim() {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "v1" => signatures.push(value.trim()),
            _ => {}
        }
    }
    let timestamp = parse_timestamp(timestamp.ok_or(VerifyError::InvalidTimestamp)?)?;
    check_tolerance(timestamp, now, tolerance_secs)?;

    let expected = hmac_sha256(key, &stripe_content(timestamp, body));
    if signatures
        .iter()
        .any(|signature| hex_matches(signature, &expected))
    {
        Ok(())
    } else {
        Err(VerifyError::InvalidSignature)
    }
}

/// Verifies an `X-Hub-Signature-256` header value: `sha256=` and the hex HMAC-SHA256 of
/// `body` keyed with `secret`'s UTF-8 bytes.
///
/// # Errors
///
/// [`SecretError::Empty`] for an empty secret, else [`VerifyError::InvalidSignature`].
pub fn verify_github(secret: &str, body: &[u8], header_value: &str) -> Result<(), VerifyError> {
    let expected = hmac_sha256(raw_key(secret)?, body);
    match header_value.trim().strip_prefix("sha256=") {
        Some(signature) if hex_matches(signature, &expected) => Ok(()),
        _ => Err(VerifyError::InvalidSignature),
    }
}

const HMAC_PREFIX: &str = "whsec_";
const ED25519_SECRET_PREFIX: &str = "whsk_";
const ED25519_PUBLIC_PREFIX: &str = "whpk_";
const HMAC_KEY_LEN: std::ops::RangeInclusive<usize> = 24..=64;

/// Standard base64 that accepts secrets with or without their `=` padding, since both
/// forms circulate in the wild.
const BASE64_SECRET: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The three header names of a Standard Webhooks style scheme.
struct StandardHeaders {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

impl StandardHeaders {
    fn of(scheme: SignatureScheme) -> Self {
        if scheme == SignatureScheme::Svix {
            Self {
                id: "svix-id",
                timestamp: "svix-timestamp",
                signature: "svix-signature",
            }
        } else {
            Self {
                id: "webhook-id",
                timestamp: "webhook-timestamp",
                signature: "webhook-signature",
            }
        }
    }
}

/// A Standard Webhooks secret, ready to sign.
enum SigningKey {
    Hmac(Vec<u8>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl SigningKey {
    /// The versioned signature (`v1,…` or `v1a,…`) of `content`.
    fn sign(&self, content: &[u8]) -> String {
        match self {
            Self::Hmac(key) => format!("v1,{}", STANDARD.encode(hmac_sha256(key, content))),
            Self::Ed25519(key) => {
                format!("v1a,{}", STANDARD.encode(key.sign(content).to_bytes()))
            }
        }
    }
}

/// A Standard Webhooks secret or public key, ready to verify.
enum VerifyingKey {
    Hmac(Vec<u8>),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl VerifyingKey {
    /// Whether `signature` (base64, of the given `version`) signs `content` under this key.
    fn verifies(&self, version: &str, signature: &str, content: &[u8]) -> bool {
        let Ok(signature) = STANDARD.decode(signature) else {
            return false;
        };
        match (self, version) {
            (Self::Hmac(key), "v1") => hmac_sha256(key, content).ct_eq(&signature[..]).into(),
            (Self::Ed25519(key), "v1a") => ed25519_dalek::Signature::from_slice(&signature)
                .is_ok_and(|signature| key.verify_strict(content, &signature).is_ok()),
            _ => false,
        }
    }
}

fn parse_signing_key(secret: &str) -> Result<SigningKey, SecretError> {
    if secret.is_empty() {
        return Err(SecretError::Empty);
    }
    if let Some(encoded) = secret.strip_prefix(ED25519_SECRET_PREFIX) {
        let bytes = decode_base64(encoded)?;
        let key = match bytes.len() {
            32 => {
                let seed: [u8; 32] = bytes[..]
                    .try_into()
                    .map_err(|_| SecretError::BadEd25519Key)?;
                ed25519_dalek::SigningKey::from_bytes(&seed)
            }
            64 => {
                let keypair: [u8; 64] = bytes[..]
                    .try_into()
                    .map_err(|_| SecretError::BadEd25519Key)?;
                // N.B.: this refuses a keypair whose public half was not derived from
                // its seed, which would otherwise sign with one key and publish another.
                ed25519_dalek::SigningKey::from_keypair_bytes(&keypair)
                    .map_err(|_| SecretError::BadEd25519Key)?
            }
            _ => return Err(SecretError::BadEd25519Key),
        };
        return Ok(SigningKey::Ed25519(Box::new(key)));
    }
    if secret.starts_with(ED25519_PUBLIC_PREFIX) {
        // A public key verifies but cannot sign.
        return Err(SecretError::UnknownPrefix);
    }
    parse_hmac_key(secret).map(SigningKey::Hmac)
}

fn parse_verifying_key(secret: &str) -> Result<VerifyingKey, SecretError> {
    if let Some(encoded) = secret.strip_prefix(ED25519_PUBLIC_PREFIX) {
        let bytes: [u8; 32] = decode_base64(encoded)?[..]
            .try_into()
            .map_err(|_| SecretError::BadEd25519PublicKey)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| SecretError::BadEd25519PublicKey)?;
        return Ok(VerifyingKey::Ed25519(key));
    }
    Ok(match parse_signing_key(secret)? {
        SigningKey::Hmac(key) => VerifyingKey::Hmac(key),
        SigningKey::Ed25519(key) => VerifyingKey::Ed25519(key.verifying_key()),
    })
}

/// The HMAC key of a `whsec_` secret, or of a bare base64 secret as the official
/// Standard Webhooks libraries accept it.
fn parse_hmac_key(secret: &str) -> Result<Vec<u8>, SecretError> {
    let key = match secret.strip_prefix(HMAC_PREFIX) {
        Some(encoded) => decode_base64(encoded)?,
        // Without a prefix the secret is only usable if it is base64; if it is not,
        // the missing prefix is the more helpful complaint.
        None => decode_base64(secret).map_err(|_| SecretError::UnknownPrefix)?,
    };
    if key.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(key)
}

fn decode_base64(encoded: &str) -> Result<Vec<u8>, SecretError> {
    BASE64_SECRET
        .decode(encoded)
        .map_err(|_| SecretError::NotBase64)
}

/// The key of the hex, Stripe and GitHub schemes: the secret's own bytes.
fn raw_key(secret: &str) -> Result<&[u8], SecretError> {
    if secret.is_empty() {
        Err(SecretError::Empty)
    } else {
        Ok(secret.as_bytes())
    }
}

/// What Standard Webhooks signs: `{msg_id}.{timestamp}.{body}`.
fn standard_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{msg_id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// What Stripe signs: `{timestamp}.{body}`.
fn stripe_content(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Whether hex `signature` decodes to `expected`, compared in constant time.
fn hex_matches(signature: &str, expected: &[u8; 32]) -> bool {
    hex::decode(signature).is_ok_and(|signature| expected.ct_eq(&signature[..]).into())
}

fn hmac_header_name(signature_header: Option<&str>) -> String {
    match signature_header.map(str::trim) {
        Some(name) if !name.is_empty() => name.to_ascii_lowercase(),
        _ => DEFAULT_HMAC_HEADER.to_owned(),
    }
}

/// `signature` under `name`, then the ids receivers deduplicate by.
fn with_dedup_headers(
    name: String,
    signature: String,
    msg_id: &str,
    timestamp: i64,
) -> Vec<(String, String)> {
    vec![
        (name, signature),
        ("webhook-id".to_owned(), msg_id.to_owned()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
    ]
}

fn header_with_fallback(
    header: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    fallback: &str,
) -> Result<String, VerifyError> {
    header(name)
        .or_else(|| header(fallback))
        .ok_or(VerifyError::MissingHeader(name))
}

fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    text.trim()
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)
}

fn check_tolerance(timestamp: i64, now: i64, tolerance_secs: i64) -> Result<(), VerifyError> {
    // i128 because a hostile timestamp near i64::MIN or MAX must not overflow.
    let age = i128::from(now) - i128::from(timestamp);
    let tolerance = i128::from(tolerance_secs.max(0));
    if age > tolerance {
        Err(VerifyError::TimestampTooOld)
    } else if -age > tolerance {
        Err(VerifyError::TimestampTooNew)
    } else {
        Ok(())
    }
}

/// Passes if `verify_one` accepts any secret. A mismatch moves on to the next secret;
/// any other error (a stale timestamp, an empty secret) is final.
fn any_secret(
    secrets: &[&str],
    verify_one: impl Fn(&str) -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Err(SecretError::Empty.into());
    }
    for secret in secrets {
        match verify_one(secret) {
            Ok(()) => return Ok(()),
            Err(VerifyError::InvalidSignature) => {}
            Err(error) => return Err(error),
        }
    }
    Err(VerifyError::InvalidSignature)
}

#[cfg(test)]
mod tests;
