//! The scenarios of one benchmark run, and the numbers each one produces.
//!
//! One run is: the roof at full speed; a fresh hookd with one endpoint published to at
//! full speed, then at half the delivery rate it sustained; a fresh hookd with ten
//! endpoints at full speed; and a fresh hookd with group commit off (`max_batch` 1) and
//! one endpoint at full speed. Each hookd starts on an empty database, so no scenario
//! pays for another's backlog.
//!
//! **Invariant:** every number is measured from the outside: requests and answers on the
//! wire, arrivals at the receiver, and `/proc` for CPU and memory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Map, Value};

use crate::loadgen::{self, Pace, Target};
use crate::process::{machine_busy, own_cpu, CpuTime, Hookd};
use crate::servers::Receiver;
use crate::stats::percentile;

/// What every scenario of a run shares.
#[derive(Debug, Clone)]
pub struct Setup {
    pub hookd_binary: PathBuf,
    pub duration: Duration,
    pub connections: usize,
    pub fanout_endpoints: usize,
    /// Longest wait for deliveries after publishing stops.
    pub drain_timeout: Duration,
    pub roof: SocketAddr,
    pub receiver_addr: SocketAddr,
    pub receiver: Arc<Receiver>,
}

/// The body every request carries, to hookd and to the roof alike: a Svix message with a
/// small, typical payload (about 250 bytes).
pub fn publish_body() -> Bytes {
    let body = json!({
        "eventType": "invoice.paid",
        "payload": {
            "type": "invoice.paid",
            "invoice": "in_1MtHbELkdIwHu7ixl4OzzPMv",
            "customer": "cus_NffrFeUfNV2Hib",
            "amountDue": 12000,
            "currency": "usd",
            "lines": [{"price": "price_1MtGUsLkdIwHu7ix1be5Ljaj", "quantity": 3}],
            "paid": true
        }
    });
    Bytes::from(body.to_string())
}

/// The roof and the inbound scenario alone (`--scenarios inbound`), for comparing
/// changes to the receive path quickly.
///
/// # Errors
/// As [`run_once`].
pub async fn run_inbound_once(setup: &Setup) -> anyhow::Result<Map<String, Value>> {
    let mut numbers = Map::new();
    let roof = roof_into(setup, &mut numbers).await?;
    inbound(setup, roof, &mut numbers).await?;
    Ok(numbers)
}

/// Runs every scenario once and returns the run's numbers, flat and in report order.
///
/// # Errors
/// When a server cannot start or the load cannot be sent.
pub async fn run_once(setup: &Setup) -> anyhow::Result<Map<String, Value>> {
    let mut numbers = Map::new();
    let roof = roof_into(setup, &mut numbers).await?;

    eprintln!("  hookd, 1 endpoint, max rate");
    let hookd = Hookd::start(&setup.hookd_binary, None).await?;
    let app = with_endpoints(&hookd, setup, 1).await?;
    // Let start-up allocations settle before calling the footprint idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = hookd.rss_bytes()?;
    let single = publish(&hookd, &app, setup, 1, Pace::MaxRate).await?;
    single.insert_into(&mut numbers, "single");
    let half_rate = (single.deliveries_per_s / 2.0).max(1.0);
    eprintln!("  hookd, 1 endpoint, open loop at {half_rate:.0} msg/s");
    let half = publish(&hookd, &app, setup, 1, Pace::FixedRate(half_rate)).await?;
    numbers.insert("half.target_msg_per_s".into(), json!(half_rate));
    half.insert_into(&mut numbers, "half");
    let peak_single = hookd.peak_rss_bytes()?;
    drop(hookd);

    let n = setup.fanout_endpoints;
    eprintln!("  hookd, {n} endpoints, max rate");
    let hookd = Hookd::start(&setup.hookd_binary, None).await?;
    let app = with_endpoints(&hookd, setup, n).await?;
    let fanout = publish(&hookd, &app, setup, n, Pace::MaxRate).await?;
    fanout.insert_into(&mut numbers, "fanout");
    let peak_fanout = hookd.peak_rss_bytes()?;
    drop(hookd);

    eprintln!("  hookd, 1 endpoint, max rate, group commit off (HOOKD_SQLITE_MAX_BATCH=1)");
    let hookd = Hookd::start(&setup.hookd_binary, Some(1)).await?;
    let app = with_endpoints(&hookd, setup, 1).await?;
    let unbatched = publish(&hookd, &app, setup, 1, Pace::MaxRate).await?;
    unbatched.insert_into(&mut numbers, "no_group_commit");
    drop(hookd);

    inbound(setup, roof, &mut numbers).await?;

    numbers.insert("rss.idle_mb".into(), json!(mib(idle_rss)));
    numbers.insert("rss.peak_single_mb".into(), json!(mib(peak_single)));
    numbers.insert("rss.peak_fanout_mb".into(), json!(mib(peak_fanout)));
    numbers.insert(
        "ratio.single_delivered_over_roof".into(),
        json!(single.deliveries_per_s / roof),
    );
    numbers.insert(
        "ratio.fanout_over_single".into(),
        json!(fanout.deliveries_per_s / single.deliveries_per_s),
    );
    numbers.insert(
        "ratio.group_commit_publish_speedup".into(),
        json!(single.publish_per_s / unbatched.publish_per_s),
    );
    Ok(numbers)
}

/// What a publishing scenario measured.
#[derive(Debug)]
pub(crate) struct PublishNumbers {
    pub(crate) publish_per_s: f64,
    publish_p50_ms: f64,
    publish_p99_ms: f64,
    publish_failed: u64,
    pub(crate) messages: u64,
    deliveries: u64,
    /// Deliveries expected but not seen within the drain timeout.
    undelivered: u64,
    /// Deliveries per second from the first publish to the last arrival.
    pub(crate) deliveries_per_s: f64,
    arrival_p50_ms: f64,
    arrival_p99_ms: f64,
    hookd_cpu_ms_per_msg: f64,
    bench_cpu_ms_per_msg: f64,
    /// CPU used by other programs on the machine meanwhile, in percent of one core. A
    /// large value means the run was disturbed.
    pub(crate) others_cpu_pct: f64,
    /// Share of hookd's CPU time per thread name, in percent.
    hookd_threads: Vec<(String, f64)>,
    /// CPU of the PostgreSQL backends per message, when the scenario measured it.
    pub(crate) postgres_cpu_ms_per_msg: Option<f64>,
}

impl PublishNumbers {
    pub(crate) fn insert_into(&self, numbers: &mut Map<String, Value>, prefix: &str) {
        let mut put = |name: &str, value: Value| {
            numbers.insert(format!("{prefix}.{name}"), value);
        };
        put("publish_req_per_s", json!(self.publish_per_s));
        put("publish_p50_ms", json!(self.publish_p50_ms));
        put("publish_p99_ms", json!(self.publish_p99_ms));
        put("publish_failed", json!(self.publish_failed));
        put("messages", json!(self.messages));
        put("deliveries", json!(self.deliveries));
        put("undelivered", json!(self.undelivered));
        put("deliveries_per_s", json!(self.deliveries_per_s));
        put("arrival_p50_ms", json!(self.arrival_p50_ms));
        put("arrival_p99_ms", json!(self.arrival_p99_ms));
        put("hookd_cpu_ms_per_msg", json!(self.hookd_cpu_ms_per_msg));
        put("bench_cpu_ms_per_msg", json!(self.bench_cpu_ms_per_msg));
        put("others_cpu_pct", json!(self.others_cpu_pct));
        if let Some(postgres) = self.postgres_cpu_ms_per_msg {
            put("postgres_cpu_ms_per_msg", json!(postgres));
        }
        for (thread, share) in &self.hookd_threads {
            put(&format!("hookd_cpu_pct.{thread}"), json!(share));
        }
    }
}

/// The roof's req/s, and the CPU other programs used meanwhile (% of one core).
async fn roof(setup: &Setup) -> anyhow::Result<(f64, f64)> {
    let target = Target {
        addr: setup.roof,
        path: "/api/v1/app/bench/msg".into(),
        token: None,
        body: publish_body(),
        expect: StatusCode::ACCEPTED,
        keep_ids: false,
        provider_secret: None,
    };
    let (machine_before, own_before, began) = (machine_busy()?, own_cpu()?, Instant::now());
    let result = loadgen::run(&target, setup.connections, setup.duration, Pace::MaxRate).await?;
    let others = others_cpu_pct(
        machine_busy()?.since(machine_before),
        own_cpu()?.since(own_before),
        began.elapsed(),
    );
    if result.failed > 0 {
        bail!(
            "the roof failed {} requests: {:?}",
            result.failed,
            result.first_failure
        );
    }
    Ok((result.rate(), others))
}

/// Creates an application with `n` endpoints on the receiver; returns the application id.
pub(crate) async fn with_endpoints(
    hookd: &Hookd,
    setup: &Setup,
    n: usize,
) -> anyhow::Result<String> {
    let app = hookd.create_app().await?;
    for index in 0..n {
        let url = format!("http://{}/ep/{index}", setup.receiver_addr);
        hookd.create_endpoint(&app, &url).await?;
    }
    Ok(app)
}

/// Publishes to `app` for the scenario's duration, waits for the deliveries, and
/// measures both sides.
async fn publish(
    hookd: &Hookd,
    app: &str,
    setup: &Setup,
    endpoints: usize,
    pace: Pace,
) -> anyhow::Result<PublishNumbers> {
    publish_to_nodes(&[hookd], app, setup, endpoints, pace).await
}

/// [`publish`] spread over several nodes sharing one database: the load generator's
/// connections are split evenly between them, and hookd's CPU is the nodes' sum.
pub(crate) async fn publish_to_nodes(
    nodes: &[&Hookd],
    app: &str,
    setup: &Setup,
    endpoints: usize,
    pace: Pace,
) -> anyhow::Result<PublishNumbers> {
    setup.receiver.take();
    let targets: Vec<Target> = nodes
        .iter()
        .map(|hookd| Target {
            addr: hookd.addr,
            path: format!("/api/v1/app/{app}/msg"),
            token: Some(hookd.token().to_owned()),
            body: publish_body(),
            expect: StatusCode::ACCEPTED,
            keep_ids: true,
            provider_secret: None,
        })
        .collect();
    let (hookd_cpu_before, threads_before) = (cpu_of_nodes(nodes)?, threads_of_nodes(nodes)?);
    let bench_cpu_before = own_cpu()?;
    let (machine_before, began) = (machine_busy()?, Instant::now());
    let load = loadgen::run_spread(&targets, setup.connections, setup.duration, pace)
        .await
        .with_context(|| {
            format!(
                "publishing to hookd; its log ends:\n{}",
                nodes[0].log_tail()
            )
        })?;
    if let Some(failure) = &load.first_failure {
        eprintln!(
            "    {} publishes failed, the first with: {failure}",
            load.failed
        );
    }
    let expected = load.ok * endpoints as u64;
    let drained = wait_for_arrivals(&setup.receiver, expected, setup.drain_timeout).await;
    let (hookd_cpu_after, threads_after) = (cpu_of_nodes(nodes)?, threads_of_nodes(nodes)?);
    let bench_cpu_after = own_cpu()?;
    let machine_used = machine_busy()?.since(machine_before);
    let wall = began.elapsed();
    if !drained {
        eprintln!(
            "    drain timeout: {} of {expected} deliveries arrived within {:?}",
            setup.receiver.count(),
            setup.drain_timeout
        );
    }
    let arrivals = setup.receiver.take();
    let started_at = load.started_at.context("the load never started")?;
    let (deliveries, arrival_ms, last_arrival) = match_arrivals(&load.sent_at, &arrivals);
    let delivering_for = last_arrival.map_or(Duration::ZERO, |last| last - started_at);
    let messages = load.ok.max(1) as f64;
    let hookd_cpu = hookd_cpu_after.since(hookd_cpu_before);
    let bench_cpu = bench_cpu_after.since(bench_cpu_before);
    Ok(PublishNumbers {
        publish_per_s: load.rate(),
        publish_p50_ms: ms(percentile(&load.latencies_us, 50.0)),
        publish_p99_ms: ms(percentile(&load.latencies_us, 99.0)),
        publish_failed: load.failed,
        messages: load.ok,
        deliveries,
        undelivered: expected.saturating_sub(deliveries),
        deliveries_per_s: deliveries as f64 / delivering_for.as_secs_f64().max(1e-9),
        arrival_p50_ms: percentile(&arrival_ms, 50.0).unwrap_or(f64::NAN),
        arrival_p99_ms: percentile(&arrival_ms, 99.0).unwrap_or(f64::NAN),
        hookd_cpu_ms_per_msg: hookd_cpu.as_secs_f64() * 1e3 / messages,
        bench_cpu_ms_per_msg: bench_cpu.as_secs_f64() * 1e3 / messages,
        others_cpu_pct: others_cpu_pct(machine_used, hookd_cpu + bench_cpu, wall),
        hookd_threads: thread_shares(&threads_before, &threads_after, hookd_cpu),
        postgres_cpu_ms_per_msg: None,
    })
}

/// CPU time used so far by all of `nodes`.
fn cpu_of_nodes(nodes: &[&Hookd]) -> anyhow::Result<CpuTime> {
    let mut total = CpuTime::default();
    for hookd in nodes {
        total = total.plus(hookd.cpu()?);
    }
    Ok(total)
}

/// CPU time used so far by each thread name, summed over `nodes`.
fn threads_of_nodes(nodes: &[&Hookd]) -> anyhow::Result<Vec<(String, CpuTime)>> {
    let mut totals: Vec<(String, CpuTime)> = Vec::new();
    for hookd in nodes {
        for (name, cpu) in hookd.cpu_by_thread_name()? {
            match totals.iter_mut().find(|(known, _)| *known == name) {
                Some((_, total)) => *total = total.plus(cpu),
                None => totals.push((name, cpu)),
            }
        }
    }
    Ok(totals)
}

/// Waits until `expected` deliveries have arrived, or `timeout` passes, or none arrive
/// for 5 s (retries are seconds apart, so the run is stuck). Returns whether all came.
pub(crate) async fn wait_for_arrivals(
    receiver: &Receiver,
    expected: u64,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    let (mut last_count, mut last_progress) = (receiver.count(), Instant::now());
    loop {
        let count = receiver.count();
        if count >= expected {
            return true;
        }
        let now = Instant::now();
        if count != last_count {
            (last_count, last_progress) = (count, now);
        }
        if now > deadline || now - last_progress > Duration::from_secs(5) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Pairs each arrival with its publish by message id. Returns how many arrivals belong to
/// this scenario, their publish-to-arrival latencies in ms (ascending), and the last
/// arrival.
fn match_arrivals(
    sent_at: &HashMap<String, Instant>,
    arrivals: &[crate::servers::Arrival],
) -> (u64, Vec<f64>, Option<Instant>) {
    let mut latencies = Vec::with_capacity(arrivals.len());
    let mut last = None;
    for arrival in arrivals {
        if let Some(sent) = sent_at.get(&arrival.message_id) {
            latencies.push(arrival.at.saturating_duration_since(*sent).as_secs_f64() * 1e3);
            last = last.max(Some(arrival.at));
        }
    }
    latencies.sort_by(f64::total_cmp);
    (latencies.len() as u64, latencies, last)
}

/// Each thread name's share of `total`, in percent.
fn thread_shares(
    before: &[(String, CpuTime)],
    after: &[(String, CpuTime)],
    total: Duration,
) -> Vec<(String, f64)> {
    after
        .iter()
        .map(|(name, cpu)| {
            let used = match before.iter().find(|(known, _)| known == name) {
                Some((_, earlier)) => cpu.since(*earlier),
                None => cpu.since(CpuTime::default()),
            };
            let share = 100.0 * used.as_secs_f64() / total.as_secs_f64().max(1e-9);
            (name.clone(), share)
        })
        .collect()
}

/// CPU the machine spent on programs other than ours, in percent of one core over `wall`.
/// Clock-tick rounding can make it slightly negative; it is reported as 0 then.
pub(crate) fn others_cpu_pct(machine: Duration, ours: Duration, wall: Duration) -> f64 {
    let others = machine.as_secs_f64() - ours.as_secs_f64();
    (100.0 * others / wall.as_secs_f64().max(1e-9)).max(0.0)
}

pub(crate) fn ms(micros: Option<u32>) -> f64 {
    micros.map_or(f64::NAN, |micros| f64::from(micros) / 1e3)
}

pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Measures the roof, records it in `numbers` and returns its req/s.
async fn roof_into(setup: &Setup, numbers: &mut Map<String, Value>) -> anyhow::Result<f64> {
    eprintln!("  roof: bare axum answering 202");
    let (roof, roof_others) = roof(setup).await?;
    numbers.insert("roof.req_per_s".into(), json!(roof));
    numbers.insert("roof.others_cpu_pct".into(), json!(roof_others));
    Ok(roof)
}

/// The inbound scenario on a fresh server, with its ratios to `roof`.
async fn inbound(setup: &Setup, roof: f64, numbers: &mut Map<String, Value>) -> anyhow::Result<()> {
    eprintln!("  hookd, inbound: standard-webhooks-signed requests at /in/{{source}}");
    let hookd = Hookd::start(&setup.hookd_binary, None).await?;
    let app = with_endpoints(&hookd, setup, 1).await?;
    let inbound = crate::inbound::run(&hookd, &app, setup).await?;
    for (key, value) in inbound {
        numbers.insert(key, value);
    }
    for (acknowledged, ratio) in [
        ("inbound.ack_req_per_s", "ratio.inbound_ack_over_roof"),
        (
            "inbound_bare.ack_req_per_s",
            "ratio.inbound_bare_ack_over_roof",
        ),
    ] {
        let rate = numbers
            .get(acknowledged)
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN);
        numbers.insert(ratio.into(), json!(rate / roof));
    }
    drop(hookd);
    Ok(())
}
