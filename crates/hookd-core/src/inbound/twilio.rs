//! Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1>` keyed by the account's auth token.
//! For a form post the signed string is the full URL Twilio called followed by every
//! form field as `name` + `value`, sorted by name (and by value within a name, duplicates
//! once). For a JSON post the URL carries `bodySHA256=<hex SHA-256 of the body>`; the URL
//! alone is signed and the body's hash must equal the parameter. Twilio is inconsistent
//! about explicit default ports, so the URL is tried as given, without its port and with
//! the default one, as its own libraries do. A request with
//! `X-Twilio-Webhooks-Signature-Settings: …,algorithm=HMAC_SHA256` is checked with
//! HMAC-SHA256 instead.
//!
//! The event id is `I-Twilio-Idempotency-Token` (the same on Twilio's retries). The type
//! comes from the status field of a status callback (`message.delivered`,
//! `call.completed`), else `message.received` for an incoming message (`MessageSid`),
//! `call.received` for an incoming call (`CallSid`), or a JSON body's `type`.

use sha2::Digest as _;

use super::common::{
    ct_eq, event_type_name, first_matching_secret, form_fields, from_base64, hmac, is_form,
    json_body, json_text, malformed, query_fields, required_header, to_base64, to_hex, Digest,
};
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The signature header (lowercase).
pub const HEADER: &str = "x-twilio-signature";
/// The header that names another algorithm than HMAC-SHA1 (lowercase).
pub const SETTINGS_HEADER: &str = "x-twilio-webhooks-signature-settings";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Result<Verified, InboundError> {
    let value = required_header(request, HEADER)?;
    let signature =
        from_base64(value).ok_or_else(|| malformed(HEADER, "the signature is not base64"))?;
    let digest = match request.header(SETTINGS_HEADER).map(algorithm) {
        None | Some(Some(Digest::Sha1)) => Digest::Sha1,
        Some(Some(digest)) => digest,
        Some(None) => return Err(malformed(SETTINGS_HEADER, "unsupported algorithm")),
    };
    let body_hash = query_fields(request.url)
        .into_iter()
        .find(|(name, _)| name == "bodySHA256")
        .map(|(_, value)| value);
    let fields = match &body_hash {
        Some(expected) => {
            let actual = to_hex(&sha2::Sha256::digest(request.body));
            if !ct_eq(actual.as_bytes(), expected.to_ascii_lowercase().as_bytes()) {
                return Err(InboundError::BodyHashMismatch);
            }
            Vec::new()
        }
        None if is_form(request) || looks_like_form(request.body) => sorted_fields(request.body),
        None => Vec::new(),
    };
    let urls = url_variants(request.url);
    first_matching_secret(config, |secret| {
        urls.iter().any(|url| {
            let expected = signed(digest, secret, url, &fields);
            ct_eq(&expected, &signature)
        })
    })
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    request
        .header("i-twilio-idempotency-token")
        .map(str::to_owned)
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    if let Some(body) = json_body(request) {
        return event_type_name(&json_text(&body, &["type"])?);
    }
    let fields = form_fields(request.body);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.to_ascii_lowercase())
    };
    let name = if let Some(status) = field("MessageStatus").or_else(|| field("SmsStatus")) {
        if status == "received" {
            "message.received".to_owned()
        } else {
            format!("message.{status}")
        }
    } else if let Some(status) = field("CallStatus") {
        format!("call.{status}")
    } else if field("MessageSid").is_some() || field("SmsSid").is_some() {
        "message.received".to_owned()
    } else if field("CallSid").is_some() {
        "call.received".to_owned()
    } else {
        return None;
    };
    event_type_name(&name)
}

/// The signature header Twilio would send for a request to `url` with `body`: a form
/// body's fields are signed after the URL; any other body must already be described by
/// a `bodySHA256` parameter in `url` (see [`url_with_body_hash`]).
pub fn sign(auth_token: &str, url: &str, body: &[u8], form: bool) -> Vec<(String, String)> {
    let fields = if form {
        sorted_fields(body)
    } else {
        Vec::new()
    };
    vec![(
        HEADER.to_owned(),
        to_base64(&signed(Digest::Sha1, auth_token, url, &fields)),
    )]
}

/// `url` with the `bodySHA256` parameter Twilio adds for a JSON `body`.
pub fn url_with_body_hash(url: &str, body: &[u8]) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}bodySHA256={}",
        to_hex(&sha2::Sha256::digest(body))
    )
}

fn signed(digest: Digest, secret: &str, url: &str, fields: &[(String, String)]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = vec![url.as_bytes()];
    for (name, value) in fields {
        parts.push(name.as_bytes());
        parts.push(value.as_bytes());
    }
    hmac(digest, secret.as_bytes(), &parts)
}

fn algorithm(settings: &str) -> Option<Digest> {
    let name = settings
        .split(',')
        .filter_map(|part| part.split_once('='))
        .find(|(key, _)| key.trim() == "algorithm")
        .map(|(_, value)| value.trim().to_ascii_uppercase());
    match name.as_deref() {
        None | Some("") | Some("HMAC_SHA1") => Some(Digest::Sha1),
        Some("HMAC_SHA256") => Some(Digest::Sha256),
        Some(_) => None,
    }
}

/// Twilio posts forms; when a proxy dropped the content type, a body that parses as a
/// form and not as JSON is taken as one.
fn looks_like_form(body: &[u8]) -> bool {
    !body.is_empty()
        && serde_json::from_slice::<serde_json::Value>(body).is_err()
        && body.contains(&b'=')
}

fn sorted_fields(body: &[u8]) -> Vec<(String, String)> {
    let mut fields = form_fields(body);
    fields.sort();
    fields.dedup();
    fields
}

/// The URL as given, without an explicit port, and with the scheme's default port.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (format!("{userinfo}@"), host_port),
        None => (String::new(), authority),
    };
    // N.B.: an IPv6 host is bracketed; its colons are not a port separator.
    let port_colon = host_port
        .rfind(':')
        .filter(|index| !host_port[*index..].contains(']'));
    match port_colon {
        Some(index) => {
            let host = &host_port[..index];
            variants.push(format!("{scheme}://{userinfo}{host}{tail}"));
        }
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            variants.push(format!("{scheme}://{userinfo}{host_port}:{port}{tail}"));
        }
    }
    variants
}
