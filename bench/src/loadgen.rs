//! The load generator: keep-alive HTTP/1.1 connections, each sending one request at a
//! time, either as fast as answers come back (closed loop, [`Pace::MaxRate`]) or on a fixed
//! schedule (open loop, [`Pace::FixedRate`]).
//!
//! It is deliberately thin (hyper's client connection, no pool, no per-request allocation
//! beyond the request itself) because it shares the machine's cores with the server it
//! measures.
//!
//! **Invariants:** a request's latency runs from the moment it was *due* to the last byte
//! of its answer, so an open-loop run that falls behind reports the delay it caused
//! (no coordinated omission); in a closed loop "due" is the moment it was sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

/// Where the load goes and what every request carries.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub body: Bytes,
    /// The status every answer should have; others count as failures.
    pub expect: StatusCode,
    /// Read `{"id": …}` from each answer and remember when that request was sent.
    pub keep_ids: bool,
    /// Sign each request as a Standard Webhooks provider would, with this `whsec_`
    /// secret and a fresh `webhook-id` per request (the inbound scenario).
    pub provider_secret: Option<String>,
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each connection sends its next request as soon as the previous one is answered.
    MaxRate,
    /// Requests are due at a fixed rate (per second) across all connections.
    FixedRate(f64),
}

/// What one load run measured.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// When the first request could be sent.
    pub started_at: Option<Instant>,
    /// From `started_at` to the last answer.
    pub elapsed: Duration,
    /// Answers with the expected status.
    pub ok: u64,
    /// Answers with another status, and requests lost to connection errors.
    pub failed: u64,
    /// The first failure, for the log.
    pub first_failure: Option<String>,
    /// Latency of each expected answer in microseconds, ascending.
    pub latencies_us: Vec<u32>,
    /// With `keep_ids`: the id of each answer and when its request was sent.
    pub sent_at: HashMap<String, Instant>,
}

impl LoadResult {
    /// Expected answers per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends requests to `target` over `connections` connections for `duration`, paced by
/// `pace`, and returns once every request sent has been answered.
///
/// # Errors
/// When a connection cannot be opened at the start.
pub async fn run(
    target: &Target,
    connections: usize,
    duration: Duration,
    pace: Pace,
) -> anyhow::Result<LoadResult> {
    let connections = connections.max(1);
    let shared = Arc::new(Shared::new(target)?);
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(target.addr).await?);
    }
    let started_at = Instant::now();
    let deadline = started_at + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (index, sender) in senders.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let schedule = Schedule {
            pace,
            started_at,
            deadline,
            first: index as u64,
            step: connections as u64,
        };
        tasks.spawn(async move { connection_loop(shared, sender, schedule).await });
    }
    let mut result = LoadResult {
        started_at: Some(started_at),
        ..LoadResult::default()
    };
    let mut last_answer = started_at;
    while let Some(joined) = tasks.join_next().await {
        let part = joined.context("a load connection task failed")?;
        result.ok += part.ok;
        result.failed += part.failed;
        if result.first_failure.is_none() {
            result.first_failure = part.first_failure;
        }
        result.latencies_us.extend(part.latencies_us);
        result.sent_at.extend(part.sent_at);
        last_answer = last_answer.max(part.last_answer);
    }
    result.elapsed = last_answer - started_at;
    result.latencies_us.sort_unstable();
    Ok(result)
}

/// [`run`] against several targets at once (nodes sharing one database): the
/// connections are split evenly between them (at least one each), a fixed rate too, and
/// the results are merged as if they came from one run.
///
/// # Errors
/// As [`run`].
pub async fn run_spread(
    targets: &[Target],
    connections: usize,
    duration: Duration,
    pace: Pace,
) -> anyhow::Result<LoadResult> {
    if let [target] = targets {
        return run(target, connections, duration, pace).await;
    }
    let n_targets = targets.len().max(1);
    let per_target = (connections / n_targets).max(1);
    let pace = match pace {
        Pace::FixedRate(rate) => Pace::FixedRate(rate / n_targets as f64),
        Pace::MaxRate => Pace::MaxRate,
    };
    let mut runs = tokio::task::JoinSet::new();
    for target in targets {
        let target = target.clone();
        runs.spawn(async move { run(&target, per_target, duration, pace).await });
    }
    let mut merged = LoadResult::default();
    let mut ends = Vec::new();
    while let Some(joined) = runs.join_next().await {
        let part = joined.context("a load run failed")??;
        if let Some(started_at) = part.started_at {
            ends.push(started_at + part.elapsed);
            merged.started_at = Some(merged.started_at.map_or(started_at, |s| s.min(started_at)));
        }
        merged.ok += part.ok;
        merged.failed += part.failed;
        if merged.first_failure.is_none() {
            merged.first_failure = part.first_failure;
        }
        merged.latencies_us.extend(part.latencies_us);
        merged.sent_at.extend(part.sent_at);
    }
    if let (Some(started_at), Some(end)) = (merged.started_at, ends.into_iter().max()) {
        merged.elapsed = end - started_at;
    }
    merged.latencies_us.sort_unstable();
    Ok(merged)
}

/// Sends exactly `total` requests to `target` over `connections` connections, as fast as
/// answers come back; returns how many got the expected status.
///
/// # Errors
/// When a connection cannot be opened, or a request fails or gets another status (the
/// first such answer is quoted).
pub async fn send_count(target: &Target, connections: usize, total: u64) -> anyhow::Result<u64> {
    let shared = Arc::new(Shared::new(target)?);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let mut sender = connect(target.addr).await?;
        let (shared, next) = (Arc::clone(&shared), Arc::clone(&next));
        tasks.spawn(async move {
            let mut ok = 0u64;
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if index >= total {
                    break;
                }
                let (_, status, body) = send_one(&shared, &mut sender, index).await?;
                if status != shared.expect {
                    anyhow::bail!("{status}: {}", String::from_utf8_lossy(&body));
                }
                ok += 1;
            }
            Ok(ok)
        });
    }
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        ok += joined.context("a load connection task failed")??;
    }
    Ok(ok)
}

/// One request on a fresh connection, for setup calls (creating applications and
/// endpoints, health checks). Returns the status and the body.
///
/// # Errors
/// When the connection fails.
pub async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut sender = connect(addr).await?;
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .context("building a request")?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Everything the connections share, built once.
struct Shared {
    addr: SocketAddr,
    uri: Uri,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    content_type: HeaderValue,
    body: Bytes,
    expect: StatusCode,
    keep_ids: bool,
    provider_secret: Option<String>,
    /// Makes `webhook-id`s unique across runs against one server.
    nonce: u64,
}

impl Shared {
    fn new(target: &Target) -> anyhow::Result<Self> {
        Ok(Self {
            addr: target.addr,
            uri: target.path.parse().context("parsing the target path")?,
            host: HeaderValue::from_str(&target.addr.to_string())?,
            authorization: target
                .token
                .as_ref()
                .map(|token| HeaderValue::from_str(&format!("Bearer {token}")))
                .transpose()?,
            content_type: HeaderValue::from_static("application/json"),
            body: target.body.clone(),
            expect: target.expect,
            keep_ids: target.keep_ids,
            provider_secret: target.provider_secret.clone(),
            nonce: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos() as u64),
        })
    }

    fn request(&self, index: u64) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_TYPE, self.content_type.clone());
        if let Some(authorization) = &self.authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        if let Some(secret) = &self.provider_secret {
            let msg_id = format!("msg_bench_{:x}_{index}", self.nonce);
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs() as i64);
            let signed = hookd_core::signature::sign(
                hookd_core::signature::SignatureScheme::Standard,
                None,
                &[secret],
                &msg_id,
                timestamp,
                &self.body,
            )
            .expect("the bench's provider secret is valid");
            for (name, value) in signed {
                if let (Ok(name), Ok(value)) = (
                    hyper::header::HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    headers.insert(name, value);
                }
            }
        }
        request
    }
}

/// Which requests one connection sends and when: requests `first`, `first + step`, … of
/// the whole run.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    pace: Pace,
    started_at: Instant,
    deadline: Instant,
    first: u64,
    step: u64,
}

#[derive(Debug)]
struct ConnectionResult {
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
    latencies_us: Vec<u32>,
    sent_at: HashMap<String, Instant>,
    last_answer: Instant,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

async fn connection_loop(
    shared: Arc<Shared>,
    mut sender: SendRequest<Full<Bytes>>,
    schedule: Schedule,
) -> ConnectionResult {
    let mut result = ConnectionResult {
        ok: 0,
        failed: 0,
        first_failure: None,
        latencies_us: Vec::new(),
        sent_at: HashMap::new(),
        last_answer: schedule.started_at,
    };
    let mut index = schedule.first;
    loop {
        let now = Instant::now();
        let due = match schedule.pace {
            Pace::MaxRate => now,
            Pace::FixedRate(rate) => {
                schedule.started_at + Duration::from_secs_f64(index as f64 / rate)
            }
        };
        if due >= schedule.deadline {
            break;
        }
        if due > now {
            tokio::time::sleep_until(due.into()).await;
        }
        let answered = send_one(&shared, &mut sender, index).await;
        index += schedule.step;
        let finished = Instant::now();
        result.last_answer = result.last_answer.max(finished);
        match answered {
            Ok((sent, status, body)) if status == shared.expect => {
                if shared.keep_ids {
                    match serde_json::from_slice::<IdOnly>(&body) {
                        Ok(answer) => {
                            result.sent_at.insert(answer.id, sent);
                        }
                        Err(error) => {
                            result.fail(format!("answer without an id: {error}"));
                            continue;
                        }
                    }
                }
                result.ok += 1;
                let latency = finished.duration_since(due.min(sent));
                result
                    .latencies_us
                    .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
            }
            Ok((_, status, body)) => {
                result.fail(format!("{status}: {}", String::from_utf8_lossy(&body)));
            }
            Err(error) => {
                result.fail(format!("{error:#}"));
                // The connection is gone; open another and go on.
                match connect(shared.addr).await {
                    Ok(fresh) => sender = fresh,
                    Err(_) => break,
                }
            }
        }
    }
    result
}

impl ConnectionResult {
    fn fail(&mut self, why: String) {
        self.failed += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(why);
        }
    }
}

/// Sends one request; returns when it was sent, the status and the whole body.
async fn send_one(
    shared: &Shared,
    sender: &mut SendRequest<Full<Bytes>>,
    index: u64,
) -> anyhow::Result<(Instant, StatusCode, Bytes)> {
    sender.ready().await?;
    let request = shared.request(index);
    let sent = Instant::now();
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((sent, status, body))
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("HTTP handshake with {addr}"))?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server closes it; either
        // way the loop above notices on its next request.
        let _ = connection.await;
    });
    Ok(sender)
}
