//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` keyed by the app's
//! signing secret as UTF-8, with `X-Slack-Request-Timestamp: {ts}` (Unix seconds, refused
//! outside the tolerance, 5 minutes by default, as Slack advises). The Events API's
//! `url_verification` request is answered with its `challenge` once its signature checks.
//! The event id is the body's `event_id`; the type is `event.type` (Events API), else the
//! body's `type`, else `slash_command` or the interactive payload's `type` for form posts.

use super::common::{
    check_timestamp, ct_eq, event_type_name, first_matching_secret, form_fields, from_hex,
    hmac_sha256, json_body, json_text, malformed, parse_unix_secs, required_header, to_hex,
};
use super::json_field::body_text;
use super::{HandshakeReply, InboundError, InboundRequest, Verified, VerifierConfig};

/// The signature header (lowercase).
pub const HEADER: &str = "x-slack-signature";
/// The timestamp header (lowercase).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    let timestamp = required_header(request, TIMESTAMP_HEADER)?.trim();
    let sent_at = parse_unix_secs(TIMESTAMP_HEADER, timestamp)?;
    let value = required_header(request, HEADER)?;
    let hex = value
        .trim()
        .strip_prefix("v0=")
        .ok_or_else(|| malformed(HEADER, "expected v0=<hex>"))?;
    let signature = from_hex(hex).ok_or_else(|| malformed(HEADER, "the signature is not hex"))?;
    let verified = first_matching_secret(config, |secret| {
        let expected = hmac_sha256(
            secret.as_bytes(),
            &[b"v0:", timestamp.as_bytes(), b":", request.body],
        );
        ct_eq(&expected, &signature)
    })?;
    check_timestamp(sent_at, now_unix_secs, config.tolerance_secs)?;
    Ok(verified)
}

pub(super) fn handshake(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Option<HandshakeReply> {
    let body = json_body(request)?;
    if body.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    let challenge = body.get("challenge")?.as_str()?;
    super::verify_ignoring_age(config, request, verify)?;
    Some(HandshakeReply {
        status: 200,
        content_type: "text/plain",
        body: challenge.as_bytes().to_vec(),
    })
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    body_text(request, &["event_id"])
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    if let Some(body) = json_body(request) {
        let name = json_text(&body, &["event", "type"]).or_else(|| json_text(&body, &["type"]))?;
        return event_type_name(&name);
    }
    let fields = form_fields(request.body);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if field("command").is_some() {
        return Some("slash_command".to_owned());
    }
    let payload: serde_json::Value = serde_json::from_str(field("payload")?).ok()?;
    event_type_name(&json_text(&payload, &["type"])?)
}

/// The headers Slack would send for `body` signed with `secret` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    let timestamp = timestamp.to_string();
    let signature = hmac_sha256(
        secret.as_bytes(),
        &[b"v0:", timestamp.as_bytes(), b":", body],
    );
    vec![
        (TIMESTAMP_HEADER.to_owned(), timestamp),
        (HEADER.to_owned(), format!("v0={}", to_hex(&signature))),
    ]
}
