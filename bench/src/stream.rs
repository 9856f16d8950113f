//! The live-stream scenario: N concurrent subscribers (5,000 by default) on one
//! application of a fresh hookd, while messages are published at a fixed rate (100/s).
//! The subscribers read Server-Sent Events, or WebSocket frames with `--stream-transport
//! ws` (numbers keyed `stream_ws.` instead of `stream.`).
//!
//! It reports publish→arrival latency (arrival at a subscriber minus the publish
//! request's send time, matched by message id, over a sample of the subscribers), the
//! share of (subscriber, message) pairs delivered, subscribers cut off, and hookd's
//! resident memory per idle subscriber (RSS with N idle subscribers minus RSS with one,
//! divided by N).
//!
//! **Invariant:** every subscriber reads its socket all the time (one task each), so a
//! cut-off means the server or this process fell behind, never a client that stopped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hyper::StatusCode;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::loadgen::{self, Pace, Target};
use crate::process::{machine_busy, own_cpu, Hookd};
use crate::scenario::{others_cpu_pct, publish_body, Setup};
use crate::stats::percentile;

/// One subscriber in this many records arrival times (all of them read everything).
const SAMPLE_EVERY: usize = 10;
/// Connections opened at once while subscribing.
const CONNECT_CONCURRENCY: usize = 128;
const MSG_ID_LEN: usize = 31;

/// How the subscribers read the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `text/event-stream`, one event per message.
    Sse,
    /// WebSocket text frames (the same path, upgraded).
    WebSocket,
}

impl Transport {
    /// The prefix of this transport's JSON keys.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Self::Sse => "stream",
            Self::WebSocket => "stream_ws",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sse => "SSE",
            Self::WebSocket => "WebSocket",
        }
    }

    fn request(self, path: &str, addr: SocketAddr, token: &str) -> String {
        match self {
            Self::Sse => format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
            ),
            // The key is fixed: nothing here checks the server's accept header.
            Self::WebSocket => format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
        }
    }

    /// What precedes a message id in a message's event or frame.
    fn message_prefix(self) -> &'static [u8] {
        match self {
            Self::Sse => b"data: {\"id\":\"",
            Self::WebSocket => b"\"message\":{\"id\":\"",
        }
    }

    fn ready_marker(self) -> &'static [u8] {
        match self {
            Self::Sse => b"event: ready",
            Self::WebSocket => b"\"type\":\"ready\"",
        }
    }

    /// Whether the server is ending the stream: the SSE `closing` event, or a WebSocket
    /// close frame, whose reason starts with the closing code.
    fn is_closing(self, received: &[u8]) -> bool {
        match self {
            Self::Sse => find(received, b"event: closing").is_some(),
            Self::WebSocket => [&b"slow_client"[..], b"shutting_down", b"unavailable"]
                .iter()
                .any(|code| find(received, code).is_some()),
        }
    }
}

/// What the subscribers share.
#[derive(Default)]
struct Tally {
    ready: AtomicU64,
    received: AtomicU64,
    cut_off: AtomicU64,
    ended: AtomicU64,
    /// Arrivals of the sampled subscribers: message id and when it arrived.
    arrivals: Mutex<Vec<(String, Instant)>>,
}

/// Runs the scenario with `subscribers` subscribers and publishes at `rate` per second
/// for the setup's duration.
///
/// # Errors
/// When hookd cannot start or the subscribers cannot connect.
pub async fn run(
    setup: &Setup,
    transport: Transport,
    subscribers: usize,
    rate: f64,
) -> anyhow::Result<Map<String, Value>> {
    let subscribers = subscribers.min(open_files_budget()?);
    eprintln!(
        "  hookd, live stream: {subscribers} {} subscribers, {rate} msg/s",
        transport.name()
    );
    let hookd = Hookd::start(&setup.hookd_binary, None).await?;
    let app = hookd.create_app().await?;
    let path = format!("/api/v1/app/{app}/stream");
    let tally = Arc::new(Tally::default());

    // One subscriber first, so the stream machinery exists before the baseline.
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(subscribe(
        transport,
        hookd.addr,
        path.clone(),
        hookd.token().to_owned(),
        Arc::clone(&tally),
        false,
    ));
    wait_until(
        || tally.ready.load(Ordering::Relaxed) >= 1,
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_one = hookd.rss_bytes()?;

    let connecting = Instant::now();
    let limiter = Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
    for index in 1..subscribers {
        let permit = Arc::clone(&limiter).acquire_owned().await?;
        let (addr, path, token, tally) = (
            hookd.addr,
            path.clone(),
            hookd.token().to_owned(),
            Arc::clone(&tally),
        );
        let sampled = index % SAMPLE_EVERY == 0;
        tasks.spawn(async move {
            let guard = Some(permit);
            subscribe_with(transport, addr, path, token, tally, sampled, guard).await
        });
    }
    let all_ready = wait_until(
        || tally.ready.load(Ordering::Relaxed) >= subscribers as u64,
        Duration::from_secs(120),
    )
    .await;
    if !all_ready {
        bail!(
            "only {} of {subscribers} subscribers became ready; hookd's log ends:\n{}",
            tally.ready.load(Ordering::Relaxed),
            hookd.log_tail()
        );
    }
    let connect_s = connecting.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_all = hookd.rss_bytes()?;
    let per_subscriber = rss_all.saturating_sub(rss_one) as f64 / (subscribers - 1).max(1) as f64;

    let target = Target {
        addr: hookd.addr,
        path: format!("/api/v1/app/{app}/msg"),
        token: Some(hookd.token().to_owned()),
        body: publish_body(),
        expect: StatusCode::ACCEPTED,
        keep_ids: true,
        provider_secret: None,
    };
    let (hookd_before, bench_before) = (hookd.cpu()?, own_cpu()?);
    let (machine_before, began) = (machine_busy()?, Instant::now());
    // Enough connections that the open loop keeps its rate even when a publish (a commit
    // on a busy disk) takes half a second.
    let connections = (rate / 2.0).ceil().clamp(4.0, 64.0) as usize;
    let load = loadgen::run(&target, connections, setup.duration, Pace::FixedRate(rate)).await?;
    let expected = load.ok * subscribers as u64;
    let drained = wait_until(
        || {
            tally.received.load(Ordering::Relaxed) + tally.cut_off.load(Ordering::Relaxed) * load.ok
                >= expected
        },
        setup.drain_timeout,
    )
    .await;
    let wall = began.elapsed();
    let hookd_cpu = hookd.cpu()?.since(hookd_before);
    let bench_cpu = own_cpu()?.since(bench_before);
    let machine_used = machine_busy()?.since(machine_before);
    if !drained {
        eprintln!(
            "    drain timeout: {} of {expected} (subscriber, message) arrivals",
            tally.received.load(Ordering::Relaxed)
        );
    }
    let peak = hookd.peak_rss_bytes()?;
    tasks.abort_all();
    drop(hookd);

    let arrivals = std::mem::take(&mut *tally.arrivals.lock().unwrap_or_else(|p| p.into_inner()));
    let mut latencies_us: Vec<u64> = arrivals
        .iter()
        .filter_map(|(id, arrived)| {
            let sent = load.sent_at.get(id)?;
            Some(arrived.saturating_duration_since(*sent).as_micros() as u64)
        })
        .collect();
    latencies_us.sort_unstable();
    let ms = |p: f64| percentile(&latencies_us, p).map(|us| us as f64 / 1000.0);

    let mut numbers = Map::new();
    let mut put = |key: &str, value: Value| {
        numbers.insert(format!("{}.{key}", transport.key_prefix()), value);
    };
    put("subscribers", json!(subscribers));
    put("connect_s", json!(connect_s));
    put("published", json!(load.ok));
    put("publish_per_s", json!(load.rate()));
    put("arrival_p50_ms", json!(ms(0.50)));
    put("arrival_p99_ms", json!(ms(0.99)));
    put("arrival_max_ms", json!(ms(1.0)));
    put("arrival_samples", json!(latencies_us.len()));
    put(
        "delivered_fraction",
        json!(tally.received.load(Ordering::Relaxed) as f64 / expected.max(1) as f64),
    );
    put("cut_off", json!(tally.cut_off.load(Ordering::Relaxed)));
    put("kib_per_idle_subscriber", json!(per_subscriber / 1024.0));
    put(
        "rss_one_subscriber_mb",
        json!(rss_one as f64 / (1 << 20) as f64),
    );
    put(
        "rss_all_subscribers_mb",
        json!(rss_all as f64 / (1 << 20) as f64),
    );
    put("rss_peak_mb", json!(peak as f64 / (1 << 20) as f64));
    put(
        "hookd_cpu_pct",
        json!(100.0 * hookd_cpu.as_secs_f64() / wall.as_secs_f64()),
    );
    put(
        "bench_cpu_pct",
        json!(100.0 * bench_cpu.as_secs_f64() / wall.as_secs_f64()),
    );
    put(
        "others_cpu_pct",
        json!(others_cpu_pct(machine_used, hookd_cpu + bench_cpu, wall)),
    );
    Ok(numbers)
}

/// How many subscribers this process can hold open (`ulimit -n`, minus room for
/// everything else); `bench/run` raises the soft limit to the hard one first.
fn open_files_budget() -> anyhow::Result<usize> {
    let limits =
        std::fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<usize>().ok())
        .unwrap_or(1024);
    let budget = soft.saturating_sub(256);
    Ok(budget.max(1))
}

async fn wait_until(condition: impl Fn() -> bool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

async fn subscribe(
    transport: Transport,
    addr: SocketAddr,
    path: String,
    token: String,
    tally: Arc<Tally>,
    sampled: bool,
) {
    subscribe_with(transport, addr, path, token, tally, sampled, None).await;
}

/// One subscriber: connects, reads until the stream ends, counting messages. `permit` is
/// released once it is ready, which paces the connecting.
async fn subscribe_with(
    transport: Transport,
    addr: SocketAddr,
    path: String,
    token: String,
    tally: Arc<Tally>,
    sampled: bool,
    mut permit: Option<tokio::sync::OwnedSemaphorePermit>,
) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        tally.ended.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let request = transport.request(&path, addr, &token);
    let message_prefix = transport.message_prefix();
    if stream.write_all(request.as_bytes()).await.is_err() {
        tally.ended.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut ready = false;
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    let mut buffer = vec![0u8; 16 * 1024];
    let mut local: Vec<(String, Instant)> = Vec::new();
    loop {
        let n = match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let arrived = Instant::now();
        pending.extend_from_slice(&buffer[..n]);
        if !ready && find(&pending, transport.ready_marker()).is_some() {
            ready = true;
            tally.ready.fetch_add(1, Ordering::Relaxed);
            permit.take();
        }
        if transport.is_closing(&pending) {
            tally.cut_off.fetch_add(1, Ordering::Relaxed);
            break;
        }
        let mut consumed = 0;
        while let Some(at) = find(&pending[consumed..], message_prefix) {
            let start = consumed + at + message_prefix.len();
            if pending.len() < start + MSG_ID_LEN {
                break;
            }
            tally.received.fetch_add(1, Ordering::Relaxed);
            if sampled {
                let id = String::from_utf8_lossy(&pending[start..start + MSG_ID_LEN]).into_owned();
                local.push((id, arrived));
            }
            consumed = start + MSG_ID_LEN;
        }
        // Keep only what may hold the start of the next event's prefix.
        let keep_from = if consumed > 0 {
            consumed
        } else {
            pending
                .len()
                .saturating_sub(message_prefix.len() + MSG_ID_LEN)
        };
        pending.drain(..keep_from.min(pending.len()));
        if sampled && local.len() >= 64 {
            tally
                .arrivals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .append(&mut local);
        }
    }
    if sampled {
        tally
            .arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&mut local);
    }
    tally.ended.fetch_add(1, Ordering::Relaxed);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
