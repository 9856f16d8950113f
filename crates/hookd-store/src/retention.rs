//! [`ExpiryKind`]: the kinds of records the retention job expires, one store call each.
//!
//! **Invariant:** expiring a record never makes published work undeliverable: a message
//! payload is kept while any of its deliveries is unfinished, and nothing here deletes a
//! message, so `eventId` stays unique for as long as the message exists.

/// A kind of record that `Store::expire_batch` expires once it is older than its
/// retention period.
///
/// Adding a kind (inbound raw requests, say) is one variant here, one arm in each
/// backend's `retention` module (with the index its batch query walks), one period in
/// the `hookd` configuration, and one entry in the job's list of periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpiryKind {
    /// Message payloads: the payload becomes empty (`Message::payload_expired`). A message
    /// with an unfinished (pending or sending) delivery keeps its payload until the
    /// delivery finishes.
    MessagePayloads,
    /// Attempts' stored content: the response body becomes `Attempt::EXPUNGED_RESPONSE`
    /// and the stored request headers become empty. The attempt itself (status, code,
    /// time) stays in the log.
    AttemptContent,
    /// Responses kept for idempotency keys: deleted. Their window is the idempotency
    /// window, after which the API ignores them anyway.
    IdempotencyKeys,
}

impl ExpiryKind {
    /// A short snake_case name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::MessagePayloads => "message_payloads",
            Self::AttemptContent => "attempt_content",
            Self::IdempotencyKeys => "idempotency_keys",
        }
    }
}

/// The attempt a backend records for an unfinished delivery that
/// `Store::expunge_message_content` stops: a failure without a request, whose response
/// says why, so the stop shows in the attempt log instead of passing silently.
pub fn payload_gone_attempt(
    delivery: &hookd_core::model::Delivery,
    url: &str,
    now: hookd_core::Timestamp,
) -> hookd_core::model::Attempt {
    use hookd_core::model::{Attempt, MessageStatus};
    let unix_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    Attempt {
        id: hookd_core::ids::AttemptId::new(unix_ms, rand::random()),
        app_id: delivery.app_id.clone(),
        msg_id: delivery.msg_id.clone(),
        endpoint_id: delivery.endpoint_id.clone(),
        url: url.to_owned(),
        status: MessageStatus::Fail,
        response_status_code: 0,
        response: Attempt::PAYLOAD_GONE_RESPONSE.to_owned(),
        response_duration_ms: 0,
        trigger: delivery.trigger,
        request_headers: std::collections::BTreeMap::new(),
        created_at: now,
    }
}
