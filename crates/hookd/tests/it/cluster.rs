//! Several `hookd serve` child processes on one PostgreSQL database, for the multi-node
//! and fault tests: [`Node`]s, a [`Publisher`] that spreads messages over the nodes'
//! APIs, a [`Tally`] of what a real receiver got, and [`Queue`] checks straight in the
//! database.
//!
//! Shared by the `it` binary (`multinode`) and the `pg_restart` binary, which includes
//! this file with `#[path]`; not every helper is used by both.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd_test_support::{Received, TestSink};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const TOKEN: &str = "multinode-admin-token-0123456789";
/// `--request-timeout` of every node. The lease is this plus 10 s (`serve.rs`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The lease a node's worker takes on a delivery, as `serve.rs` derives it.
pub const LEASE: Duration = Duration::from_secs(12);
/// `--worker-concurrency` of every node: the most attempts one node has in flight, so
/// the most duplicates its death can cause.
pub const WORKER_CONCURRENCY: usize = 32;
const RETRY_SCHEDULE: &str = "200ms,500ms,1s,2s,5s";

/// Held by every test in a binary that runs a cluster, so that two clusters (each node
/// opens up to 17 PostgreSQL connections) neither compete for the two cores nor exhaust
/// the server's `max_connections` together. A tokio mutex: it does not poison, so a
/// failed test does not fail the next.
pub static CLUSTER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// API and worker (the default).
    Both,
    /// `--no-worker`.
    ApiOnly,
    /// `--no-api`.
    WorkerOnly,
}

/// A `hookd serve` child process; killed (SIGKILL) when dropped. Its stderr goes to a
/// file, printed when the test fails.
pub struct Node {
    pub name: String,
    pub port: u16,
    pub base: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Node {
    /// Starts `hookd serve` on `database` with a free `--listen` port.
    pub fn spawn(name: &str, database: &str, role: Role) -> Node {
        Self::spawn_with(name, database, role, &[])
    }

    /// [`Node::spawn`] with more `serve` arguments: `--worker-concurrency` replaces the
    /// default [`WORKER_CONCURRENCY`]; other flags must not repeat ones `spawn` passes.
    pub fn spawn_with(name: &str, database: &str, role: Role, extra_args: &[&str]) -> Node {
        let dir = tempfile::tempdir().expect("temp dir for the node's log");
        let log = dir.path().join("stderr.log");
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookd"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", database, "--admin-token", TOKEN])
            .args(["--allow-private-network", "127.0.0.0/8"])
            .args(["--retry-schedule", RETRY_SCHEDULE])
            .args([
                "--request-timeout",
                &format!("{}s", REQUEST_TIMEOUT.as_secs()),
            ])
            .args(if extra_args.contains(&"--worker-concurrency") {
                Vec::new()
            } else {
                vec![
                    "--worker-concurrency".to_owned(),
                    WORKER_CONCURRENCY.to_string(),
                ]
            });
        match role {
            Role::Both => {}
            Role::ApiOnly => {
                command.arg("--no-worker");
            }
            Role::WorkerOnly => {
                command.arg("--no-api");
            }
        }
        command.args(extra_args);
        let child = command
            .env("HOOKD_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("node log file"))
            .spawn()
            .expect("the hookd binary starts");
        Node {
            name: name.to_owned(),
            port,
            base: format!("http://127.0.0.1:{port}"),
            child,
            log,
            _dir: dir,
        }
    }

    /// Waits until `GET /api/v1/health` answers 200.
    pub async fn wait_healthy(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client
                .get(format!("{}/api/v1/health", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("{} exited with {exit}:\n{}", self.name, self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{} never became healthy:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The child's process id, for reading `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping the killed node");
    }

    /// Whether anything accepts connections on the node's `--listen` port.
    pub fn is_listening(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
    }

    /// What the node wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics if the node logged a panic or an error: none of these tests should make
    /// hookd fail internally, whatever they do to it.
    pub fn assert_no_internal_errors(&self) {
        let log = self.log_text();
        let bad: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("panicked") || line.contains("ERROR"))
            .take(20)
            .collect();
        assert!(
            bad.is_empty(),
            "{} logged internal errors:\n{}",
            self.name,
            bad.join("\n")
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- last lines of {}'s stderr ---\n{}",
                self.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Starts `count` nodes with both roles and waits until all are healthy.
pub async fn start_nodes(database: &str, count: usize, client: &reqwest::Client) -> Vec<Node> {
    let mut nodes: Vec<Node> = (0..count)
        .map(|index| Node::spawn(&format!("node {index}"), database, Role::Both))
        .collect();
    for node in &mut nodes {
        node.wait_healthy(client).await;
    }
    nodes
}

/// Creates an application with one endpoint (the sink) through `base`; returns the app id.
pub async fn app_with_endpoint(client: &reqwest::Client, base: &str, sink: &TestSink) -> String {
    let app: Value = admin_post(client, base, "/api/v1/app", json!({"name": "cluster"}))
        .await
        .expect("application created");
    let app_id = app["id"].as_str().expect("app id").to_owned();
    admin_post(
        client,
        base,
        &format!("/api/v1/app/{app_id}/endpoint"),
        json!({"url": sink.url("/hook")}),
    )
    .await
    .expect("endpoint created");
    app_id
}

async fn admin_post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: Value,
) -> Result<Value, String> {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|error| error.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{path} answered {status}: {body}"))
    }
}

/// What the publishers saw, shared with the test while they run.
#[derive(Default)]
pub struct Published {
    /// Message ids from 202 answers.
    pub acknowledged: Mutex<Vec<String>>,
    /// 503 answers, per node (the body was checked to be `{"code": "unavailable", …}`).
    pub unavailable: Vec<AtomicUsize>,
    /// One 503 body, to show.
    pub unavailable_example: Mutex<Option<Value>>,
    /// Requests that got no HTTP answer (refused, reset, timed out).
    pub no_answer: AtomicUsize,
    /// Of those, timeouts: the node hung instead of failing.
    pub timed_out: AtomicUsize,
    /// Any other answer, or a 503 in the wrong shape, with its body.
    pub unexpected: Mutex<Vec<String>>,
    /// The slowest answer that was not a 202.
    pub slowest_failure: Mutex<Duration>,
}

impl Published {
    pub fn acknowledged_count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    pub fn acknowledged_set(&self) -> HashSet<String> {
        self.acknowledged.lock().unwrap().iter().cloned().collect()
    }

    pub fn unavailable_total(&self) -> usize {
        self.unavailable
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }
}

/// Publishers spreading `total` messages round-robin over the nodes' APIs, `concurrency`
/// requests at a time. A message that fails on one node (no answer, or a 503) is
/// published again on the next after a short pause, until it is acknowledged or
/// [`Publisher::GIVE_UP`] passes; a message counts once, when a node answers 202.
pub struct Publisher {
    pub published: Arc<Published>,
    tasks: tokio::task::JoinSet<()>,
}

impl Publisher {
    /// How long one message is retried before the publishers record it as unexpected.
    pub const GIVE_UP: Duration = Duration::from_secs(60);

    pub fn start(
        client: &reqwest::Client,
        bases: &[String],
        app_id: &str,
        total: usize,
        concurrency: usize,
    ) -> Publisher {
        let published = Arc::new(Published {
            unavailable: bases.iter().map(|_| AtomicUsize::new(0)).collect(),
            ..Published::default()
        });
        let next = Arc::new(AtomicUsize::new(0));
        let urls: Arc<Vec<String>> = Arc::new(
            bases
                .iter()
                .map(|base| format!("{base}/api/v1/app/{app_id}/msg"))
                .collect(),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (client, published, next, urls) = (
                client.clone(),
                published.clone(),
                next.clone(),
                urls.clone(),
            );
            tasks.spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        return;
                    }
                    publish_one(&client, &urls, index, &published).await;
                }
            });
        }
        Publisher { published, tasks }
    }

    /// Waits for every publisher to finish.
    pub async fn finish(mut self) -> Arc<Published> {
        while let Some(joined) = self.tasks.join_next().await {
            joined.expect("a publisher panicked");
        }
        self.published
    }
}

async fn publish_one(
    client: &reqwest::Client,
    urls: &[String],
    index: usize,
    published: &Published,
) {
    let give_up = Instant::now() + Publisher::GIVE_UP;
    let body = json!({"eventType": "load.test", "payload": {"n": index}});
    for attempt in 0.. {
        let node = (index + attempt) % urls.len();
        let started = Instant::now();
        let sent = client
            .post(&urls[node])
            .bearer_auth(TOKEN)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let answer = match sent {
            Ok(response) => {
                let status = response.status();
                let body: Value = response
                    .json()
                    .await
                    .unwrap_or_else(|error| Value::String(format!("unreadable body: {error}")));
                Some((status, body))
            }
            Err(error) => {
                published.no_answer.fetch_add(1, Ordering::Relaxed);
                if error.is_timeout() {
                    published.timed_out.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
        };
        match answer {
            Some((StatusCode::ACCEPTED, body)) => {
                let id = body["id"].as_str().expect("a 202 names the message id");
                published.acknowledged.lock().unwrap().push(id.to_owned());
                return;
            }
            Some((StatusCode::SERVICE_UNAVAILABLE, body))
                if body["code"] == "unavailable"
                    && body["detail"]
                        .as_str()
                        .is_some_and(|detail| !detail.is_empty()) =>
            {
                published.unavailable[node].fetch_add(1, Ordering::Relaxed);
                published
                    .unavailable_example
                    .lock()
                    .unwrap()
                    .get_or_insert(body);
            }
            Some((status, body)) => published
                .unexpected
                .lock()
                .unwrap()
                .push(format!("{status}: {body}")),
            None => {}
        }
        {
            let mut slowest = published.slowest_failure.lock().unwrap();
            *slowest = (*slowest).max(started.elapsed());
        }
        if Instant::now() > give_up {
            published
                .unexpected
                .lock()
                .unwrap()
                .push(format!("message {index} was never acknowledged"));
            return;
        }
        // A client's pause before trying again, so a cluster that is down is not spun on.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the receiver got, by `webhook-id` (the message id).
#[derive(Default)]
pub struct Tally {
    pub counts: HashMap<String, u32>,
    /// Requests received in all.
    pub received: usize,
    pub last_arrival: Option<Instant>,
}

impl Tally {
    pub fn take(&mut self, received: Received) {
        let id = received
            .header("webhook-id")
            .expect("every delivery carries webhook-id")
            .to_owned();
        *self.counts.entry(id).or_default() += 1;
        self.received += 1;
        self.last_arrival = Some(Instant::now());
    }

    /// Takes whatever the sink has, waiting up to `wait` for the first request.
    pub async fn pull(&mut self, sink: &mut TestSink, wait: Duration) {
        if let Some(received) = sink.next(wait).await {
            self.take(received);
            for received in sink.drain() {
                self.take(received);
            }
        }
    }

    /// Deliveries beyond the first of each message.
    pub fn duplicates(&self) -> usize {
        self.received - self.counts.len()
    }

    /// How many of `expected` have not arrived.
    pub fn missing(&self, expected: &HashSet<String>) -> usize {
        expected
            .iter()
            .filter(|id| !self.counts.contains_key(*id))
            .count()
    }

    /// Receives until every id in `expected` arrived; panics when nothing new arrives for
    /// `stall` while some are still missing.
    pub async fn until_all_arrived(
        &mut self,
        sink: &mut TestSink,
        expected: &HashSet<String>,
        stall: Duration,
    ) {
        let mut missing = self.missing(expected);
        while missing > 0 {
            let Some(received) = sink.next(stall).await else {
                panic!(
                    "{missing} of {} acknowledged messages never arrived (nothing new for {stall:?})",
                    expected.len()
                );
            };
            let id = received.header("webhook-id").map(str::to_owned);
            self.take(received);
            if id.is_some_and(|id| expected.contains(&id) && self.counts[&id] == 1) {
                missing -= 1;
            }
        }
    }
}

/// The deliveries leased right now (by any node), with when each lease expires.
pub async fn leases(database_url: &str) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    let client = connect(database_url).await;
    let rows = client
        .query(
            "SELECT id, lease_expires_at FROM deliveries WHERE lease_token IS NOT NULL",
            &[],
        )
        .await
        .expect("reading the leases");
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

/// How many of `leases` were finished only after their lease expired: deliveries whose
/// holder died with them, taken over by another node.
pub async fn finished_after_expiry(
    database_url: &str,
    leases: &[(String, chrono::DateTime<chrono::Utc>)],
) -> i64 {
    let ids: Vec<&str> = leases.iter().map(|(id, _)| id.as_str()).collect();
    let expiries: Vec<chrono::DateTime<chrono::Utc>> =
        leases.iter().map(|(_, expires)| *expires).collect();
    connect(database_url)
        .await
        .query_one(
            "SELECT count(*) FROM deliveries d \
             JOIN unnest($1::text[], $2::timestamptz[]) AS leased (id, expires) \
                 ON d.id = leased.id \
             WHERE d.status = 0 AND d.updated_at >= leased.expires",
            &[&ids, &expiries],
        )
        .await
        .expect("reading the deliveries taken over")
        .get(0)
}

/// A connection to the test database, for looking at the rows themselves.
async fn connect(database_url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .expect("connecting to the test database");
    tokio::spawn(connection);
    client
}

/// The delivery queue as the database sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct Queue {
    pub deliveries: i64,
    pub succeeded: i64,
    /// Pending or sending: not finished.
    pub unfinished: i64,
    pub leased: i64,
    pub attempts: i64,
}

impl Queue {
    pub async fn read(database_url: &str) -> Queue {
        let row = connect(database_url)
            .await
            .query_one(
                "SELECT count(*), \
                    count(*) FILTER (WHERE status = 0), \
                    count(*) FILTER (WHERE status IN (1, 3)), \
                    count(*) FILTER (WHERE lease_token IS NOT NULL), \
                    (SELECT count(*) FROM attempts) \
                 FROM deliveries",
                &[],
            )
            .await
            .expect("reading the queue");
        Queue {
            deliveries: row.get(0),
            succeeded: row.get(1),
            unfinished: row.get(2),
            leased: row.get(3),
            attempts: row.get(4),
        }
    }

    /// Polls until no delivery is unfinished or leased; panics after `limit` (a stuck
    /// delivery).
    pub async fn settled(database_url: &str, limit: Duration) -> Queue {
        let deadline = Instant::now() + limit;
        loop {
            let queue = Queue::read(database_url).await;
            if queue.unfinished == 0 && queue.leased == 0 {
                return queue;
            }
            assert!(
                Instant::now() < deadline,
                "deliveries are stuck after {limit:?}: {queue:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
