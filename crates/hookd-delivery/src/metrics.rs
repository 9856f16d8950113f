//! The worker's metrics: attempts by outcome, attempt durations, and how deliveries end.
//! Recorded through the `metrics` facade, so they go wherever the binary installed a
//! recorder (nowhere in unit tests).
//!
//! **Invariant:** recording is in memory and cheap (a key lookup and an atomic add); it
//! never touches the store, so the per-message cost of the hot path does not change.

use std::time::Duration;

use hookd_core::retry::Outcome;
use hookd_store::{DeliveryOutcome, EndpointHealth};

use crate::sender::{NoResponseReason, SendResult};

/// Counter: delivery attempts, by `outcome`.
pub const ATTEMPTS_TOTAL: &str = "hookd_delivery_attempts_total";
/// Histogram: how long one delivery attempt took, connection included, in seconds.
pub const ATTEMPT_DURATION_SECONDS: &str = "hookd_delivery_attempt_duration_seconds";
/// Counter: deliveries that reached an end, by `result`.
pub const DELIVERIES_FINISHED_TOTAL: &str = "hookd_deliveries_finished_total";
/// Counter: endpoints this node disabled (410 Gone, or failing for too long).
pub const ENDPOINTS_DISABLED_TOTAL: &str = "hookd_endpoints_disabled_total";

/// Every `outcome` label value of [`ATTEMPTS_TOTAL`].
pub const ATTEMPT_OUTCOMES: &[&str] = &[
    "success",
    "redirect",
    "client_error",
    "rate_limited",
    "gone",
    "server_error",
    "timeout",
    "connection_error",
    "refused",
    "invalid_url",
    "request_error",
    "signing_error",
];

/// Every `result` label value of [`DELIVERIES_FINISHED_TOTAL`].
pub const FINISHED_RESULTS: &[&str] = &["succeeded", "failed"];

/// Registers the worker's metrics with their help texts, every labelled series at zero,
/// so a scrape shows them before the first delivery.
pub fn describe() {
    metrics::describe_counter!(
        ATTEMPTS_TOTAL,
        "Delivery attempts made by this node, by outcome: success, redirect (3xx), client_error (4xx), rate_limited (429), gone (410), server_error (5xx), timeout, connection_error, refused (SSRF guard), invalid_url, request_error, signing_error."
    );
    metrics::describe_histogram!(
        ATTEMPT_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Duration of one delivery attempt (connect, send, read the response)."
    );
    metrics::describe_counter!(
        DELIVERIES_FINISHED_TOTAL,
        "Deliveries that ended on this node: succeeded, or failed for good (retries exhausted or endpoint disabled)."
    );
    metrics::describe_counter!(
        ENDPOINTS_DISABLED_TOTAL,
        "Endpoints this node disabled (410 Gone, or failing for longer than disable_endpoint_after)."
    );
    for outcome in ATTEMPT_OUTCOMES {
        metrics::counter!(ATTEMPTS_TOTAL, "outcome" => *outcome).absolute(0);
    }
    for result in FINISHED_RESULTS {
        metrics::counter!(DELIVERIES_FINISHED_TOTAL, "result" => *result).absolute(0);
    }
    metrics::counter!(ENDPOINTS_DISABLED_TOTAL).absolute(0);
}

/// The `outcome` label of an attempt that went on the wire.
pub fn attempt_outcome(sent: &SendResult) -> &'static str {
    match (&sent.outcome, sent.no_response) {
        (Outcome::Delivered { .. }, _) => "success",
        (Outcome::Gone, _) => "gone",
        (Outcome::Rejected { status: 429, .. }, _) => "rate_limited",
        (Outcome::Rejected { status, .. }, _) if (300..400).contains(status) => "redirect",
        (Outcome::Rejected { status, .. }, _) if (400..500).contains(status) => "client_error",
        (Outcome::Rejected { .. }, _) => "server_error",
        (Outcome::NoResponse, Some(NoResponseReason::Timeout)) => "timeout",
        (Outcome::NoResponse, Some(NoResponseReason::Connect)) => "connection_error",
        (Outcome::NoResponse, Some(NoResponseReason::Refused)) => "refused",
        (Outcome::NoResponse, Some(NoResponseReason::InvalidUrl)) => "invalid_url",
        (Outcome::NoResponse, _) => "request_error",
    }
}

/// Counts one attempt that went on the wire and records its duration.
pub(crate) fn record_attempt(sent: &SendResult) {
    metrics::counter!(ATTEMPTS_TOTAL, "outcome" => attempt_outcome(sent)).increment(1);
    record_duration(sent.duration);
}

/// Counts an attempt that could not be signed (nothing was sent).
pub(crate) fn record_signing_error() {
    metrics::counter!(ATTEMPTS_TOTAL, "outcome" => "signing_error").increment(1);
}

/// Counts how a recorded outcome ends the delivery and changes the endpoint.
pub(crate) fn record_outcome(delivery: &DeliveryOutcome, endpoint_health: &EndpointHealth) {
    match delivery {
        DeliveryOutcome::Succeeded => {
            metrics::counter!(DELIVERIES_FINISHED_TOTAL, "result" => "succeeded").increment(1)
        }
        DeliveryOutcome::Failed => {
            metrics::counter!(DELIVERIES_FINISHED_TOTAL, "result" => "failed").increment(1)
        }
        DeliveryOutcome::RetryAt(_) => {}
    }
    if matches!(endpoint_health, EndpointHealth::Disable) {
        metrics::counter!(ENDPOINTS_DISABLED_TOTAL).increment(1);
    }
}

fn record_duration(duration: Duration) {
    metrics::histogram!(ATTEMPT_DURATION_SECONDS).record(duration.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(outcome: Outcome, no_response: Option<NoResponseReason>) -> SendResult {
        SendResult {
            outcome,
            no_response,
            status_code: 0,
            response: String::new(),
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn outcome_labels() {
        let rejected = |status| Outcome::Rejected {
            status,
            retry_after: None,
        };
        let cases = [
            (sent(Outcome::Delivered { status: 204 }, None), "success"),
            (sent(Outcome::Gone, None), "gone"),
            (sent(rejected(301), None), "redirect"),
            (sent(rejected(404), None), "client_error"),
            (sent(rejected(429), None), "rate_limited"),
            (sent(rejected(503), None), "server_error"),
            (
                sent(Outcome::NoResponse, Some(NoResponseReason::Timeout)),
                "timeout",
            ),
            (
                sent(Outcome::NoResponse, Some(NoResponseReason::Connect)),
                "connection_error",
            ),
            (
                sent(Outcome::NoResponse, Some(NoResponseReason::Refused)),
                "refused",
            ),
            (
                sent(Outcome::NoResponse, Some(NoResponseReason::InvalidUrl)),
                "invalid_url",
            ),
            (
                sent(Outcome::NoResponse, Some(NoResponseReason::Other)),
                "request_error",
            ),
        ];
        for (result, label) in cases {
            assert_eq!(attempt_outcome(&result), label, "{result:?}");
            assert!(ATTEMPT_OUTCOMES.contains(&label));
        }
    }
}
