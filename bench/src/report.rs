//! The report: medians over runs, a markdown table on stdout, the targets met or missed,
//! and everything (every run, every number) as JSON for later comparison.
//!
//! **Invariant:** a median is taken per number over the runs; ratios are computed inside
//! each run first (both sides measured on the same machine minutes apart) and then their
//! median is reported, never a ratio of medians.

use std::io::Write;

use serde_json::{Map, Value};

use crate::stats::median;

/// The rows of the main table: JSON key and label.
const ROWS: &[(&str, &str)] = &[
    ("roof.req_per_s", "Roof: bare axum answering 202, req/s"),
    (
        "single.publish_req_per_s",
        "1 endpoint, max rate: publish req/s",
    ),
    (
        "single.publish_p50_ms",
        "1 endpoint, max rate: publish p50 ms",
    ),
    (
        "single.publish_p99_ms",
        "1 endpoint, max rate: publish p99 ms",
    ),
    (
        "single.deliveries_per_s",
        "1 endpoint, max rate: delivered msg/s",
    ),
    (
        "single.arrival_p50_ms",
        "1 endpoint, max rate: publish→arrival p50 ms",
    ),
    (
        "single.arrival_p99_ms",
        "1 endpoint, max rate: publish→arrival p99 ms",
    ),
    (
        "single.hookd_cpu_ms_per_msg",
        "1 endpoint, max rate: hookd CPU ms/msg",
    ),
    (
        "single.bench_cpu_ms_per_msg",
        "1 endpoint, max rate: load gen + receiver CPU ms/msg",
    ),
    (
        "half.target_msg_per_s",
        "Half rate: offered msg/s (open loop)",
    ),
    ("half.publish_p50_ms", "Half rate: publish p50 ms"),
    ("half.publish_p99_ms", "Half rate: publish p99 ms"),
    ("half.arrival_p50_ms", "Half rate: publish→arrival p50 ms"),
    ("half.arrival_p99_ms", "Half rate: publish→arrival p99 ms"),
    ("half.hookd_cpu_ms_per_msg", "Half rate: hookd CPU ms/msg"),
    (
        "fanout.publish_req_per_s",
        "10 endpoints, max rate: publish req/s",
    ),
    (
        "fanout.publish_p99_ms",
        "10 endpoints, max rate: publish p99 ms",
    ),
    (
        "fanout.deliveries_per_s",
        "10 endpoints, max rate: deliveries/s",
    ),
    (
        "fanout.arrival_p50_ms",
        "10 endpoints, max rate: publish→arrival p50 ms",
    ),
    (
        "fanout.arrival_p99_ms",
        "10 endpoints, max rate: publish→arrival p99 ms",
    ),
    (
        "fanout.hookd_cpu_ms_per_msg",
        "10 endpoints, max rate: hookd CPU ms/msg (10 deliveries)",
    ),
    (
        "no_group_commit.publish_req_per_s",
        "Group commit off: publish req/s",
    ),
    (
        "no_group_commit.publish_p50_ms",
        "Group commit off: publish p50 ms",
    ),
    (
        "no_group_commit.publish_p99_ms",
        "Group commit off: publish p99 ms",
    ),
    (
        "no_group_commit.deliveries_per_s",
        "Group commit off: delivered msg/s",
    ),
    (
        "no_group_commit.hookd_cpu_ms_per_msg",
        "Group commit off: hookd CPU ms/msg",
    ),
    (
        "pg1.publish_req_per_s",
        "PostgreSQL 1 node, 1 endpoint: publish req/s",
    ),
    (
        "pg1.publish_p99_ms",
        "PostgreSQL 1 node, 1 endpoint: publish p99 ms",
    ),
    (
        "pg1.deliveries_per_s",
        "PostgreSQL 1 node, 1 endpoint: delivered msg/s",
    ),
    (
        "pg1.hookd_cpu_ms_per_msg",
        "PostgreSQL 1 node, 1 endpoint: hookd CPU ms/msg",
    ),
    (
        "pg1.postgres_cpu_ms_per_msg",
        "PostgreSQL 1 node, 1 endpoint: PostgreSQL backends' CPU ms/msg",
    ),
    (
        "pg2.publish_req_per_s",
        "PostgreSQL 2 nodes, 1 endpoint: publish req/s",
    ),
    (
        "pg2.publish_p99_ms",
        "PostgreSQL 2 nodes, 1 endpoint: publish p99 ms",
    ),
    (
        "pg2.deliveries_per_s",
        "PostgreSQL 2 nodes, 1 endpoint: delivered msg/s",
    ),
    (
        "pg2.hookd_cpu_ms_per_msg",
        "PostgreSQL 2 nodes, 1 endpoint: hookd CPU ms/msg (both nodes)",
    ),
    (
        "drain1.seconds",
        "PostgreSQL drain of the backlog, 1 node: s",
    ),
    (
        "drain1.deliveries_per_s",
        "PostgreSQL drain, 1 node: deliveries/s",
    ),
    (
        "drain1.hookd_cpu_ms_per_delivery",
        "PostgreSQL drain, 1 node: hookd CPU ms/delivery",
    ),
    (
        "drain2.seconds",
        "PostgreSQL drain of the backlog, 2 nodes: s",
    ),
    (
        "drain2.deliveries_per_s",
        "PostgreSQL drain, 2 nodes: deliveries/s",
    ),
    (
        "drain2.hookd_cpu_ms_per_delivery",
        "PostgreSQL drain, 2 nodes: hookd CPU ms/delivery",
    ),
    (
        "drain1.postgres_cpu_ms_per_delivery",
        "PostgreSQL drain, 1 node: PostgreSQL backends' CPU ms/delivery",
    ),
    (
        "drain1.peak_rss_mb",
        "RSS peak, draining node (1 node), MiB",
    ),
    (
        "roof.others_cpu_pct",
        "Other programs' CPU during the roof, % of a core",
    ),
    (
        "single.others_cpu_pct",
        "Other programs' CPU during 1 endpoint, % of a core",
    ),
    ("rss.idle_mb", "RSS idle after start, MiB"),
    ("rss.peak_single_mb", "RSS peak, 1-endpoint server, MiB"),
    ("rss.peak_fanout_mb", "RSS peak, 10-endpoint server, MiB"),
    (
        "ratio.single_delivered_over_roof",
        "Ratio: delivered msg/s ÷ roof req/s",
    ),
    (
        "ratio.fanout_over_single",
        "Ratio: 10-endpoint deliveries/s ÷ 1-endpoint",
    ),
    (
        "ratio.group_commit_publish_speedup",
        "Ratio: publish req/s with ÷ without group commit",
    ),
    (
        "inbound.ack_req_per_s",
        "Inbound: signed requests acknowledged, req/s",
    ),
    ("inbound.ack_p99_ms", "Inbound, max rate: ack p99 ms"),
    (
        "inbound_half.target_req_per_s",
        "Inbound, half rate: target req/s",
    ),
    ("inbound_half.ack_p50_ms", "Inbound, half rate: ack p50 ms"),
    ("inbound_half.ack_p99_ms", "Inbound, half rate: ack p99 ms"),
    (
        "inbound.hookd_cpu_ms_per_req",
        "Inbound: hookd CPU ms/request",
    ),
    (
        "inbound.verify_us_per_req",
        "Inbound: verify() cost, µs/request (in-process)",
    ),
    (
        "inbound.others_cpu_pct",
        "Inbound: other programs' CPU, % of a core",
    ),
    (
        "ratio.inbound_ack_over_roof",
        "Ratio: inbound acknowledged req/s ÷ roof",
    ),
    (
        "inbound_bare.ack_req_per_s",
        "Inbound, application without endpoints: acknowledged req/s",
    ),
    (
        "inbound_bare.ack_p99_ms",
        "Inbound, application without endpoints: ack p99 ms",
    ),
    (
        "inbound_bare.hookd_cpu_ms_per_req",
        "Inbound, application without endpoints: hookd CPU ms/request",
    ),
    (
        "inbound_bare.others_cpu_pct",
        "Inbound, application without endpoints: other programs' CPU, % of a core",
    ),
    (
        "ratio.inbound_bare_ack_over_roof",
        "Ratio: inbound acknowledged req/s without endpoints ÷ roof",
    ),
    (
        "pg1.others_cpu_pct",
        "Other programs' CPU during PostgreSQL 1 node, % of a core",
    ),
    (
        "drain1.others_cpu_pct",
        "Other programs' CPU during the 1-node drain, % of a core",
    ),
    (
        "drain2.others_cpu_pct",
        "Other programs' CPU during the 2-node drain, % of a core",
    ),
    (
        "ratio.pg_over_sqlite_delivered",
        "Ratio: PostgreSQL 1-node delivered msg/s ÷ SQLite",
    ),
    (
        "ratio.pg_two_nodes_over_one_delivered",
        "Ratio: PostgreSQL 2 nodes ÷ 1 node, delivered msg/s",
    ),
    (
        "ratio.pg_two_nodes_over_one_drain",
        "Ratio: PostgreSQL 2 nodes ÷ 1 node, drain deliveries/s",
    ),
    ("stream.subscribers", "Stream: concurrent SSE subscribers"),
    (
        "stream.publish_per_s",
        "Stream: published msg/s (open loop)",
    ),
    ("stream.arrival_p50_ms", "Stream: publish→arrival p50 ms"),
    ("stream.arrival_p99_ms", "Stream: publish→arrival p99 ms"),
    (
        "stream.delivered_fraction",
        "Stream: (subscriber, message) pairs delivered, fraction",
    ),
    ("stream.cut_off", "Stream: subscribers cut off as slow"),
    (
        "stream.kib_per_idle_subscriber",
        "Stream: hookd RSS per idle subscriber, KiB",
    ),
    ("stream.hookd_cpu_pct", "Stream: hookd CPU, % of a core"),
    (
        "stream.bench_cpu_pct",
        "Stream: subscribers + publisher CPU, % of a core",
    ),
    (
        "stream.others_cpu_pct",
        "Other programs' CPU during the stream, % of a core",
    ),
    (
        "stream_ws.subscribers",
        "Stream (WebSocket): concurrent subscribers",
    ),
    (
        "stream_ws.publish_per_s",
        "Stream (WebSocket): published msg/s (open loop)",
    ),
    (
        "stream_ws.arrival_p50_ms",
        "Stream (WebSocket): publish→arrival p50 ms",
    ),
    (
        "stream_ws.arrival_p99_ms",
        "Stream (WebSocket): publish→arrival p99 ms",
    ),
    (
        "stream_ws.delivered_fraction",
        "Stream (WebSocket): (subscriber, message) pairs delivered, fraction",
    ),
    (
        "stream_ws.cut_off",
        "Stream (WebSocket): subscribers cut off as slow",
    ),
    (
        "stream_ws.kib_per_idle_subscriber",
        "Stream (WebSocket): hookd RSS per idle subscriber, KiB",
    ),
    (
        "stream_ws.hookd_cpu_pct",
        "Stream (WebSocket): hookd CPU, % of a core",
    ),
    (
        "stream_ws.others_cpu_pct",
        "Other programs' CPU during the WebSocket stream, % of a core",
    ),
];

/// A target from the issue: the number it reads, a description, and the test.
struct Goal {
    key: &'static str,
    text: &'static str,
    met: fn(f64) -> bool,
}

const GOALS: &[Goal] = &[
    Goal {
        key: "ratio.inbound_ack_over_roof",
        text: "inbound acknowledged req/s ≥ 30% of the roof",
        met: |ratio| ratio >= 0.30,
    },
    Goal {
        key: "inbound_half.ack_p99_ms",
        text: "inbound ack p99 < 20 ms at half the acknowledged rate",
        met: |p99| p99 < 20.0,
    },
    Goal {
        key: "ratio.single_delivered_over_roof",
        text: "delivered msg/s with 1 endpoint ≥ 10% of the roof (aim 25%)",
        met: |ratio| ratio >= 0.10,
    },
    Goal {
        key: "ratio.fanout_over_single",
        text: "10-endpoint deliveries/s ≥ 3× the 1-endpoint rate",
        met: |ratio| ratio >= 3.0,
    },
    Goal {
        key: "half.publish_p99_ms",
        text: "publish p99 < 20 ms at half the sustained rate",
        met: |p99| p99 < 20.0,
    },
    Goal {
        key: "ratio.pg_over_sqlite_delivered",
        text: "PostgreSQL single-node delivered msg/s ≥ 60% of SQLite's",
        met: |ratio| ratio >= 0.6,
    },
    Goal {
        key: "rss.idle_mb",
        text: "idle RSS < 40 MB",
        met: |mib| mib * 1.048_576 < 40.0,
    },
    Goal {
        key: "stream.arrival_p99_ms",
        text: "stream publish→arrival p99 < 100 ms at 100 msg/s",
        met: |p99| p99 < 100.0,
    },
    Goal {
        key: "stream.kib_per_idle_subscriber",
        text: "stream memory per idle subscriber < 16 KiB",
        met: |kib| kib < 16.0,
    },
];

/// The median of every number over `runs`, keyed and ordered as in the first run.
pub fn medians(runs: &[Map<String, Value>]) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(first) = runs.first() else {
        return out;
    };
    for key in first.keys() {
        let values: Vec<f64> = runs.iter().map(|run| number(run, key)).collect();
        let value = median(&values).filter(|value| value.is_finite());
        out.insert(key.clone(), value.map_or(Value::Null, Value::from));
    }
    out
}

/// Writes the markdown report of `runs` and their `medians` to `out`.
///
/// # Errors
/// When `out` cannot be written.
pub fn write_markdown(
    out: &mut impl Write,
    runs: &[Map<String, Value>],
    medians: &Map<String, Value>,
) -> std::io::Result<()> {
    write!(out, "\n| Metric | Median |")?;
    for index in 1..=runs.len() {
        write!(out, " Run {index} |")?;
    }
    write!(out, "\n| --- | ---: |")?;
    for _ in runs {
        write!(out, " ---: |")?;
    }
    writeln!(out)?;
    for (key, label) in ROWS {
        write!(out, "| {label} | **{}** |", format(number(medians, key)))?;
        for run in runs {
            write!(out, " {} |", format(number(run, key)))?;
        }
        writeln!(out)?;
    }

    writeln!(out, "\n| Target | Median | Met |\n| --- | ---: | :---: |")?;
    for goal in GOALS {
        let value = number(medians, goal.key);
        let verdict = if !value.is_finite() {
            "?"
        } else if (goal.met)(value) {
            "yes"
        } else {
            "**no**"
        };
        writeln!(out, "| {} | {} | {verdict} |", goal.text, format(value))?;
    }

    writeln!(
        out,
        "\n| hookd CPU by thread (median % of its CPU) | 1 endpoint | 10 endpoints |\n| --- | ---: | ---: |"
    )?;
    let threads = medians
        .keys()
        .filter_map(|key| key.strip_prefix("single.hookd_cpu_pct."));
    for thread in threads {
        let single = number(medians, &format!("single.hookd_cpu_pct.{thread}"));
        let fanout = number(medians, &format!("fanout.hookd_cpu_pct.{thread}"));
        // The main thread only waits; leave out threads that did nothing.
        if single.max(fanout) < 0.05 {
            continue;
        }
        writeln!(
            out,
            "| {thread} | {} | {} |",
            format(single),
            format(fanout)
        )?;
    }
    Ok(())
}

fn number(map: &Map<String, Value>, key: &str) -> f64 {
    map.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// Three significant figures or so, with no exponent.
fn format(value: f64) -> String {
    match value.abs() {
        v if !v.is_finite() => "–".into(),
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        v if v >= 1.0 => format!("{value:.2}"),
        _ => format!("{value:.3}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn medians_are_taken_per_number_and_skip_missing_values() {
        let runs: Vec<Map<String, Value>> = [
            json!({"a": 1.0, "b": 10.0, "c": null}),
            json!({"a": 3.0, "b": 30.0, "c": null}),
            json!({"a": 2.0, "b": 20.0, "c": null}),
        ]
        .into_iter()
        .map(|run| run.as_object().unwrap().clone())
        .collect();
        let medians = medians(&runs);
        assert_eq!(medians["a"], json!(2.0));
        assert_eq!(medians["b"], json!(20.0));
        assert_eq!(medians["c"], Value::Null);
        assert_eq!(medians.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn numbers_are_formatted_to_about_three_figures() {
        assert_eq!(format(81234.4), "81234");
        assert_eq!(format(12.345), "12.3");
        assert_eq!(format(1.2345), "1.23");
        assert_eq!(format(0.12345), "0.123");
        assert_eq!(format(f64::NAN), "–");
    }
}
