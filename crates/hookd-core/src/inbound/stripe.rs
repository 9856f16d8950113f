//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each `v1` the hex
//! HMAC-SHA256 of `"{t}.{body}"` keyed by the endpoint secret exactly as shown
//! (`whsec_…`, used as UTF-8, not decoded). Several `v1` appear while Stripe rolls a
//! secret; one match is enough. `v0` (test-mode legacy) entries are ignored. The event id
//! and type are the body's `id` and `type`.

use super::common::TimestampedHeader;
use super::json_field::body_text;
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The header Stripe signs with (lowercase).
pub const HEADER: &str = "stripe-signature";

const FORMAT: TimestampedHeader = TimestampedHeader {
    header: HEADER,
    item_separator: ',',
    timestamp_key: "t",
    signature_key: "v1",
    signed_separator: ".",
};

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    FORMAT.verify(config, request, now_unix_secs)
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    body_text(request, &["id"])
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    body_text(request, &["type"])
}

/// The headers Stripe would send for `body` signed with `secret` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    FORMAT.sign(secret, timestamp, body)
}
