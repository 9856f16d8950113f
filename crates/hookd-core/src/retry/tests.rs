use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

fn at(secs: i64) -> Timestamp {
    Utc.timestamp_opt(secs, 0).unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn no_jitter(schedule: &[Duration]) -> RetryPolicy {
    RetryPolicy {
        schedule: schedule.to_vec(),
        jitter: 0.0,
        ..RetryPolicy::default()
    }
}

#[test]
fn default_policy() {
    let policy = RetryPolicy::default();
    assert_eq!(format_schedule(&policy.schedule), "5s,5m,30m,2h,5h,10h,10h");
    assert_eq!(policy.max_attempts(), 8);
    assert_eq!(policy.jitter, 0.2);
    assert_eq!(policy.max_retry_after, secs(3600));
    assert_eq!(no_jitter(&[]).max_attempts(), 1);
}

#[test]
fn parse_schedules() {
    let check = |text: &str, expected: Result<Vec<Duration>, &str>| {
        assert_eq!(
            parse_schedule(text),
            expected.map_err(str::to_owned),
            "{text:?}"
        );
    };
    check(
        "5s,5m,30m,2h",
        Ok(vec![secs(5), secs(300), secs(1800), secs(7200)]),
    );
    check(" 1s , 1s ", Ok(vec![secs(1), secs(1)]));
    check(
        "250ms,1d",
        Ok(vec![Duration::from_millis(250), secs(86_400)]),
    );
    check("0s", Ok(vec![Duration::ZERO]));
    check("", Ok(vec![]));
    check("   ", Ok(vec![]));
    check(
        "5s,5x",
        Err(
            r#"invalid delay "5x" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "5",
        Err(
            r#"invalid delay "5" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "s",
        Err(
            r#"invalid delay "s" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "5s,,5m",
        Err(
            r#"invalid delay "" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "5s,",
        Err(
            r#"invalid delay "" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "-5s",
        Err(
            r#"invalid delay "-5s" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "+5s",
        Err(
            r#"invalid delay "+5s" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "1.5h",
        Err(
            r#"invalid delay "1.5h" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "5 s",
        Err(
            r#"invalid delay "5 s" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "5S",
        Err(
            r#"invalid delay "5S" in retry schedule: expected a number followed by ms, s, m, h or d"#,
        ),
    );
    check(
        "99999999999999d",
        Err(r#"delay "99999999999999d" in retry schedule is too long"#),
    );
}

#[test]
fn format_schedules() {
    let check = |schedule: &[Duration], expected: &str| {
        assert_eq!(format_schedule(schedule), expected);
        assert_eq!(parse_schedule(expected).as_deref(), Ok(schedule));
    };
    check(&[], "");
    check(&[secs(5), secs(300), secs(90), secs(7200)], "5s,5m,90s,2h");
    check(
        &[Duration::from_millis(1500), secs(172_800), Duration::ZERO],
        "1500ms,2d,0s",
    );
    assert_eq!(format_schedule(&[Duration::from_nanos(1_500_000)]), "1ms");
}

#[test]
fn next_steps() {
    let policy = no_jitter(&[secs(5), secs(300)]);
    let now = at(1_700_000_000);
    let rejected = |status, retry_after| Outcome::Rejected {
        status,
        retry_after,
    };
    let cases: Vec<(&str, u32, Outcome, NextStep)> = vec![
        (
            "delivered",
            1,
            Outcome::Delivered { status: 204 },
            NextStep::Succeeded,
        ),
        (
            "delivered late",
            9,
            Outcome::Delivered { status: 200 },
            NextStep::Succeeded,
        ),
        ("gone", 1, Outcome::Gone, NextStep::DisableEndpoint),
        (
            "first failure",
            1,
            Outcome::NoResponse,
            NextStep::RetryAt(at(1_700_000_005)),
        ),
        (
            "second failure",
            2,
            rejected(500, None),
            NextStep::RetryAt(at(1_700_000_300)),
        ),
        ("third failure", 3, rejected(500, None), NextStep::Exhausted),
        (
            "far past the end",
            u32::MAX,
            Outcome::NoResponse,
            NextStep::Exhausted,
        ),
        (
            "zero attempts",
            0,
            Outcome::NoResponse,
            NextStep::RetryAt(at(1_700_000_005)),
        ),
        (
            "redirect",
            1,
            rejected(302, None),
            NextStep::RetryAt(at(1_700_000_005)),
        ),
        (
            "429 asks longer",
            1,
            rejected(429, Some(secs(60))),
            NextStep::RetryAt(at(1_700_000_060)),
        ),
        (
            "503 asks longer",
            1,
            rejected(503, Some(secs(60))),
            NextStep::RetryAt(at(1_700_000_060)),
        ),
        (
            "retry-after shorter",
            2,
            rejected(429, Some(secs(60))),
            NextStep::RetryAt(at(1_700_000_300)),
        ),
        (
            "retry-after capped",
            1,
            rejected(429, Some(secs(86_400))),
            NextStep::RetryAt(at(1_700_003_600)),
        ),
        (
            "retry-after ignored on 500",
            1,
            rejected(500, Some(secs(60))),
            NextStep::RetryAt(at(1_700_000_005)),
        ),
        (
            "retry-after after the last retry",
            3,
            rejected(429, Some(secs(1))),
            NextStep::Exhausted,
        ),
    ];
    for (name, n_attempts, outcome, expected) in cases {
        assert_eq!(
            next_step(&policy, n_attempts, &outcome, now, 0.5),
            expected,
            "{name}"
        );
    }
}

#[test]
fn jitter_samples() {
    let policy = RetryPolicy {
        schedule: vec![secs(100)],
        jitter: 0.2,
        ..RetryPolicy::default()
    };
    let now = at(0);
    let cases = [
        (0.0, 80.0),
        (0.25, 90.0),
        (0.5, 100.0),
        (0.75, 110.0),
        (-3.0, 80.0),
        (1.0, 120.0),
        (7.0, 120.0),
        (f64::NAN, 100.0),
        (f64::INFINITY, 120.0),
        (f64::NEG_INFINITY, 80.0),
    ];
    for (sample, expected_secs) in cases {
        let NextStep::RetryAt(due_at) = next_step(&policy, 1, &Outcome::NoResponse, now, sample)
        else {
            panic!("sample {sample} should retry");
        };
        let delay = (due_at - now).as_seconds_f64();
        assert!(
            (delay - expected_secs).abs() < 1e-3,
            "sample {sample}: {delay}s"
        );
    }
}

#[test]
fn huge_durations_saturate() {
    let policy = RetryPolicy {
        schedule: vec![Duration::MAX],
        jitter: 0.2,
        max_retry_after: Duration::MAX,
    };
    let now = at(1_700_000_000);
    for sample in [0.0, 0.5, 0.999] {
        assert_eq!(
            next_step(&policy, 1, &Outcome::NoResponse, now, sample),
            NextStep::RetryAt(DateTime::<Utc>::MAX_UTC)
        );
    }
    let outcome = Outcome::Rejected {
        status: 503,
        retry_after: Some(Duration::MAX),
    };
    assert_eq!(
        next_step(
            &no_jitter(&[secs(1)]),
            1,
            &outcome,
            DateTime::<Utc>::MAX_UTC,
            0.5
        ),
        NextStep::RetryAt(DateTime::<Utc>::MAX_UTC)
    );
}

#[test]
fn disabling_endpoints() {
    let day = secs(86_400);
    let cases = [
        (None, 1_000_000, day, false),
        (Some(0), 86_399, day, false),
        (Some(0), 86_400, day, true),
        (Some(0), 1_000_000, day, true),
        (Some(100), 50, day, false),
        (Some(100), 50, Duration::ZERO, false),
        (Some(100), 100, Duration::ZERO, true),
        (Some(0), 1_000_000, Duration::MAX, false),
    ];
    for (failing_since, now, period, expected) in cases {
        assert_eq!(
            should_disable_endpoint(failing_since.map(at), at(now), period),
            expected,
            "{failing_since:?} {now} {period:?}"
        );
    }
}

fn arb_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::NoResponse),
        (300u16..600, proptest::option::of(0u64..1_000_000)).prop_map(|(status, retry_after)| {
            Outcome::Rejected {
                status,
                retry_after: retry_after.map(Duration::from_millis),
            }
        }),
        proptest::option::of(0u64..1_000_000_000).prop_map(|retry_after| Outcome::Rejected {
            status: 429,
            retry_after: retry_after.map(Duration::from_millis),
        }),
        proptest::option::of(0u64..1_000_000_000).prop_map(|retry_after| Outcome::Rejected {
            status: 503,
            retry_after: retry_after.map(Duration::from_millis),
        }),
    ]
}

proptest! {
    #[test]
    fn retries_stay_within_bounds(
        schedule_ms in proptest::collection::vec(0u64..100_000_000, 0..10),
        jitter in 0.0f64..=1.0,
        max_retry_after_ms in 0u64..10_000_000,
        n_attempts in 0u32..15,
        outcome in arb_outcome(),
        now_secs in 0i64..4_000_000_000,
        sample in proptest::num::f64::ANY,
    ) {
        let policy = RetryPolicy {
            schedule: schedule_ms.iter().copied().map(Duration::from_millis).collect(),
            jitter,
            max_retry_after: Duration::from_millis(max_retry_after_ms),
        };
        let now = at(now_secs);
        let step = next_step(&policy, n_attempts, &outcome, now, sample);
        let retry_idx = n_attempts.max(1) as usize - 1;
        if retry_idx >= policy.schedule.len() {
            prop_assert_eq!(step, NextStep::Exhausted);
            return Ok(());
        }
        let NextStep::RetryAt(due_at) = step else {
            return Err(TestCaseError::fail(format!("expected a retry, got {step:?}")));
        };
        prop_assert!(due_at >= now);
        let delay = (due_at - now).to_std().unwrap().as_secs_f64();
        let scheduled = policy.schedule[retry_idx].as_secs_f64();
        // Float rounding may stray by far less than a millisecond.
        let (low, high) = (scheduled * (1.0 - jitter) - 1e-3, scheduled * (1.0 + jitter) + 1e-3);
        match outcome {
            Outcome::Rejected { status: 429 | 503, retry_after: Some(retry_after) } => {
                let asked = retry_after.min(policy.max_retry_after).as_secs_f64();
                prop_assert!(delay >= asked - 1e-3, "{delay} < {asked}");
                prop_assert!(delay <= high.max(asked + 1e-3), "{delay} above both bounds");
                prop_assert!(delay <= high.max(policy.max_retry_after.as_secs_f64() + 1e-3));
            }
            _ => prop_assert!(low <= delay && delay <= high, "{delay} not in [{low}, {high}]"),
        }
    }

    #[test]
    fn terminal_outcomes_ignore_the_schedule(n_attempts in 0u32..100, status in 200u16..300) {
        let policy = RetryPolicy::default();
        let now = at(0);
        prop_assert_eq!(next_step(&policy, n_attempts, &Outcome::Delivered { status }, now, 0.5), NextStep::Succeeded);
        prop_assert_eq!(next_step(&policy, n_attempts, &Outcome::Gone, now, 0.5), NextStep::DisableEndpoint);
    }

    #[test]
    fn schedules_round_trip(schedule_ms in proptest::collection::vec(any::<u64>(), 0..10)) {
        let schedule: Vec<Duration> = schedule_ms.into_iter().map(Duration::from_millis).collect();
        prop_assert_eq!(parse_schedule(&format_schedule(&schedule)), Ok(schedule));
    }
}
