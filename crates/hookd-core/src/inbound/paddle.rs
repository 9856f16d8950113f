//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`, each `h1` the hex
//! HMAC-SHA256 of `"{ts}:{body}"` keyed by the notification destination's secret key
//! (`pdl_ntfset_…`, used as UTF-8). Several `h1` appear during a secret rotation. The
//! event id and type are the body's `event_id` and `event_type`.

use super::common::{
    check_timestamp, ct_eq, event_type_name, first_matching_secret, from_hex, hmac_sha256,
    json_body, json_text, malformed, parse_unix_secs, required_header, to_hex,
};
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The header Paddle signs with (lowercase).
pub const HEADER: &str = "paddle-signature";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    let header = required_header(request, HEADER)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(';') {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        match key.trim() {
            "ts" => timestamp = Some(value.trim()),
            "h1" => signatures.push(from_hex(value)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| malformed(HEADER, "no ts= timestamp"))?;
    let sent_at = parse_unix_secs(HEADER, timestamp)?;
    if signatures.is_empty() {
        return Err(malformed(HEADER, "no h1= signature"));
    }
    let verified = first_matching_secret(config, |secret| {
        let expected = hmac_sha256(
            secret.as_bytes(),
            &[timestamp.as_bytes(), b":", request.body],
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
    json_text(&json_body(request)?, &["event_id"])
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    event_type_name(&json_text(&json_body(request)?, &["event_type"])?)
}

/// The header Paddle would send for `body` signed with `secret` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    let timestamp = timestamp.to_string();
    let signature = hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b":", body]);
    vec![(
        HEADER.to_owned(),
        format!("ts={timestamp};h1={}", to_hex(&signature)),
    )]
}
