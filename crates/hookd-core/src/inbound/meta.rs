//! Meta (WhatsApp Cloud API, Messenger, Instagram, Graph API webhooks):
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` keyed by the app secret,
//! the same rule as GitHub. Subscribing a callback URL is a GET with
//! `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`, answered with the challenge
//! when the token equals [`VerifierConfig::verify_token`] (403 otherwise, and always 403
//! when the source has no verify token).
//!
//! Meta sends no event id. For WhatsApp the first message's `id` is used (or a status's
//! `id:status`, since one message goes through sent, delivered and read); otherwise none.
//! The type is `{object}.{field}` from the first change (`whatsapp_business_account.messages`,
//! `page.feed`), or the `object` alone.

use super::common::{event_type_name, json_body, json_text, query_fields, token_eq};
use super::{HandshakeReply, InboundError, InboundRequest, Verified, VerifierConfig};

/// The header Meta signs with (lowercase).
pub const HEADER: &str = "x-hub-signature-256";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Result<Verified, InboundError> {
    super::github::verify_sha256_prefixed(config, request, HEADER)
}

pub(super) fn handshake(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Option<HandshakeReply> {
    if !request.method.eq_ignore_ascii_case("GET") {
        return None;
    }
    let query = query_fields(request.url);
    let field = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let mode = field("hub.mode")?;
    let refuse = |detail: &str| HandshakeReply {
        status: 403,
        content_type: "application/json",
        body: serde_json::json!({"code": "verify_token_mismatch", "detail": detail})
            .to_string()
            .into_bytes(),
    };
    if mode != "subscribe" {
        return Some(refuse("hub.mode is not subscribe"));
    }
    let Some(expected) = config
        .verify_token
        .as_deref()
        .filter(|token| !token.is_empty())
    else {
        return Some(refuse("the source has no verify token configured"));
    };
    let given = field("hub.verify_token").unwrap_or_default();
    if !token_eq(given, expected) {
        return Some(refuse(
            "hub.verify_token does not match the source's verify token",
        ));
    }
    Some(HandshakeReply {
        status: 200,
        content_type: "text/plain",
        body: field("hub.challenge")
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
    })
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    let body = json_body(request)?;
    let value = body
        .get("entry")?
        .get(0)?
        .get("changes")?
        .get(0)?
        .get("value")?;
    if let Some(id) = value
        .get("messages")
        .and_then(|messages| messages.get(0))
        .and_then(|message| json_text(message, &["id"]))
    {
        return Some(id);
    }
    let status = value.get("statuses")?.get(0)?;
    Some(format!(
        "{}:{}",
        json_text(status, &["id"])?,
        json_text(status, &["status"])?
    ))
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    let body = json_body(request)?;
    let object = json_text(&body, &["object"])?;
    let field = body
        .get("entry")
        .and_then(|entry| entry.get(0))
        .and_then(|entry| entry.get("changes"))
        .and_then(|changes| changes.get(0))
        .and_then(|change| json_text(change, &["field"]));
    match field {
        Some(field) => event_type_name(&format!("{object}.{field}")),
        None => event_type_name(&object),
    }
}

/// The signature header Meta would send for `body` under `app_secret`.
pub fn sign(app_secret: &str, body: &[u8]) -> Vec<(String, String)> {
    super::github::sign(app_secret, body)
}
