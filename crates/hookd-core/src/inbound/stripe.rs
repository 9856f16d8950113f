//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each `v1` the hex
//! HMAC-SHA256 of `"{t}.{body}"` keyed by the endpoint secret exactly as shown
//! (`whsec_…`, used as UTF-8, not decoded). Several `v1` appear while Stripe rolls a
//! secret; one match is enough. `v0` (test-mode legacy) entries are ignored. The event id
//! and type are the body's `id` and `type`.

use super::common::{
    check_timestamp, ct_eq, first_matching_secret, from_hex, hmac_sha256, json_body, json_text,
    malformed, parse_unix_secs, required_header, to_hex,
};
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The header Stripe signs with (lowercase).
pub const HEADER: &str = "stripe-signature";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    let header = required_header(request, HEADER)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        match key.trim() {
            "t" => timestamp = Some(value.trim()),
            "v1" => signatures.push(from_hex(value)),
            _ => {}
        }
    }
    // The timestamp is signed as it appears in the header.
    let timestamp = timestamp.ok_or_else(|| malformed(HEADER, "no t= timestamp"))?;
    let sent_at = parse_unix_secs(HEADER, timestamp)?;
    if signatures.is_empty() {
        return Err(malformed(HEADER, "no v1= signature"));
    }
    let verified = first_matching_secret(config, |secret| {
        let expected = hmac_sha256(
            secret.as_bytes(),
            &[timestamp.as_bytes(), b".", request.body],
        );
        signatures
            .iter()
            .flatten()
            .any(|signature| ct_eq(&expected, signature))
    })?;
    check_timestamp(sent_at, now_unix_secs, config.tolerance_secs)?;
    Ok(verified)
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    json_text(&json_body(request)?, &["id"])
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    json_text(&json_body(request)?, &["type"])
}

/// The headers Stripe would send for `body` signed with `secret` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    let timestamp = timestamp.to_string();
    let signature = hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b".", body]);
    vec![(
        HEADER.to_owned(),
        format!("t={timestamp},v1={}", to_hex(&signature)),
    )]
}
