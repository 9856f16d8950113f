//! Razorpay: `X-Razorpay-Signature: <hex HMAC-SHA256 of the body>`, keyed by the webhook
//! secret as UTF-8. The event id is `X-Razorpay-Event-Id`; the type is the body's `event`
//! (`payment.captured`).

use super::common::{
    ct_eq, event_type_name, first_matching_secret, from_hex, hmac_sha256, malformed,
    required_header, to_hex,
};
use super::json_field::body_text;
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The header Razorpay signs with (lowercase).
pub const HEADER: &str = "x-razorpay-signature";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Result<Verified, InboundError> {
    let value = required_header(request, HEADER)?;
    let signature = from_hex(value).ok_or_else(|| malformed(HEADER, "the signature is not hex"))?;
    first_matching_secret(config, |secret| {
        ct_eq(&hmac_sha256(secret.as_bytes(), &[request.body]), &signature)
    })
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    request.header("x-razorpay-event-id").map(str::to_owned)
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    event_type_name(&body_text(request, &["event"])?)
}

/// The signature header Razorpay would send for `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![(
        HEADER.to_owned(),
        to_hex(&hmac_sha256(secret.as_bytes(), &[body])),
    )]
}
