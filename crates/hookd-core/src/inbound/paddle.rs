//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`, each `h1` the hex
//! HMAC-SHA256 of `"{ts}:{body}"` keyed by the notification destination's secret key
//! (`pdl_ntfset_…`, used as UTF-8). Several `h1` appear during a secret rotation. The
//! event id and type are the body's `event_id` and `event_type`.

use super::common::{event_type_name, TimestampedHeader};
use super::json_field::body_text;
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The header Paddle signs with (lowercase).
pub const HEADER: &str = "paddle-signature";

const FORMAT: TimestampedHeader = TimestampedHeader {
    header: HEADER,
    item_separator: ';',
    timestamp_key: "ts",
    signature_key: "h1",
    signed_separator: ":",
};

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    FORMAT.verify(config, request, now_unix_secs)
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    body_text(request, &["event_id"])
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    event_type_name(&body_text(request, &["event_type"])?)
}

/// The header Paddle would send for `body` signed with `secret` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    FORMAT.sign(secret, timestamp, body)
}
