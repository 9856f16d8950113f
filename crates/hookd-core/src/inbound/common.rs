//! What every provider's rules share: HMAC over several parts, constant-time comparison,
//! header and timestamp checks, trying each secret of a rotation in turn, the
//! `t=…,v1=…`-style header of Stripe and Paddle ([`TimestampedHeader`]), reading fields
//! of a JSON or form body, and turning a provider's event name into a hookd event type.
//!
//! **Invariant:** comparisons of anything derived from a secret go through [`ct_eq`]
//! (or `Mac::verify_slice`), and no error built here carries a secret or a computed
//! signature.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The hash under an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
    Sha512,
}

/// HMAC of the concatenation of `parts` under `key`.
pub fn hmac(digest: Digest, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match digest {
        Digest::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Digest::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// HMAC-SHA256 of `parts` under `key`, the most common case.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    hmac(Digest::Sha256, key, parts)
}

/// Constant-time equality (the length is not secret: every signature of a scheme has
/// the same length).
pub fn ct_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && bool::from(left.ct_eq(right))
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Standard base64 (with padding) of `bytes`.
pub fn to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// `text` as hex (either case), if it is hex.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.trim()).ok()
}

/// `text` as base64 (standard, or URL-safe), if it is.
pub fn from_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .ok()
}

/// The header `name` (lowercase), or [`InboundError::MissingHeader`].
pub fn required_header<'a>(
    request: &InboundRequest<'a>,
    name: &str,
) -> Result<&'a str, InboundError> {
    request
        .headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| InboundError::MissingHeader(name.to_owned()))
}

/// A malformed-header error with a reason (never the header's value: it may be a
/// token).
pub fn malformed(header: &str, reason: &str) -> InboundError {
    InboundError::MalformedHeader {
        header: header.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A Unix time in seconds read from `header`'s value `text`.
pub fn parse_unix_secs(header: &str, text: &str) -> Result<i64, InboundError> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| malformed(header, "not a Unix time in seconds"))
}

/// Refuses a timestamp further than `tolerance_secs` from `now` (either way: a clock
/// ahead of ours is as suspicious as a replay).
pub fn check_timestamp(
    sent_at: i64,
    now_unix_secs: i64,
    tolerance_secs: i64,
) -> Result<(), InboundError> {
    let age_secs = now_unix_secs.saturating_sub(sent_at);
    if age_secs.saturating_abs() > tolerance_secs {
        return Err(InboundError::StaleTimestamp {
            age_secs,
            tolerance_secs,
        });
    }
    Ok(())
}

/// The index of the first secret for which `matches` holds, or
/// [`InboundError::SignatureMismatch`].
pub fn first_matching_secret(
    config: &VerifierConfig,
    mut matches: impl FnMut(&str) -> bool,
) -> Result<Verified, InboundError> {
    config
        .secrets
        .iter()
        .position(|secret| matches(secret))
        .map(|secret_index| Verified { secret_index })
        .ok_or(InboundError::SignatureMismatch {
            secrets: config.secrets.len(),
        })
}

/// The body as JSON, if it is JSON.
pub fn json_body(request: &InboundRequest<'_>) -> Option<serde_json::Value> {
    serde_json::from_slice(request.body).ok()
}

/// The string (or number, as text) at `path` in `value`.
pub fn json_text(value: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    match current {
        serde_json::Value::String(text) if !text.is_empty() => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The body's form fields (`application/x-www-form-urlencoded`), in order.
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The query parameters of `url`, in order.
pub fn query_fields(url: &str) -> Vec<(String, String)> {
    match url.split_once('?') {
        Some((_, query)) => {
            let query = query.split('#').next().unwrap_or_default();
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        }
        None => Vec::new(),
    }
}

/// Whether the request says its body is a form.
pub fn is_form(request: &InboundRequest<'_>) -> bool {
    request.header("content-type").is_some_and(|value| {
        value
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    })
}

/// A provider's event name as a hookd event type (`[A-Za-z0-9._-]`, at most 256
/// characters): `/` and `:` become `.`, spaces and anything else `_`, so
/// `orders/create` is `orders.create` and `Push Hook` is `push_hook` (lowercased only when
/// it had spaces, the mark of a display name).
pub fn event_type_name(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let display_name = raw.contains(' ');
    let name: String = raw
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            '/' | ':' => '.',
            _ => '_',
        })
        .take(256)
        .collect();
    Some(if display_name {
        name.to_ascii_lowercase()
    } else {
        name
    })
}

/// Whether a token a request carries equals a configured one, in time independent of
/// where they differ and of their lengths (both are hashed first).
pub fn token_eq(given: &str, expected: &str) -> bool {
    use sha2::Digest as _;
    let given = sha2::Sha256::digest(given.as_bytes());
    let expected = sha2::Sha256::digest(expected.as_bytes());
    bool::from(given.ct_eq(&expected))
}

/// The shape of a `t=…,v1=…`-style signature header (Stripe, Paddle): one header holding
/// a timestamp and one or more hex HMAC-SHA256 signatures of
/// `"{timestamp}{signed_separator}{body}"`, keyed by the secret as UTF-8.
#[derive(Debug, Clone, Copy)]
pub struct TimestampedHeader {
    /// The header's name (lowercase).
    pub header: &'static str,
    /// What separates the `key=value` items (`,` for Stripe, `;` for Paddle).
    pub item_separator: char,
    /// The key of the timestamp item (`t`, `ts`).
    pub timestamp_key: &'static str,
    /// The key of each signature item (`v1`, `h1`); other keys are ignored.
    pub signature_key: &'static str,
    /// What joins the timestamp and the body in the signed content (`.`, `:`).
    pub signed_separator: &'static str,
}

impl TimestampedHeader {
    /// Checks the request's header: any listed signature made with any secret, then the
    /// timestamp against the tolerance (so a stale error means the signature was right).
    /// The timestamp is signed exactly as it appears in the header.
    pub fn verify(
        &self,
        config: &VerifierConfig,
        request: &InboundRequest<'_>,
        now_unix_secs: i64,
    ) -> Result<Verified, InboundError> {
        let value = required_header(request, self.header)?;
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for item in value.split(self.item_separator) {
            let Some((key, value)) = item.split_once('=') else {
                continue;
            };
            let key = key.trim();
            if key == self.timestamp_key {
                timestamp = Some(value.trim());
            } else if key == self.signature_key {
                // A signature that is not hex cannot match, but it still counts as
                // present: the answer is a mismatch, not a malformed header.
                signatures.push(from_hex(value));
            }
        }
        let timestamp = timestamp.ok_or_else(|| {
            malformed(
                self.header,
                &format!("no {}= timestamp", self.timestamp_key),
            )
        })?;
        let sent_at = parse_unix_secs(self.header, timestamp)?;
        if signatures.is_empty() {
            return Err(malformed(
                self.header,
                &format!("no {}= signature", self.signature_key),
            ));
        }
        let verified = first_matching_secret(config, |secret| {
            let expected = self.mac(secret, timestamp, request.body);
            signatures
                .iter()
                .flatten()
                .any(|signature| ct_eq(&expected, signature))
        })?;
        check_timestamp(sent_at, now_unix_secs, config.tolerance_secs)?;
        Ok(verified)
    }

    /// The header the provider would send for `body` signed with `secret` at `timestamp`.
    pub fn sign(&self, secret: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
        let timestamp = timestamp.to_string();
        let signature = self.mac(secret, &timestamp, body);
        vec![(
            self.header.to_owned(),
            format!(
                "{}={timestamp}{}{}={}",
                self.timestamp_key,
                self.item_separator,
                self.signature_key,
                to_hex(&signature)
            ),
        )]
    }

    fn mac(&self, secret: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
        hmac_sha256(
            secret.as_bytes(),
            &[timestamp.as_bytes(), self.signed_separator.as_bytes(), body],
        )
    }
}
