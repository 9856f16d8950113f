//! Square: `x-square-hmacsha256-signature: <base64 HMAC-SHA256 of url + body>`, keyed by
//! the subscription's signature key, where `url` is the notification URL exactly as
//! configured in Square (so behind a proxy hookd needs its public base URL). The event id
//! and type are the body's `event_id` and `type` (`payment.updated`).

use super::common::{
    ct_eq, event_type_name, first_matching_secret, from_base64, hmac_sha256, malformed,
    required_header, to_base64,
};
use super::json_field::body_text;
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The header Square signs with (lowercase).
pub const HEADER: &str = "x-square-hmacsha256-signature";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Result<Verified, InboundError> {
    let value = required_header(request, HEADER)?;
    let signature =
        from_base64(value).ok_or_else(|| malformed(HEADER, "the signature is not base64"))?;
    first_matching_secret(config, |secret| {
        let expected = hmac_sha256(secret.as_bytes(), &[request.url.as_bytes(), request.body]);
        ct_eq(&expected, &signature)
    })
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    body_text(request, &["event_id"])
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    event_type_name(&body_text(request, &["type"])?)
}

/// The header Square would send for `body` posted to `url` under `signature_key`.
pub fn sign(signature_key: &str, url: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![(
        HEADER.to_owned(),
        to_base64(&hmac_sha256(
            signature_key.as_bytes(),
            &[url.as_bytes(), body],
        )),
    )]
}
