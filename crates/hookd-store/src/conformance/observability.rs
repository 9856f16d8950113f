//! Conformance: what a `/metrics` scrape reads from the store.
//!
//! Invariants checked: `queue_metrics` agrees with `queue_depth`; the oldest waiting due
//! time is the earliest due delivery that no live lease holds, skips leased ones, comes
//! back when a lease expires, and is `None` once nothing waits; `pool_status` describes
//! at least one pool with consistent counts.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::Timestamp;

use super::{app_with_endpoints, fixtures, publish_at};
use crate::{DeliveryOutcome, EndpointHealth, Store};

const LEASE: Duration = Duration::from_secs(30);

fn secs(base: Timestamp, secs: u64) -> Timestamp {
    fixtures::later(base, Duration::from_secs(secs))
}

/// The scrape's queue view: depth as `queue_depth` counts it, and the oldest due
/// delivery waiting for a worker.
pub async fn queue_metrics_oldest_waiting(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let empty = store.queue_metrics(t0).await.unwrap();
    assert_eq!((empty.depth.due, empty.depth.pending), (0, 0));
    assert_eq!(empty.oldest_waiting_due_at, None);

    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    publish_at(store.as_ref(), &application.id, &endpoints, secs(t0, 10)).await;
    publish_at(store.as_ref(), &application.id, &endpoints, secs(t0, 100)).await;

    let before_due = store
        .queue_metrics(fixtures::earlier(t0, Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!((before_due.depth.due, before_due.depth.pending), (0, 3));
    assert_eq!(before_due.oldest_waiting_due_at, None, "nothing is due yet");

    let now = secs(t0, 20);
    let metrics = store.queue_metrics(now).await.unwrap();
    assert_eq!(metrics.depth, store.queue_depth(now).await.unwrap());
    assert_eq!((metrics.depth.due, metrics.depth.pending), (2, 3));
    assert_eq!(metrics.oldest_waiting_due_at, Some(t0));

    // The oldest is leased: it no longer waits, the next one does.
    let claims = store.claim_due_deliveries(now, LEASE, 1).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(
        claims[0].delivery.next_attempt_at,
        Some(fixtures::later(now, LEASE)),
        "a leased delivery is next up when its lease expires"
    );
    let metrics = store.queue_metrics(now).await.unwrap();
    assert_eq!(
        (metrics.depth.due, metrics.depth.pending),
        (1, 3),
        "leased no longer waits"
    );
    assert_eq!(metrics.oldest_waiting_due_at, Some(secs(t0, 10)));

    // Once the lease has expired it waits again.
    let after_lease = secs(t0, 60);
    let metrics = store.queue_metrics(after_lease).await.unwrap();
    assert_eq!(
        metrics.oldest_waiting_due_at,
        Some(secs(t0, 10)),
        "it waits again, but only since its lease expired (after the second was due)"
    );
    let depth = metrics.depth;
    assert_eq!(
        (depth.due, depth.pending),
        (2, 3),
        "the expired lease waits again"
    );

    // Finished deliveries leave the queue.
    let record = fixtures::outcome(
        &claims[0],
        Some(fixtures::attempt(&claims[0], 200, secs(t0, 21))),
        DeliveryOutcome::Succeeded,
        EndpointHealth::Healthy,
        secs(t0, 21),
    );
    assert!(store.record_outcome(&record).await.unwrap());
    let rest = store
        .claim_due_deliveries(secs(t0, 200), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    for claim in &rest {
        let record = fixtures::outcome(
            claim,
            Some(fixtures::attempt(claim, 500, secs(t0, 201))),
            DeliveryOutcome::Failed,
            EndpointHealth::Failing(secs(t0, 201)),
            secs(t0, 201),
        );
        assert!(store.record_outcome(&record).await.unwrap());
    }
    let drained = store.queue_metrics(secs(t0, 300)).await.unwrap();
    assert_eq!((drained.depth.due, drained.depth.pending), (0, 0));
    assert_eq!(drained.oldest_waiting_due_at, None);
}

/// Every backend reports at least one pool, with counts that add up.
pub async fn pool_status_is_consistent(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    let pools = store.pool_status();
    assert!(!pools.is_empty(), "a backend has at least one pool");
    for pool in &pools {
        assert!(!pool.pool.is_empty());
        assert!(pool.max >= 1, "{pool:?}");
        assert!(pool.in_use + pool.idle <= pool.max, "{pool:?}");
    }
    // Nothing runs now, so nothing is in use.
    let in_use: u64 = store.pool_status().iter().map(|pool| pool.in_use).sum();
    assert_eq!(in_use, 0, "{pools:?}");
}
