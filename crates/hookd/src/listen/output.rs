//! The lines `hookd listen` prints: one per forwarding attempt, and the one that says
//! where it forwards. Pure: the time and the outcome are parameters.
//!
//! ```text
//! 17:40:12  invoice.paid      200 OK                 12 ms  msg_2x…
//! 17:40:13  push              503 Service Unavailable 4 ms  msg_2y…  retrying in 1s
//! 17:40:13  POST /b/x/orders  unreachable: connection refused  req_…  retrying in 2s
//! ```

use std::time::Duration;

use super::forward::LocalOutcome;

/// What one event is called on its line: the event type, or method and path for a bin's
/// request.
pub fn event_label(event_type: Option<&str>, method: &str, path: &str) -> String {
    match event_type {
        Some(event_type) => event_type.to_owned(),
        None => format!("{method} {path}"),
    }
}

/// One forwarding attempt: time, event, local status (or why there was none), latency,
/// the event's id, and the wait before the next try when it will be retried.
pub fn event_line(
    time: &str,
    label: &str,
    outcome: &LocalOutcome,
    latency: Duration,
    id: &str,
    retry_in: Option<Duration>,
) -> String {
    let status = match outcome {
        LocalOutcome::Answered(code) => {
            let reason = reqwest::StatusCode::from_u16(*code)
                .ok()
                .and_then(|status| status.canonical_reason())
                .unwrap_or("");
            format!("{code} {reason}").trim_end().to_owned()
        }
        LocalOutcome::Unreachable(reason) => format!("unreachable: {reason}"),
    };
    let mut line = format!(
        "{time}  {label:<20}  {status:<24}  {latency:>5} ms  {id}",
        latency = latency.as_millis()
    );
    if let Some(wait) = retry_in {
        line.push_str(&format!("  retrying in {}", seconds(wait)));
    }
    line
}

/// The line printed once connected and ready.
pub fn ready_line(what: &str, server: &str, forward_to: &str) -> String {
    format!("Ready: forwarding {what} from {server} to {forward_to} (Ctrl-C to stop)")
}

/// A wait for humans: `500ms`, `2s`, `1.5s`.
pub fn seconds(wait: Duration) -> String {
    if wait < Duration::from_secs(1) {
        format!("{}ms", wait.as_millis())
    } else if wait.subsec_millis() == 0 {
        format!("{}s", wait.as_secs())
    } else {
        format!("{:.1}s", wait.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_event_status_latency_and_retry() {
        assert_eq!(
            event_line(
                "17:40:12",
                "invoice.paid",
                &LocalOutcome::Answered(200),
                Duration::from_millis(12),
                "msg_1",
                None
            ),
            "17:40:12  invoice.paid          200 OK                       12 ms  msg_1"
        );
        let retry = event_line(
            "17:40:13",
            "push",
            &LocalOutcome::Answered(503),
            Duration::from_millis(4),
            "msg_2",
            Some(Duration::from_secs(2)),
        );
        assert!(retry.contains("503 Service Unavailable"), "{retry}");
        assert!(retry.ends_with("msg_2  retrying in 2s"), "{retry}");
        let down = event_line(
            "17:40:13",
            &event_label(None, "POST", "/b/bin_1/orders"),
            &LocalOutcome::Unreachable("connection refused".into()),
            Duration::from_millis(1),
            "req_1",
            Some(Duration::from_millis(500)),
        );
        assert!(down.starts_with("17:40:13  POST /b/bin_1/orders"), "{down}");
        assert!(down.contains("unreachable: connection refused"), "{down}");
        assert!(down.ends_with("retrying in 500ms"), "{down}");
        assert_eq!(
            event_line(
                "t",
                "x",
                &LocalOutcome::Answered(599),
                Duration::ZERO,
                "i",
                None
            ),
            format!("t  {:<20}  {:<24}      0 ms  i", "x", "599")
        );
    }

    #[test]
    fn waits_read_naturally() {
        assert_eq!(seconds(Duration::from_millis(250)), "250ms");
        assert_eq!(seconds(Duration::from_secs(4)), "4s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
    }
}
