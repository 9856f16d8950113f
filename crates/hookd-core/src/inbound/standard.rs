//! Standard Webhooks and Svix (and so Clerk, Resend, OpenAI and every other sender built
//! on them): `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>…` (or the
//! `svix-*` names), HMAC-SHA256 of `"{id}.{timestamp}.{body}"` keyed by the base64 after
//! `whsec_`, or `v1a` ed25519. The rules live in [`crate::signature`], shared with
//! hookd's own signing; this module maps their errors. The event id is `webhook-id`
//! (`svix-id`); the type is the body's `type`.

use super::common::event_type_name;
use super::json_field::body_text;
use super::{InboundError, InboundRequest, Verified, VerifierConfig};
use crate::signature::VerifyError;

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
) -> Result<Verified, InboundError> {
    let header = |name: &str| request.header(name).map(str::to_owned);
    for (index, secret) in config.secrets.iter().enumerate() {
        match crate::signature::verify(
            &[secret.as_str()],
            &header,
            request.body,
            now_unix_secs,
            config.tolerance_secs,
        ) {
            Ok(()) => {
                return Ok(Verified {
                    secret_index: index,
                })
            }
            Err(VerifyError::InvalidSignature) => continue,
            Err(VerifyError::Secret(error)) => {
                return Err(InboundError::BadConfig(format!("secret {index}: {error}")))
            }
            Err(error) => return Err(map_error(error, request, now_unix_secs, config)),
        }
    }
    Err(InboundError::SignatureMismatch {
        secrets: config.secrets.len(),
    })
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    request
        .header("webhook-id")
        .or_else(|| request.header("svix-id"))
        .map(str::to_owned)
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    event_type_name(&body_text(request, &["type"])?)
}

fn map_error(
    error: VerifyError,
    request: &InboundRequest<'_>,
    now_unix_secs: i64,
    config: &VerifierConfig,
) -> InboundError {
    let timestamp_header = if request.header("webhook-timestamp").is_some() {
        "webhook-timestamp"
    } else {
        "svix-timestamp"
    };
    match error {
        VerifyError::MissingHeader(name) => InboundError::MissingHeader(name.to_owned()),
        VerifyError::InvalidTimestamp => InboundError::MalformedHeader {
            header: timestamp_header.to_owned(),
            reason: "not a Unix time in seconds".to_owned(),
        },
        VerifyError::TimestampTooOld | VerifyError::TimestampTooNew => {
            let sent_at = request
                .header(timestamp_header)
                .and_then(|value| value.trim().parse::<i64>().ok())
                .unwrap_or(now_unix_secs);
            InboundError::StaleTimestamp {
                age_secs: now_unix_secs.saturating_sub(sent_at),
                tolerance_secs: config.tolerance_secs,
            }
        }
        VerifyError::InvalidSignature => InboundError::SignatureMismatch {
            secrets: config.secrets.len(),
        },
        VerifyError::Secret(secret) => InboundError::BadConfig(secret.to_string()),
    }
}
