//! Discord (interactions and webhook events): `X-Signature-Ed25519: <hex signature>` over
//! `X-Signature-Timestamp` followed by the body, checked with the application's public
//! key (the source's secret is that key, 64 hex characters). Discord probes endpoints with
//! bad signatures and expects them refused (401). An interaction `PING` (type 1, with a
//! `token`) is answered `{"type":1}`; a webhook-event `PING` (type 0) is answered 204.
//!
//! The event id is an interaction's `id`; webhook events carry none. The type is a webhook
//! event's `event.type` (`APPLICATION_AUTHORIZED`), or `interaction.<kind>` for an
//! interaction (`interaction.application_command`).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::common::{
    check_timestamp, event_type_name, first_matching_secret, from_hex, json_body, json_text,
    malformed, parse_unix_secs, required_header, to_hex,
};
use super::{HandshakeReply, InboundError, InboundRequest, Verified, VerifierConfig};

/// The signature header (lowercase).
pub const HEADER: &str = "x-signature-ed25519";
/// The timestamp header (lowercase).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    let keys = config
        .secrets
        .iter()
        .enumerate()
        .map(|(index, secret)| public_key(secret, index))
        .collect::<Result<Vec<_>, _>>()?;
    let timestamp = required_header(request, TIMESTAMP_HEADER)?.trim();
    let sent_at = parse_unix_secs(TIMESTAMP_HEADER, timestamp)?;
    let value = required_header(request, HEADER)?;
    let signature = from_hex(value)
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or_else(|| malformed(HEADER, "expected 128 hex characters"))?;
    let mut message = Vec::with_capacity(timestamp.len() + request.body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(request.body);
    let mut index = 0;
    let verified = first_matching_secret(config, |_| {
        let key = &keys[index];
        index += 1;
        key.verify_strict(&message, &signature).is_ok()
    })?;
    check_timestamp(sent_at, now_unix_secs, config.tolerance_secs)?;
    Ok(verified)
}

pub(super) fn handshake(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Option<HandshakeReply> {
    let body = json_body(request)?;
    let kind = body.get("type")?.as_u64()?;
    let interaction = body.get("token").is_some();
    let reply = match (interaction, kind) {
        (true, 1) => HandshakeReply {
            status: 200,
            content_type: "application/json",
            body: br#"{"type":1}"#.to_vec(),
        },
        (false, 0) => HandshakeReply {
            status: 204,
            content_type: "text/plain",
            body: Vec::new(),
        },
        _ => return None,
    };
    super::verify_ignoring_age(config, request, verify)?;
    Some(reply)
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    let body = json_body(request)?;
    body.get("token")?;
    json_text(&body, &["id"])
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    let body = json_body(request)?;
    if body.get("token").is_none() {
        return event_type_name(&json_text(&body, &["event", "type"])?);
    }
    let kind = match body.get("type")?.as_u64()? {
        1 => "ping",
        2 => "application_command",
        3 => "message_component",
        4 => "application_command_autocomplete",
        5 => "modal_submit",
        _ => "unknown",
    };
    Some(format!("interaction.{kind}"))
}

/// The headers Discord would send for `body` signed by `signing_key` at `timestamp`.
pub fn sign(signing_key: &SigningKey, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    let timestamp = timestamp.to_string();
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    let signature = signing_key.sign(&message);
    vec![
        (HEADER.to_owned(), to_hex(&signature.to_bytes())),
        (TIMESTAMP_HEADER.to_owned(), timestamp),
    ]
}

/// Whether `secret` is an ed25519 public key as Discord shows it: 64 hex characters
/// (surrounding whitespace aside) that decode to a point of the curve, which about half
/// of all 32-byte strings do not.
pub fn is_public_key(secret: &str) -> bool {
    parse_public_key(secret).is_some()
}

fn parse_public_key(secret: &str) -> Option<VerifyingKey> {
    from_hex(secret)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
}

fn public_key(secret: &str, index: usize) -> Result<VerifyingKey, InboundError> {
    parse_public_key(secret).ok_or_else(|| {
        InboundError::BadConfig(format!(
            "secret {index} is not an ed25519 public key (64 hex characters)"
        ))
    })
}
