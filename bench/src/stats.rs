//! The arithmetic of the report: nearest-rank percentiles, medians, and the small duration
//! syntax of `--duration`.
//!
//! **Invariant:** these functions never panic on empty input; they answer `None`.

use std::time::Duration;

/// The `p`-th percentile (0 to 100) of `sorted` (ascending) by nearest rank: the smallest
/// value with at least `p`% of the values at or below it. `None` when `sorted` is empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The median of `values` in any order: the middle value, or the mean of the two middle
/// values when there is an even number of them. NaNs sort last. `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Parses `500ms`, `10s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit_ms) = if let Some(digits) = text.strip_suffix("ms") {
        (digits, 1.0)
    } else if let Some(digits) = text.strip_suffix('s') {
        (digits, 1_000.0)
    } else if let Some(digits) = text.strip_suffix('m') {
        (digits, 60_000.0)
    } else {
        (text, 1_000.0)
    };
    let value: f64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("expected a duration like 10s, 500ms or 2m, found {text:?}"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("a duration must be more than zero, found {text:?}"));
    }
    Ok(Duration::from_secs_f64(value * unit_ms / 1_000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        let check = |p: f64, expect: u32| assert_eq!(percentile(&values, p), Some(expect), "p{p}");
        check(0.0, 1);
        check(1.0, 1);
        check(50.0, 50);
        check(99.0, 99);
        check(99.5, 100);
        check(100.0, 100);

        assert_eq!(percentile(&[7u32], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 51.0), Some(3));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[]), None);
        // A run that produced no number (NaN) sorts last instead of poisoning the median.
        assert_eq!(median(&[1.0, f64::NAN, 2.0]), Some(2.0));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
    }
}
