//! The generic scheme, for providers hookd has no rules for, described by a
//! [`GenericScheme`]:
//!
//! - `kind: hmac` (the default): the header (`header`, after an optional `prefix` such as
//!   `sha256=`) carries the `hex` or `base64` HMAC (`sha1`, `sha256` or `sha512`; default
//!   `sha256`, `hex`) of `template` (default `{body}`), where `{timestamp}` and `{id}` are
//!   the values of `timestamp_header` and `id_header` and `{body}` the raw body. The key is
//!   the secret as UTF-8. With a `timestamp_header`, the timestamp (Unix seconds) must be
//!   within the source's tolerance.
//! - `kind: basic-auth`: `Authorization: Basic …` (or `header`) must carry one of the
//!   secrets, each written `user:password`.
//! - `kind: api-key`: the header (default `x-api-key`, after an optional `prefix` such as
//!   `Bearer `) must equal one of the secrets.
//!
//! The event id is the `id_header`'s value, else `webhook-id`, `idempotency-key` or
//! `x-request-id`; the type is the body's `type`, else `event_type`, else `event`.

use super::common::{
    check_timestamp, ct_eq, event_type_name, first_matching_secret, from_base64, from_hex, hmac,
    json_body, json_text, malformed, parse_unix_secs, required_header, to_base64, to_hex, token_eq,
    Digest,
};
use super::{GenericKind, GenericScheme, InboundError, InboundRequest, Verified, VerifierConfig};

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    let scheme = config.generic.as_ref().ok_or_else(|| {
        InboundError::BadConfig("the generic provider needs a scheme (`generic`)".to_owned())
    })?;
    match scheme.kind {
        GenericKind::Hmac => verify_hmac(config, scheme, request, now_unix_secs),
        GenericKind::BasicAuth => verify_basic_auth(config, scheme, request),
        GenericKind::ApiKey => verify_api_key(config, scheme, request),
    }
}

pub(super) fn event_id(
    scheme: Option<&GenericScheme>,
    request: &InboundRequest<'_>,
) -> Option<String> {
    let configured = scheme.and_then(|scheme| scheme.id_header.as_deref());
    configured
        .into_iter()
        .chain(["webhook-id", "idempotency-key", "x-request-id"])
        .find_map(|name| request.header(&name.to_ascii_lowercase()))
        .map(str::to_owned)
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    let body = json_body(request)?;
    let name = ["type", "event_type", "event"]
        .iter()
        .find_map(|field| json_text(&body, &[field]))?;
    event_type_name(&name)
}

/// The header a sender following `scheme` would add for `body` (with `timestamp` and
/// `id` filling the template; their headers are added too when the scheme names them).
pub fn sign(
    scheme: &GenericScheme,
    secret: &str,
    timestamp: i64,
    id: &str,
    body: &[u8],
) -> Result<Vec<(String, String)>, InboundError> {
    let mut headers = Vec::new();
    let timestamp = timestamp.to_string();
    if let Some(name) = &scheme.timestamp_header {
        headers.push((name.to_ascii_lowercase(), timestamp.clone()));
    }
    if let Some(name) = &scheme.id_header {
        headers.push((name.to_ascii_lowercase(), id.to_owned()));
    }
    let content = content(scheme, Some(&timestamp), Some(id), body)?;
    let mac = hmac(digest(scheme)?, secret.as_bytes(), &[&content]);
    let encoded = match encoding(scheme)? {
        Encoding::Hex => to_hex(&mac),
        Encoding::Base64 => to_base64(&mac),
    };
    headers.push((
        header_name(scheme, "x-signature"),
        format!("{}{encoded}", scheme.prefix.as_deref().unwrap_or_default()),
    ));
    Ok(headers)
}

#[derive(Clone, Copy)]
enum Encoding {
    Hex,
    Base64,
}

fn verify_hmac(
    config: &VerifierConfig,
    scheme: &GenericScheme,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    let digest = digest(scheme)?;
    let encoding = encoding(scheme)?;
    let header = header_name(scheme, "x-signature");
    let timestamp = match &scheme.timestamp_header {
        Some(name) => Some(required_header(request, &name.to_ascii_lowercase())?.trim()),
        None => None,
    };
    let id = match &scheme.id_header {
        Some(name) => Some(required_header(request, &name.to_ascii_lowercase())?.trim()),
        None => None,
    };
    let value = required_header(request, &header)?.trim();
    let value = match scheme.prefix.as_deref().filter(|prefix| !prefix.is_empty()) {
        Some(prefix) => value
            .strip_prefix(prefix)
            .ok_or_else(|| malformed(&header, "the configured prefix is missing"))?,
        None => value,
    };
    let signature = match encoding {
        Encoding::Hex => from_hex(value),
        Encoding::Base64 => from_base64(value),
    }
    .ok_or_else(|| malformed(&header, "the signature is not in the configured encoding"))?;
    let content = content(scheme, timestamp, id, request.body)?;
    let verified = first_matching_secret(config, |secret| {
        ct_eq(&hmac(digest, secret.as_bytes(), &[&content]), &signature)
    })?;
    if let (Some(timestamp), Some(name)) = (timestamp, &scheme.timestamp_header) {
        let sent_at = parse_unix_secs(&name.to_ascii_lowercase(), timestamp)?;
        check_timestamp(sent_at, now_unix_secs, config.tolerance_secs)?;
    }
    Ok(verified)
}

fn verify_basic_auth(
    config: &VerifierConfig,
    scheme: &GenericScheme,
    request: &InboundRequest<'_>,
) -> Result<Verified, InboundError> {
    let header = header_name(scheme, "authorization");
    let value = required_header(request, &header)?.trim();
    let encoded = value
        .split_once(' ')
        .filter(|(kind, _)| kind.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded.trim())
        .ok_or_else(|| malformed(&header, "expected Basic credentials"))?;
    let credentials = from_base64(encoded)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| malformed(&header, "the credentials are not base64 of user:password"))?;
    first_matching_secret(config, |secret| token_eq(&credentials, secret))
}

fn verify_api_key(
    config: &VerifierConfig,
    scheme: &GenericScheme,
    request: &InboundRequest<'_>,
) -> Result<Verified, InboundError> {
    let header = header_name(scheme, "x-api-key");
    let value = required_header(request, &header)?.trim();
    let key = match scheme.prefix.as_deref().filter(|prefix| !prefix.is_empty()) {
        Some(prefix) => value
            .strip_prefix(prefix)
            .ok_or_else(|| malformed(&header, "the configured prefix is missing"))?,
        None => value,
    };
    first_matching_secret(config, |secret| token_eq(key, secret))
}

/// The header that carries the secret itself (basic auth, API key), if the scheme is one
/// that sends it rather than a signature made with it.
pub(super) fn secret_header(scheme: &GenericScheme) -> Option<String> {
    match scheme.kind {
        GenericKind::Hmac => None,
        GenericKind::BasicAuth => Some(header_name(scheme, "authorization")),
        GenericKind::ApiKey => Some(header_name(scheme, "x-api-key")),
    }
}

fn header_name(scheme: &GenericScheme, default: &str) -> String {
    if scheme.header.trim().is_empty() {
        default.to_owned()
    } else {
        scheme.header.trim().to_ascii_lowercase()
    }
}

fn digest(scheme: &GenericScheme) -> Result<Digest, InboundError> {
    match scheme.algorithm.to_ascii_lowercase().as_str() {
        "" | "sha256" | "sha-256" => Ok(Digest::Sha256),
        "sha1" | "sha-1" => Ok(Digest::Sha1),
        "sha512" | "sha-512" => Ok(Digest::Sha512),
        _ => Err(InboundError::BadConfig(
            "generic.algorithm must be sha1, sha256 or sha512".to_owned(),
        )),
    }
}

fn encoding(scheme: &GenericScheme) -> Result<Encoding, InboundError> {
    match scheme.encoding.to_ascii_lowercase().as_str() {
        "" | "hex" => Ok(Encoding::Hex),
        "base64" => Ok(Encoding::Base64),
        _ => Err(InboundError::BadConfig(
            "generic.encoding must be hex or base64".to_owned(),
        )),
    }
}

/// The signed bytes: the template with `{timestamp}`, `{id}` and `{body}` filled in.
fn content(
    scheme: &GenericScheme,
    timestamp: Option<&str>,
    id: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, InboundError> {
    let template = scheme.template.as_deref().unwrap_or("{body}");
    let mut content = Vec::with_capacity(template.len() + body.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        content.extend_from_slice(&rest.as_bytes()[..start]);
        let after = &rest[start..];
        let (value, length): (&[u8], usize) = if after.starts_with("{body}") {
            (body, "{body}".len())
        } else if after.starts_with("{timestamp}") {
            let timestamp = timestamp.ok_or_else(|| {
                InboundError::BadConfig(
                    "generic.template uses {timestamp} but no timestampHeader is set".to_owned(),
                )
            })?;
            (timestamp.as_bytes(), "{timestamp}".len())
        } else if after.starts_with("{id}") {
            let id = id.ok_or_else(|| {
                InboundError::BadConfig(
                    "generic.template uses {id} but no idHeader is set".to_owned(),
                )
            })?;
            (id.as_bytes(), "{id}".len())
        } else {
            (b"{", 1)
        };
        content.extend_from_slice(value);
        rest = &after[length..];
    }
    content.extend_from_slice(rest.as_bytes());
    Ok(content)
}
