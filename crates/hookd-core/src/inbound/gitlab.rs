//! GitLab: `X-Gitlab-Token` carries the webhook's secret token itself (no signature); it
//! must equal one of the source's secrets, compared in constant time. The event id is
//! `Idempotency-Key` (kept across GitLab's retries), else `X-Gitlab-Event-UUID`. The type
//! is the body's `object_kind`, followed by `.` and `object_attributes.action` when present
//! (`merge_request.open`), else `X-Gitlab-Event` (`push_hook`).

use super::common::{
    event_type_name, first_matching_secret, json_body, json_text, required_header, token_eq,
};
use super::{InboundError, InboundRequest, Verified, VerifierConfig};

/// The header GitLab sends its token in (lowercase).
pub const HEADER: &str = "x-gitlab-token";

pub(super) fn verify(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
) -> Result<Verified, InboundError> {
    let token = required_header(request, HEADER)?;
    first_matching_secret(config, |secret| token_eq(token, secret))
}

pub(super) fn event_id(request: &InboundRequest<'_>) -> Option<String> {
    request
        .header("idempotency-key")
        .or_else(|| request.header("x-gitlab-event-uuid"))
        .map(str::to_owned)
}

pub(super) fn event_type(request: &InboundRequest<'_>) -> Option<String> {
    if let Some(body) = json_body(request) {
        if let Some(kind) = json_text(&body, &["object_kind"]) {
            let name = match json_text(&body, &["object_attributes", "action"]) {
                Some(action) => format!("{kind}.{action}"),
                None => kind,
            };
            return event_type_name(&name);
        }
    }
    event_type_name(request.header("x-gitlab-event")?)
}

/// The header GitLab would send with `token` configured.
pub fn sign(token: &str) -> Vec<(String, String)> {
    vec![(HEADER.to_owned(), token.to_owned())]
}
