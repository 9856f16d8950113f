//! Several `hookd serve` processes on one PostgreSQL database (issue 4, "Multi-node"):
//! real child processes of the `hookd` binary, a fresh database per test, and a real HTTP
//! receiver that tells deliveries apart by `webhook-id` (the message id from the 202).
//!
//! What they prove:
//! - three nodes share the queue without delivering anything twice: 10,000 messages
//!   published round-robin through all three APIs each arrive exactly once, and the
//!   database ends with one successful delivery and one attempt per message;
//! - a node killed with SIGKILL mid-run loses nothing: every message that got a 202
//!   arrives, the survivors taking over the dead node's deliveries once its leases
//!   expire, and the only repeats are attempts it had in flight (at most its worker
//!   concurrency);
//! - `--no-worker` and `--no-api` split the roles: an API-only node accepts publishes and
//!   delivers nothing, a worker-only node serves no HTTP and delivers them, including
//!   messages published after it started (woken by `LISTEN/NOTIFY`).
//!
//! PostgreSQL restarting under load is in its own test binary, `tests/pg_restart.rs`,
//! because it stops the server every PostgreSQL test shares.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hookd_store_postgres::testing::{server_url, TestDatabase};
use hookd_test_support::{Script, TestSink};

use crate::cluster::{
    app_with_endpoint, finished_after_expiry, leases, start_nodes, Node, Publisher, Queue, Role,
    Tally, CLUSTER_LOCK, LEASE, WORKER_CONCURRENCY,
};

/// The figure.
const MESSAGES: usize = 10_000;
/// Publish requests in flight at once, over all nodes.
const PUBLISHERS: usize = 48;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_ten_thousand_messages_each_exactly_once() {
    let Some(server_url) = server_url() else {
        return;
    };
    let _cluster = CLUSTER_LOCK.lock().await;
    let started = Instant::now();
    let database = TestDatabase::create(&server_url).await;
    let client = reqwest::Client::new();
    let mut sink = TestSink::start(&[200]).await;
    let nodes = start_nodes(database.url(), 3, &client).await;
    let app_id = app_with_endpoint(&client, &nodes[0].base, &sink).await;
    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();

    let publishing = Instant::now();
    let published = Publisher::start(&client, &bases, &app_id, MESSAGES, PUBLISHERS)
        .finish()
        .await;
    let publish_time = publishing.elapsed();
    assert!(
        published.unexpected.lock().unwrap().is_empty(),
        "{:?}",
        published.unexpected.lock().unwrap()
    );
    assert_eq!(
        published.unavailable_total(),
        0,
        "{:?}",
        published.unavailable_example.lock().unwrap()
    );
    assert_eq!(published.no_answer.load(Ordering::Relaxed), 0);
    let acknowledged = published.acknowledged_set();
    assert_eq!(acknowledged.len(), MESSAGES, "every publish got its own id");

    let mut tally = Tally::default();
    tally
        .until_all_arrived(&mut sink, &acknowledged, Duration::from_secs(30))
        .await;
    let delivery_time = publishing.elapsed();
    // Once every delivery is recorded as a success and no lease is held, no attempt can
    // still be in flight: whatever the sink has now is everything it will ever get.
    let queue = Queue::settled(database.url(), Duration::from_secs(30)).await;
    tally.pull(&mut sink, Duration::ZERO).await;
    let n = MESSAGES as i64;
    assert_eq!(
        queue,
        Queue {
            deliveries: n,
            succeeded: n,
            unfinished: 0,
            leased: 0,
            attempts: n,
        }
    );
    assert_eq!(tally.duplicates(), 0, "no message arrives twice");
    assert_eq!(tally.received, MESSAGES);
    for node in &nodes {
        node.assert_no_internal_errors();
    }
    eprintln!(
        "three nodes: {MESSAGES} messages published in {publish_time:.1?}, all delivered \
         {delivery_time:.1?} after publishing began, 0 duplicates; test took {:.1?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_run_loses_no_acknowledged_message() {
    let Some(server_url) = server_url() else {
        return;
    };
    let _cluster = CLUSTER_LOCK.lock().await;
    let started = Instant::now();
    let database = TestDatabase::create(&server_url).await;
    let client = reqwest::Client::new();
    // A receiver that takes a moment, so the node dies with attempts in flight.
    let mut sink = TestSink::start_with(Script {
        statuses: vec![200],
        headers: Vec::new(),
        delay: Duration::from_millis(25),
    })
    .await;
    let mut nodes = start_nodes(database.url(), 3, &client).await;
    let app_id = app_with_endpoint(&client, &nodes[0].base, &sink).await;
    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();

    let publisher = Publisher::start(&client, &bases, &app_id, MESSAGES, PUBLISHERS);
    // Kill node 2 while publishing and delivery are both in full swing.
    let mut tally = Tally::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while publisher.published.acknowledged_count() < MESSAGES / 3 || tally.received < MESSAGES / 10
    {
        assert!(
            Instant::now() < deadline,
            "the run never got going: {} acknowledged, {} delivered",
            publisher.published.acknowledged_count(),
            tally.received
        );
        tally.pull(&mut sink, Duration::from_millis(20)).await;
    }
    let acknowledged_at_kill = publisher.published.acknowledged_count();
    let delivered_at_kill = tally.received;
    nodes[2].kill();
    let killed_at = Instant::now();
    // The dead node's leases stay until they expire; the survivors' are all in here too,
    // but they finish theirs long before expiry.
    let leased_at_kill = leases(database.url()).await;

    let published = publisher.finish().await;
    assert!(
        published.unexpected.lock().unwrap().is_empty(),
        "{:?}",
        published.unexpected.lock().unwrap()
    );
    assert_eq!(
        published.timed_out.load(Ordering::Relaxed),
        0,
        "no publish hung"
    );
    let acknowledged = published.acknowledged_set();
    assert_eq!(acknowledged.len(), MESSAGES);

    tally
        .until_all_arrived(&mut sink, &acknowledged, LEASE + Duration::from_secs(20))
        .await;
    let queue = Queue::settled(database.url(), LEASE + Duration::from_secs(20)).await;
    tally.pull(&mut sink, Duration::ZERO).await;
    let last_arrival = tally.last_arrival.expect("deliveries arrived") - killed_at;
    // Committed messages whose 202 was lost in the kill are delivered too.
    let unacknowledged: HashSet<&String> = tally
        .counts
        .keys()
        .filter(|id| !acknowledged.contains(*id))
        .collect();
    assert_eq!(queue.deliveries as usize, tally.counts.len(), "{queue:?}");
    assert_eq!(queue.succeeded, queue.deliveries, "{queue:?}");
    let duplicates = tally.duplicates();
    let taken_over = finished_after_expiry(database.url(), &leased_at_kill).await as usize;
    eprintln!(
        "SIGKILL: node 2 killed with {acknowledged_at_kill} acknowledged and \
         {delivered_at_kill} delivered; {} acknowledged in all, {} more committed without \
         a 202 (publishes in flight at the kill); {taken_over} of its deliveries finished \
         by the survivors after its leases expired, {duplicates} duplicates, last delivery \
         {last_arrival:.1?} after the kill; {} publish requests got no answer; test took \
         {:.1?}",
        acknowledged.len(),
        unacknowledged.len(),
        published.no_answer.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert!(
        taken_over >= 1,
        "the dead node held no lease at the kill, so nothing was taken over"
    );
    assert!(
        taken_over <= WORKER_CONCURRENCY,
        "{taken_over} deliveries taken over, but a node leases at most {WORKER_CONCURRENCY}"
    );
    // Only an attempt the dead node had sent but not recorded is sent again.
    assert!(
        duplicates <= taken_over,
        "{duplicates} duplicates, but only {taken_over} attempts were in flight on the dead node"
    );
    assert!(
        unacknowledged.len() <= PUBLISHERS,
        "{} unacknowledged messages, but at most {PUBLISHERS} publishes were in flight",
        unacknowledged.len()
    );
    for node in &nodes[..2] {
        node.assert_no_internal_errors();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_worker_and_no_api_split_the_roles() {
    let Some(server_url) = server_url() else {
        return;
    };
    let _cluster = CLUSTER_LOCK.lock().await;
    let database = TestDatabase::create(&server_url).await;
    let client = reqwest::Client::new();
    let mut sink = TestSink::start(&[200]).await;
    let mut api = Node::spawn("api-only node", database.url(), Role::ApiOnly);
    api.wait_healthy(&client).await;
    let app_id = app_with_endpoint(&client, &api.base, &sink).await;
    let bases = [api.base.clone()];

    // The API-only node takes publishes, and nobody delivers them.
    let before = Publisher::start(&client, &bases, &app_id, 200, 8)
        .finish()
        .await;
    assert!(before.unexpected.lock().unwrap().is_empty());
    let mut expected = before.acknowledged_set();
    assert_eq!(expected.len(), 200);
    assert!(
        sink.next(Duration::from_millis(500)).await.is_none(),
        "a --no-worker node delivered"
    );
    let queue = Queue::read(database.url()).await;
    assert_eq!((queue.unfinished, queue.attempts), (200, 0), "{queue:?}");

    // A worker-only node delivers them, and what is published while it runs: the API
    // node's NOTIFY wakes it.
    let worker = Node::spawn("worker-only node", database.url(), Role::WorkerOnly);
    let mut tally = Tally::default();
    tally
        .until_all_arrived(&mut sink, &expected, Duration::from_secs(30))
        .await;
    assert!(!worker.is_listening(), "a --no-api node serves HTTP");
    let after = Publisher::start(&client, &bases, &app_id, 200, 8)
        .finish()
        .await;
    assert!(after.unexpected.lock().unwrap().is_empty());
    expected.extend(after.acknowledged_set());
    assert_eq!(expected.len(), 400);
    tally
        .until_all_arrived(&mut sink, &expected, Duration::from_secs(30))
        .await;
    let queue = Queue::settled(database.url(), Duration::from_secs(30)).await;
    tally.pull(&mut sink, Duration::ZERO).await;
    assert_eq!((queue.succeeded, queue.attempts), (400, 400), "{queue:?}");
    assert_eq!(tally.duplicates(), 0);
    api.assert_no_internal_errors();
    worker.assert_no_internal_errors();
}
