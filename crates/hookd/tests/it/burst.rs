//! A burst of 100,000 due deliveries (issue 4, "Faults"): it must not exhaust the
//! node's memory or its database connections.
//!
//! An API-only node publishes 1,000 messages to an application with 100 endpoints (all
//! on one real receiver) and stops; then one worker-only node starts on the full queue
//! and drains it, as a node does after an outage. While it drains, the test samples the
//! node's resident memory from `/proc/<pid>/status` and the connections it holds from
//! `pg_stat_activity`. Every delivery must arrive, resident memory must stay under
//! [`RSS_LIMIT`] (the claim batch, not the backlog, bounds what a node holds), and the
//! connections must never pass the pool size plus the one `LISTEN` connection.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd_store_postgres::testing::{server_url, TestDatabase};
use hookd_store_postgres::PostgresOptions;
use hookd_test_support::TestSink;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cluster::{Node, Publisher, Queue, Role, CLUSTER_LOCK, TOKEN};

const MESSAGES: usize = 1_000;
const ENDPOINTS: usize = 100;
const DELIVERIES: usize = MESSAGES * ENDPOINTS;
/// The most resident memory the draining node may reach. It idles at about 12 MiB and
/// peaks below 30 MiB under the benchmark's load; a node that loaded its backlog into
/// memory would need several times this for 100,000 deliveries.
const RSS_LIMIT_MIB: u64 = 128;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100k_due_deliveries_drains_within_bounded_memory_and_connections() {
    let Some(server_url) = server_url() else {
        return;
    };
    let _cluster = CLUSTER_LOCK.lock().await;
    let started = Instant::now();
    let database = TestDatabase::create(&server_url).await;
    let client = reqwest::Client::new();
    let mut sink = TestSink::start(&[200]).await;

    // The backlog, published with no worker running.
    let mut api = Node::spawn("api-only node", database.url(), Role::ApiOnly);
    api.wait_healthy(&client).await;
    let app_id = create(&client, &api.base, "/api/v1/app", json!({"name": "burst"})).await;
    for index in 0..ENDPOINTS {
        create(
            &client,
            &api.base,
            &format!("/api/v1/app/{app_id}/endpoint"),
            json!({"url": sink.url(&format!("/ep/{index}"))}),
        )
        .await;
    }
    let published = Publisher::start(&client, &[api.base.clone()], &app_id, MESSAGES, 16)
        .finish()
        .await;
    assert!(published.unexpected.lock().unwrap().is_empty());
    let acknowledged = published.acknowledged_set();
    assert_eq!(acknowledged.len(), MESSAGES);
    api.assert_no_internal_errors();
    api.kill();
    let queue = Queue::read(database.url()).await;
    assert_eq!(
        (queue.deliveries, queue.unfinished),
        (DELIVERIES as i64, DELIVERIES as i64)
    );
    let published_in = started.elapsed();

    // One worker-only node drains it, watched.
    let draining = Instant::now();
    // The default worker concurrency, as a node in production would run.
    let worker = Node::spawn_with(
        "worker-only node",
        database.url(),
        Role::WorkerOnly,
        &["--worker-concurrency", "128"],
    );
    let watch = Watch::start(worker.pid(), database.url()).await;
    let mut arrived: HashSet<(String, String)> = HashSet::with_capacity(DELIVERIES);
    let mut received = 0usize;
    while arrived.len() < DELIVERIES {
        let Some(first) = sink.next(Duration::from_secs(30)).await else {
            panic!(
                "{} of {DELIVERIES} deliveries never arrived (nothing new for 30 s)",
                DELIVERIES - arrived.len()
            );
        };
        for delivery in std::iter::once(first).chain(sink.drain()) {
            received += 1;
            let msg_id = delivery
                .header("webhook-id")
                .expect("every delivery carries webhook-id")
                .to_owned();
            assert!(acknowledged.contains(&msg_id), "an unknown message arrived");
            arrived.insert((msg_id, delivery.path));
        }
    }
    let drain_time = draining.elapsed();
    let peaks = watch.stop().await;
    let queue = Queue::settled(database.url(), Duration::from_secs(30)).await;
    let pool = PostgresOptions::default().pool_size;
    eprintln!(
        "burst: {DELIVERIES} due deliveries published in {published_in:.1?}, drained by one \
         node in {drain_time:.1?} ({:.0}/s); peak RSS {} MiB (VmHWM), most connections held \
         {} (pool {pool} + LISTEN), {} samples; {received} requests received; test took \
         {:.1?}",
        DELIVERIES as f64 / drain_time.as_secs_f64(),
        peaks.rss_kib / 1024,
        peaks.connections,
        peaks.samples,
        started.elapsed()
    );
    assert_eq!(
        received, DELIVERIES,
        "nothing arrives twice without a crash"
    );
    assert_eq!(queue.succeeded, DELIVERIES as i64, "{queue:?}");
    assert!(peaks.samples >= 2, "the watch took no samples");
    assert!(
        peaks.rss_kib <= RSS_LIMIT_MIB * 1024,
        "the draining node's resident memory peaked at {} MiB, over {RSS_LIMIT_MIB} MiB",
        peaks.rss_kib / 1024
    );
    assert!(peaks.connections >= 1, "the node held no connection at all");
    assert!(
        peaks.connections <= pool as i64 + 1,
        "the node held {} connections, more than its pool of {pool} plus LISTEN",
        peaks.connections
    );
    worker.assert_no_internal_errors();
}

/// The largest values the watch saw.
#[derive(Debug, Default, Clone, Copy)]
struct Peaks {
    /// `VmHWM` (the kernel's own peak of resident memory), in KiB.
    rss_kib: u64,
    /// Backends connected to the test database, other than the watch's own.
    connections: i64,
    samples: usize,
}

/// Samples a process's memory and the connections to a database every 50 ms until
/// stopped.
struct Watch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Peaks>,
}

impl Watch {
    async fn start(pid: u32, database_url: &str) -> Watch {
        let (monitor, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
            .await
            .expect("connecting the watch to the test database");
        tokio::spawn(connection);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut peaks = Peaks::default();
            while !stopped.load(Ordering::Relaxed) {
                let connections: i64 = monitor
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                        &[],
                    )
                    .await
                    .expect("reading pg_stat_activity")
                    .get(0);
                peaks.connections = peaks.connections.max(connections);
                if let Some(kib) = status_kib(pid, "VmHWM:") {
                    peaks.rss_kib = peaks.rss_kib.max(kib);
                }
                peaks.samples += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peaks
        });
        Watch { stop, task }
    }

    async fn stop(self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the watch task")
    }
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// POSTs a resource through `base` and returns the new id.
async fn create(client: &reqwest::Client, base: &str, path: &str, body: Value) -> String {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("the node answers");
    let status = response.status();
    let created: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
    created["id"].as_str().expect("an id").to_owned()
}
