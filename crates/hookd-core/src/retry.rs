//! The retry schedule: when the next attempt of a delivery is due, and when a failing
//! endpoint should be disabled.
//!
//! **Invariant:** [`next_step`] never schedules an attempt before `now`, never beyond the
//! last delay of the schedule (after it the delivery is [`NextStep::Exhausted`]), and
//! keeps each delay within `±jitter` of the scheduled one unless a `Retry-After` asks for
//! longer, itself capped by [`RetryPolicy::max_retry_after`]. Arithmetic saturates rather
//! than panics, whatever the durations.

use std::time::Duration;

use crate::Timestamp;

/// Delays between attempts, plus the bounds that apply to them.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before each retry: `[5s, 5m]` means three attempts in all.
    /// Default: 5s, 5m, 30m, 2h, 5h, 10h, 10h (eight attempts over about 28 hours).
    pub schedule: Vec<Duration>,
    /// Fraction of each delay that jitter may add or remove. Default: 0.2.
    pub jitter: f64,
    /// Longest delay a `Retry-After` header may ask for. Default: 1 hour.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        Self {
            schedule: [
                5,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
            ]
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(HOUR),
        }
    }
}

impl RetryPolicy {
    /// How many attempts a delivery gets: the first one, then one per scheduled delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.schedule.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }
}

/// The result of one HTTP try, as the decision needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// The endpoint answered something else (3xx included); `retry_after` is its
    /// `Retry-After` on 429 or 503.
    Rejected {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The endpoint answered 410 Gone: it asks never to be called again.
    Gone,
    /// No HTTP response: timeout, connection failure, refused address.
    NoResponse,
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum NextStep {
    /// The delivery is done.
    Succeeded,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// Every retry in the schedule was used.
    Exhausted,
    /// Disable the endpoint and fail the delivery.
    DisableEndpoint,
}

/// Parses `5s,5m,30m,2h` (units `ms`, `s`, `m`, `h`, `d`).
///
/// Whitespace around items is ignored; an empty (or blank) string is an empty schedule,
/// which means a single attempt.
///
/// # Errors
///
/// A message naming the first item that is not a whole number followed by a unit.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|item| parse_delay(item.trim()))
        .collect()
}

/// Formats a schedule the way [`parse_schedule`] reads it, each delay in the largest unit
/// that divides it exactly (`5s,5m,90s`). Sub-millisecond parts are dropped.
pub fn format_schedule(schedule: &[Duration]) -> String {
    schedule
        .iter()
        .map(|delay| format_delay(*delay))
        .collect::<Vec<_>>()
        .join(",")
}

/// Decides the next step after attempt number `n_attempts` (1 for the first) ended
/// with `outcome` at `now`; `jitter_sample` is uniform in `[0, 1)`.
///
/// A `jitter_sample` outside `[0, 1)` is clamped into it, and NaN counts as 0.5 (no
/// jitter). An `n_attempts` of 0 is treated as 1.
pub fn next_step(
    policy: &RetryPolicy,
    n_attempts: u32,
    outcome: &Outcome,
    now: Timestamp,
    jitter_sample: f64,
) -> NextStep {
    let retry_after = match outcome {
        Outcome::Delivered { .. } => return NextStep::Succeeded,
        Outcome::Gone => return NextStep::DisableEndpoint,
        Outcome::Rejected {
            status: 429 | 503,
            retry_after,
        } => *retry_after,
        Outcome::Rejected { .. } | Outcome::NoResponse => None,
    };
    let retry_idx = usize::try_from(n_attempts.max(1) - 1).unwrap_or(usize::MAX);
    let Some(&scheduled) = policy.schedule.get(retry_idx) else {
        return NextStep::Exhausted;
    };
    let mut delay = jittered(scheduled, policy.jitter, jitter_sample);
    if let Some(retry_after) = retry_after {
        delay = delay.max(retry_after.min(policy.max_retry_after));
    }
    NextStep::RetryAt(add_saturating(now, delay))
}

/// Whether an endpoint failing since `failing_since` has failed for at least `period`.
pub fn should_disable_endpoint(
    failing_since: Option<Timestamp>,
    now: Timestamp,
    period: Duration,
) -> bool {
    let Some(failing_since) = failing_since else {
        return false;
    };
    // A period too long for chrono is one no endpoint can reach.
    let Ok(period) = chrono::Duration::from_std(period) else {
        return false;
    };
    now.signed_duration_since(failing_since) >= period
}

/// The units [`parse_schedule`] accepts in milliseconds, `ms` before `s` so that the
/// longer suffix wins.
const UNITS_MS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

fn parse_delay(item: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "invalid delay {item:?} in retry schedule: expected a number followed by ms, s, m, h or d"
        )
    };
    let too_long = || format!("delay {item:?} in retry schedule is too long");
    let (number, unit_ms) = UNITS_MS
        .iter()
        .find_map(|(suffix, unit_ms)| Some((item.strip_suffix(suffix)?, *unit_ms)))
        .ok_or_else(invalid)?;
    // `u64::from_str` would accept a leading `+`; a delay is plain digits.
    if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    let count: u64 = number.parse().map_err(|_| too_long())?;
    let millis = count.checked_mul(unit_ms).ok_or_else(too_long)?;
    Ok(Duration::from_millis(millis))
}

#[allow(
    clippy::manual_is_multiple_of,
    reason = "u128::is_multiple_of needs Rust 1.87; the workspace supports 1.85"
)]
fn format_delay(delay: Duration) -> String {
    let millis = delay.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let (suffix, unit_ms) = UNITS_MS
        .iter()
        .rev()
        .map(|(suffix, unit_ms)| (*suffix, u128::from(*unit_ms)))
        .find(|(_, unit_ms)| millis % unit_ms == 0)
        .unwrap_or(("ms", 1));
    format!("{}{suffix}", millis / unit_ms)
}

/// `delay` scaled by `1 + jitter * (2 * sample - 1)`, so within `delay * (1 ± jitter)`.
fn jittered(delay: Duration, jitter: f64, sample: f64) -> Duration {
    // The largest f64 below 1.0, so a sample of exactly 1 stays in `[0, 1)`.
    const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;
    let sample = if sample.is_nan() {
        0.5
    } else {
        sample.clamp(0.0, BELOW_ONE)
    };
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    let factor = 1.0 + jitter * (2.0 * sample - 1.0);
    // `factor` is in [0, 2], so the product is finite and non-negative; only a delay
    // near `Duration::MAX` can overflow, and it saturates.
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

fn add_saturating(now: Timestamp, delay: Duration) -> Timestamp {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests;
