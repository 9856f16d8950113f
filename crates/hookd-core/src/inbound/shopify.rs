//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, keyed by the app's
//! client secret as UTF-8. The event id is `X-Shopify-Webhook-Id` (the same on every retry
//! of one delivery); the type is `X-Shopify-Topic` with `/` as `.` (`orders.create`).

use super::common::{
    ct_eq, event_type_name, first_matching_secret, from_base64, hmac_sha256, malformed,
    required_header, to_base64,
};
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The header Shopify signs with (lowercase).
pub const HEADER: &str = "x-shopify-hmac-sha256";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Result<Verified, InboundError> {
    let value = required_header(request, HEADER)?;
    let signature =
        from_base64(value).ok_or_else(|| malformed(HEADER, "the signature is not base64"))?;
    first_matching_secret(config, |secret| {
        ct_eq(&hmac_sha256(secret.as_bytes(), &[request.body]), &signature)
    })
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    request.header("x-shopify-webhook-id").map(str::to_owned)
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    event_type_name(request.header("x-shopify-topic")?)
}

/// The signature header Shopify would send for `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![(
        HEADER.to_owned(),
        to_base64(&hmac_sha256(secret.as_bytes(), &[body])),
    )]
}
