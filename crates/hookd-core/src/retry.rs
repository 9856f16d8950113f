//! The retry schedule: when the next attempt of a delivery is due.
//!
//! STUB: the public API below is fixed; the bodies are being written.

use std::time::Duration;

use crate::Timestamp;

/// Delays between attempts, plus the bounds that apply to them.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before each retry: `[5s, 5m]` means three attempts in all.
    pub schedule: Vec<Duration>,
    /// Fraction of each delay that jitter may add or remove. Default: 0.2.
    pub jitter: f64,
    /// Longest delay a `Retry-After` header may ask for. Default: 1 hour.
    pub max_retry_after: Duration,
}

/// The result of one HTTP try, as the decision needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// The endpoint answered something else (3xx included); `retry_after` is its
    /// `Retry-After` on 429 or 503.
    Rejected { status: u16, retry_after: Option<Duration> },
    /// The endpoint answered 410 Gone: it asks never to be called again.
    Gone,
    /// No HTTP response: timeout, connection failure, refused address.
    NoResponse,
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum NextStep {
    Succeeded,
    RetryAt(Timestamp),
    /// Every retry in the schedule was used.
    Exhausted,
    /// Disable the endpoint and fail the delivery.
    DisableEndpoint,
}

/// Parses `5s,5m,30m,2h` (units `ms`, `s`, `m`, `h`, `d`).
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    let _ = text;
    unimplemented!("stub")
}

/// Decides the next step after attempt number `n_attempts` (1 for the first) ended
/// with `outcome` at `now`; `jitter_sample` is uniform in `[0, 1)`.
pub fn next_step(
    policy: &RetryPolicy,
    n_attempts: u32,
    outcome: &Outcome,
    now: Timestamp,
    jitter_sample: f64,
) -> NextStep {
    let _ = (policy, n_attempts, outcome, now, jitter_sample);
    unimplemented!("stub")
}

/// Whether an endpoint failing since `failing_since` has failed for longer than `period`.
pub fn should_disable_endpoint(
    failing_since: Option<Timestamp>,
    now: Timestamp,
    period: Duration,
) -> bool {
    let _ = (failing_since, now, period);
    unimplemented!("stub")
}
