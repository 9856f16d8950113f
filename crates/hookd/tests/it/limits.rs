//! Limits that must hold across nodes (issue 4, "Rate limits and dedup windows hold across
//! nodes"): two `hookd serve` child processes on one fresh PostgreSQL database.
//!
//! What they prove:
//! - an endpoint's `throttleRate` is one budget for the whole cluster: with two nodes
//!   delivering, the receiver never sees more than the rate plus the documented burst
//!   allowance (`hookd_core::throttle::SLOT_GRACE`) over any window, where per-node
//!   limits would let through twice the rate;
//! - the same `eventId` published to two nodes at once is accepted once (202) and refused
//!   by the other (409), and an `idempotency-key` answered by one node is replayed by the
//!   other with the same message id, so both dedup windows are the database's, not a
//!   node's.

use std::time::Duration;

use hookd_core::throttle::SLOT_GRACE;
use hookd_store_postgres::testing::{server_url, TestDatabase};
use hookd_test_support::TestSink;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cluster::{start_nodes, Publisher, Tally, CLUSTER_LOCK, TOKEN};

/// The endpoint's `throttleRate`, messages per second.
const RATE: u16 = 20;
/// Enough messages for about 8 s of sending at the rate.
const MESSAGES: usize = 160;
/// Receiver-side timing noise allowed on top of the documented burst allowance: the
/// arrival stamps are taken in the test process, which shares two cores with two nodes.
const JITTER: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_rate_holds_across_two_nodes() {
    let Some(server_url) = server_url() else {
        return;
    };
    let _cluster = CLUSTER_LOCK.lock().await;
    let database = TestDatabase::create(&server_url).await;
    let client = reqwest::Client::new();
    let mut sink = TestSink::start(&[200]).await;
    let nodes = start_nodes(database.url(), 2, &client).await;
    let app_id = create(
        &client,
        &nodes[0].base,
        "/api/v1/app",
        json!({"name": "throttled"}),
    )
    .await["id"]
        .as_str()
        .expect("app id")
        .to_owned();
    create(
        &client,
        &nodes[1].base,
        &format!("/api/v1/app/{app_id}/endpoint"),
        json!({"url": sink.url("/slow"), "throttleRate": RATE}),
    )
    .await;
    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();

    let published = Publisher::start(&client, &bases, &app_id, MESSAGES, 16)
        .finish()
        .await;
    assert!(published.unexpected.lock().unwrap().is_empty());
    let acknowledged = published.acknowledged_set();
    assert_eq!(acknowledged.len(), MESSAGES);

    let mut arrivals = Vec::with_capacity(MESSAGES);
    let mut tally = Tally::default();
    while tally.missing(&acknowledged) > 0 {
        let received = sink.next(Duration::from_secs(30)).await.unwrap_or_else(|| {
            panic!(
                "{} of {MESSAGES} messages never arrived",
                tally.missing(&acknowledged)
            )
        });
        arrivals.push(received.received_at);
        tally.take(received);
    }
    assert_eq!(tally.duplicates(), 0, "no message arrives twice");

    // Over any window from one arrival to a later one, no more arrivals than the rate
    // allows in that window plus the burst allowance.
    arrivals.sort();
    let allowed =
        |window: Duration| f64::from(RATE) * (window + SLOT_GRACE + JITTER).as_secs_f64() + 1.0;
    // (arrivals, window, arrivals beyond what the window allows) of the tightest window.
    let mut worst = (1usize, Duration::ZERO, 1.0 - allowed(Duration::ZERO));
    for first in 0..arrivals.len() {
        for last in first + 1..arrivals.len() {
            let window = arrivals[last] - arrivals[first];
            let count = last - first + 1;
            let excess = count as f64 - allowed(window);
            if excess > worst.2 {
                worst = (count, window, excess);
            }
        }
    }
    let span = arrivals[arrivals.len() - 1] - arrivals[0];
    eprintln!(
        "throttle across 2 nodes: {MESSAGES} messages at {RATE}/s arrived over {span:.2?} \
         ({:.1}/s); tightest window: {} arrivals in {:.2?}",
        (MESSAGES - 1) as f64 / span.as_secs_f64(),
        worst.0,
        worst.1
    );
    assert!(
        worst.2 <= 0.0,
        "{} arrivals within {:.2?}, more than {RATE}/s allows with a {SLOT_GRACE:?} burst \
         allowance ({:.1})",
        worst.0,
        worst.1,
        allowed(worst.1)
    );
    for node in &nodes {
        node.assert_no_internal_errors();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_id_and_idempotency_key_dedup_across_nodes() {
    let Some(server_url) = server_url() else {
        return;
    };
    let _cluster = CLUSTER_LOCK.lock().await;
    let database = TestDatabase::create(&server_url).await;
    let client = reqwest::Client::new();
    let mut sink = TestSink::start(&[200]).await;
    let nodes = start_nodes(database.url(), 2, &client).await;
    let app_id = create(
        &client,
        &nodes[0].base,
        "/api/v1/app",
        json!({"name": "dedup"}),
    )
    .await["id"]
        .as_str()
        .expect("app id")
        .to_owned();
    create(
        &client,
        &nodes[0].base,
        &format!("/api/v1/app/{app_id}/endpoint"),
        json!({"url": sink.url("/dedup")}),
    )
    .await;
    let msg_url = |node: usize| format!("{}/api/v1/app/{app_id}/msg", nodes[node].base);

    // The same eventId to both nodes at the same moment, several times over.
    let mut accepted_ids = Vec::new();
    for round in 0..10 {
        let body = json!({"eventType": "order.paid", "eventId": format!("evt-{round}"), "payload": {"round": round}});
        let (url_0, url_1) = (msg_url(0), msg_url(1));
        let (first, second) = tokio::join!(
            post(&client, &url_0, &body, None),
            post(&client, &url_1, &body, None),
        );
        let mut statuses = [first.0, second.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::ACCEPTED, StatusCode::CONFLICT],
            "round {round}: {first:?} / {second:?}"
        );
        let refused = if first.0 == StatusCode::CONFLICT {
            &first.1
        } else {
            &second.1
        };
        assert_eq!(refused["code"], "conflict", "{refused}");
        let accepted = if first.0 == StatusCode::ACCEPTED {
            &first.1
        } else {
            &second.1
        };
        accepted_ids.push(accepted["id"].as_str().expect("message id").to_owned());
    }

    // An idempotency key answered by node 0 is replayed by node 1: same status, same
    // message, nothing published twice (even with a different body).
    let key = "order-4711-paid";
    let body = json!({"eventType": "order.paid", "payload": {"order": 4711}});
    let original = post(&client, &msg_url(0), &body, Some(key)).await;
    assert_eq!(original.0, StatusCode::ACCEPTED, "{:?}", original.1);
    let replayed = post(
        &client,
        &msg_url(1),
        &json!({"eventType": "order.paid", "payload": {"order": 9999}}),
        Some(key),
    )
    .await;
    assert_eq!(replayed.0, StatusCode::ACCEPTED, "{:?}", replayed.1);
    assert_eq!(replayed.1["id"], original.1["id"]);
    accepted_ids.push(original.1["id"].as_str().expect("message id").to_owned());

    // Exactly those 11 messages exist and arrive, once each.
    let listed = get(
        &client,
        &format!("{}/api/v1/app/{app_id}/msg?limit=100", nodes[1].base),
    )
    .await;
    let mut listed_ids: Vec<String> = listed["data"]
        .as_array()
        .expect("a message list")
        .iter()
        .map(|message| message["id"].as_str().expect("id").to_owned())
        .collect();
    listed_ids.sort();
    accepted_ids.sort();
    assert_eq!(listed_ids, accepted_ids);
    let expected = accepted_ids.iter().cloned().collect();
    let mut tally = Tally::default();
    tally
        .until_all_arrived(&mut sink, &expected, Duration::from_secs(30))
        .await;
    tally.pull(&mut sink, Duration::from_millis(300)).await;
    assert_eq!(tally.received, accepted_ids.len(), "nothing arrives twice");
    for node in &nodes {
        node.assert_no_internal_errors();
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    idempotency_key: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = client.post(url).bearer_auth(TOKEN).json(body);
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("the node answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    let response = client
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the node answers");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("a JSON body")
}

/// POSTs a resource and returns the created body, panicking on anything but 201.
async fn create(client: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let (status, created) = post(client, &format!("{base}{path}"), &body, None).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
    created
}
