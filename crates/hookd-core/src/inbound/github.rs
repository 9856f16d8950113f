//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, keyed by the
//! webhook secret as UTF-8. The legacy SHA-1 `X-Hub-Signature` is not accepted. The
//! event id is `X-GitHub-Delivery` (kept on redelivery); the type is `X-GitHub-Event`,
//! followed by `.` and the body's `action` when it has one (`pull_request.opened`).

use super::common::{
    ct_eq, event_type_name, first_matching_secret, from_hex, hmac_sha256, json_body, json_text,
    malformed, required_header, to_hex,
};
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The header GitHub signs with (lowercase).
pub const HEADER: &str = "x-hub-signature-256";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Result<Verified, InboundError> {
    verify_sha256_prefixed(config, request, HEADER)
}

/// `sha256=<hex>` of the body in `header`: GitHub's rule, which Meta shares.
pub(super) fn verify_sha256_prefixed(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    header: &str,
) -> Result<Verified, InboundError> {
    let value = required_header(request, header)?;
    let hex = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| malformed(header, "expected sha256=<hex>"))?;
    let signature = from_hex(hex).ok_or_else(|| malformed(header, "the signature is not hex"))?;
    first_matching_secret(config, |secret| {
        ct_eq(&hmac_sha256(secret.as_bytes(), &[request.body]), &signature)
    })
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    request.header("x-github-delivery").map(str::to_owned)
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    let event = request.header("x-github-event")?;
    let name = match json_body(request).and_then(|body| json_text(&body, &["action"])) {
        Some(action) => format!("{event}.{action}"),
        None => event.to_owned(),
    };
    event_type_name(&name)
}

/// The signature header GitHub would send for `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![(
        HEADER.to_owned(),
        format!(
            "sha256={}",
            to_hex(&hmac_sha256(secret.as_bytes(), &[body]))
        ),
    )]
}
