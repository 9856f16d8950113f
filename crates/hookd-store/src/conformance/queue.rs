//! Conformance: the delivery queue, from claim to recorded outcome.
//!
//! Invariants checked: a leased delivery is invisible to other claims until its lease
//! expires; an outcome changes the delivery only while its lease is current, but the
//! attempt is always kept; the work notifier fires once new work is committed.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::model::{Delivery, MessageStatus, TriggerType};
use hookd_core::Timestamp;

use super::{app_with_endpoints, fixtures, publish_at};
use crate::{AttemptFilter, ClaimedDelivery, DeliveryOutcome, EndpointHealth, PublishLease, Store};

const LEASE: Duration = Duration::from_secs(30);

fn secs(base: Timestamp, secs: u64) -> Timestamp {
    fixtures::later(base, Duration::from_secs(secs))
}

async fn current(store: &dyn Store, claim: &ClaimedDelivery) -> Delivery {
    let delivery = &claim.delivery;
    store
        .delivery(&delivery.app_id, &delivery.msg_id, &delivery.endpoint_id)
        .await
        .unwrap()
}

/// A publish that asks for a lease gets up to that many of its deliveries back already
/// leased, with their message and endpoint: claims skip them until the lease expires,
/// while the rest are claimed as usual, and an outcome under the publish's lease counts.
pub async fn publish_with_a_lease_hands_over_its_deliveries(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 3).await;
    let t0 = fixtures::now();
    let message = fixtures::message_at(&application.id, "invoice.paid", r#"{"a":1}"#, t0);
    let lease = PublishLease {
        duration: LEASE,
        max_deliveries: 2,
    };
    let published = store.publish_message(&message, Some(lease)).await.unwrap();
    assert_eq!(published.deliveries, 3);
    assert_eq!(published.leased.len(), 2);
    for leased in &published.leased {
        assert_eq!(leased.message, message);
        assert_eq!(leased.lease.delivery_id, leased.delivery.id);
        assert_eq!(leased.delivery.endpoint_id, leased.endpoint.id);
        assert_eq!(leased.delivery.status, MessageStatus::Pending);
        assert_eq!(leased.delivery.n_attempts, 0);
        assert!(endpoints.contains(&leased.endpoint));
        assert_eq!(current(store.as_ref(), leased).await, leased.delivery);
        let expires = store.lease_of(&leased.delivery.id).await.unwrap();
        assert_eq!(expires, Some(fixtures::later(t0, LEASE)));
    }
    assert_ne!(
        published.leased[0].lease.token,
        published.leased[1].lease.token
    );

    // Only the third delivery is left to claim while the two leases last.
    let claimed = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(published
        .leased
        .iter()
        .all(|leased| leased.endpoint.id != claimed[0].endpoint.id));

    let first = &published.leased[0];
    let held = store
        .record_outcome(&crate::OutcomeRecord {
            lease: first.lease.clone(),
            attempt: Some(fixtures::attempt(first, 200, secs(t0, 1))),
            delivery: DeliveryOutcome::Succeeded,
            endpoint_health: EndpointHealth::Healthy,
            now: secs(t0, 1),
        })
        .await
        .unwrap();
    assert!(held);
    assert_eq!(
        current(store.as_ref(), first).await.status,
        MessageStatus::Success
    );

    // The second lease was never used: once it expires, a claim takes the delivery.
    let after_expiry = store
        .claim_due_deliveries(
            fixtures::later(t0, LEASE + Duration::from_secs(1)),
            LEASE,
            10,
        )
        .await
        .unwrap();
    let ids: Vec<_> = after_expiry.iter().map(|c| c.delivery.id.clone()).collect();
    assert!(ids.contains(&published.leased[1].delivery.id), "{ids:?}");
    assert!(!ids.contains(&first.delivery.id), "{ids:?}");
}

/// A claim returns due deliveries with their message and endpoint, leased: a second
/// claim inside the lease returns none of them.
pub async fn claim_leases_due_deliveries(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;

    let claimed = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let mut claimed_endpoints: Vec<_> = claimed.iter().map(|c| c.endpoint.clone()).collect();
    claimed_endpoints.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = endpoints.clone();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(claimed_endpoints, expected);
    for claim in &claimed {
        assert_eq!(claim.message, message);
        assert_eq!(claim.lease.delivery_id, claim.delivery.id);
        assert_eq!(claim.delivery.endpoint_id, claim.endpoint.id);
        assert_eq!(claim.delivery.status, MessageStatus::Pending);
        assert_eq!(claim.delivery.n_attempts, 0);
        assert!(!claim.lease.token.is_empty());
        let lease = store.lease_of(&claim.delivery.id).await.unwrap();
        assert_eq!(lease, Some(fixtures::later(secs(t0, 1), LEASE)));
    }
    assert_ne!(claimed[0].lease.token, claimed[1].lease.token);

    let again = store
        .claim_due_deliveries(secs(t0, 2), LEASE, 10)
        .await
        .unwrap();
    assert!(
        again.is_empty(),
        "leased deliveries were claimed twice: {again:?}"
    );
}

/// Once a lease expires, the delivery can be claimed again, under a new token.
pub async fn claim_again_after_lease_expiry(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;

    let first = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let just_before = fixtures::earlier(secs(t0, 31), Duration::from_millis(1));
    assert!(store
        .claim_due_deliveries(just_before, LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    let second = store
        .claim_due_deliveries(secs(t0, 31), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].delivery.id, first[0].delivery.id);
    assert_ne!(second[0].lease.token, first[0].lease.token);
    let lease = store.lease_of(&second[0].delivery.id).await.unwrap();
    assert_eq!(lease, Some(fixtures::later(secs(t0, 31), LEASE)));
}

/// A delivery is not claimed before it is due.
pub async fn claim_skips_deliveries_not_yet_due(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, secs(t0, 60)).await;

    assert!(store
        .claim_due_deliveries(t0, LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .claim_due_deliveries(secs(t0, 59), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .claim_due_deliveries(secs(t0, 60), LEASE, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Claims take the oldest due deliveries first and at most `limit` of them.
pub async fn claim_oldest_due_first_up_to_limit(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let newest = publish_at(store.as_ref(), &application.id, &endpoints, secs(t0, 3)).await;
    let oldest = publish_at(store.as_ref(), &application.id, &endpoints, secs(t0, 1)).await;
    let middle = publish_at(store.as_ref(), &application.id, &endpoints, secs(t0, 2)).await;

    let now = secs(t0, 10);
    let first = store.claim_due_deliveries(now, LEASE, 2).await.unwrap();
    let ids: Vec<_> = first.iter().map(|claim| claim.message.id.clone()).collect();
    assert_eq!(ids, vec![oldest.id, middle.id]);
    let rest = store.claim_due_deliveries(now, LEASE, 2).await.unwrap();
    let ids: Vec<_> = rest.iter().map(|claim| claim.message.id.clone()).collect();
    assert_eq!(ids, vec![newest.id]);
    assert!(store
        .claim_due_deliveries(now, LEASE, 2)
        .await
        .unwrap()
        .is_empty());
}

/// Deliveries to a disabled endpoint are still handed out; the worker decides.
pub async fn claim_returns_deliveries_of_disabled_endpoints(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let mut disabled = endpoints[0].clone();
    disabled.disabled = true;
    store.update_endpoint(&disabled).await.unwrap();

    let claimed = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].endpoint.disabled);
}

/// A success: the attempt is kept, the delivery is finished, the endpoint is healthy.
pub async fn record_success(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let mut failing = endpoints[0].clone();
    failing.failing_since = Some(t0);
    store.update_endpoint(&failing).await.unwrap();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;

    let claim = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    let attempt = fixtures::attempt(&claim, 200, secs(t0, 2));
    let record = fixtures::outcome(
        &claim,
        Some(attempt.clone()),
        DeliveryOutcome::Succeeded,
        EndpointHealth::Healthy,
        secs(t0, 2),
    );
    assert!(store.record_outcome(&record).await.unwrap());

    let delivery = current(store.as_ref(), &claim).await;
    assert_eq!(delivery.status, MessageStatus::Success);
    assert_eq!(delivery.n_attempts, 1);
    assert_eq!(delivery.next_attempt_at, None);
    assert_eq!(store.lease_of(&delivery.id).await.unwrap(), None);
    let endpoint = store
        .endpoint(&application.id, endpoints[0].id.as_str())
        .await
        .unwrap();
    assert_eq!(endpoint.failing_since, None);
    let stored = store
        .attempt(&application.id, &attempt.msg_id, attempt.id.as_str())
        .await;
    assert_eq!(stored.unwrap(), attempt);
    assert!(store
        .claim_due_deliveries(secs(t0, 3600), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A retryable failure: status Sending, due again at the given time, the endpoint
/// failing since its first failure.
pub async fn record_retry(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;

    let claim = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    let record = fixtures::outcome(
        &claim,
        Some(fixtures::attempt(&claim, 503, secs(t0, 2))),
        DeliveryOutcome::RetryAt(secs(t0, 7)),
        EndpointHealth::Failing(secs(t0, 2)),
        secs(t0, 2),
    );
    assert!(store.record_outcome(&record).await.unwrap());
    let delivery = current(store.as_ref(), &claim).await;
    assert_eq!(delivery.status, MessageStatus::Sending);
    assert_eq!(delivery.n_attempts, 1);
    assert_eq!(delivery.next_attempt_at, Some(secs(t0, 7)));
    assert_eq!(store.lease_of(&delivery.id).await.unwrap(), None);
    let endpoint = store
        .endpoint(&application.id, endpoints[0].id.as_str())
        .await
        .unwrap();
    assert_eq!(endpoint.failing_since, Some(secs(t0, 2)));

    assert!(store
        .claim_due_deliveries(secs(t0, 6), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let claim = store
        .claim_due_deliveries(secs(t0, 7), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(claim.delivery.status, MessageStatus::Sending);
    assert_eq!(claim.delivery.n_attempts, 1);
    let record = fixtures::outcome(
        &claim,
        Some(fixtures::attempt(&claim, 500, secs(t0, 8))),
        DeliveryOutcome::RetryAt(secs(t0, 20)),
        EndpointHealth::Failing(secs(t0, 8)),
        secs(t0, 8),
    );
    assert!(store.record_outcome(&record).await.unwrap());
    assert_eq!(current(store.as_ref(), &claim).await.n_attempts, 2);
    let endpoint = store
        .endpoint(&application.id, endpoints[0].id.as_str())
        .await
        .unwrap();
    assert_eq!(
        endpoint.failing_since,
        Some(secs(t0, 2)),
        "the first failure is kept"
    );
}

/// A final failure: status Fail, nothing due; `Disable` disables the endpoint.
pub async fn record_failure_and_disable(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;

    let claim = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    let record = fixtures::outcome(
        &claim,
        Some(fixtures::attempt(&claim, 410, secs(t0, 2))),
        DeliveryOutcome::Failed,
        EndpointHealth::Disable,
        secs(t0, 2),
    );
    assert!(store.record_outcome(&record).await.unwrap());
    let delivery = current(store.as_ref(), &claim).await;
    assert_eq!(delivery.status, MessageStatus::Fail);
    assert_eq!(delivery.n_attempts, 1);
    assert_eq!(delivery.next_attempt_at, None);
    let endpoint = store
        .endpoint(&application.id, endpoints[0].id.as_str())
        .await
        .unwrap();
    assert!(endpoint.disabled);
    assert!(store
        .active_endpoints(&application.id)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .claim_due_deliveries(secs(t0, 3600), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

/// An outcome recorded a second time (the worker's recorder does, one by one, when a
/// batch fails without saying whether it committed) reports the lease lost and writes
/// its attempt once.
pub async fn record_the_same_outcome_twice(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let claim = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    let record = fixtures::outcome(
        &claim,
        Some(fixtures::attempt(&claim, 200, secs(t0, 2))),
        DeliveryOutcome::Succeeded,
        EndpointHealth::Healthy,
        secs(t0, 2),
    );
    assert!(store.record_outcome(&record).await.unwrap());
    assert!(!store.record_outcome(&record).await.unwrap());
    let plain = fixtures::outcome(
        &claim,
        record.attempt.clone(),
        DeliveryOutcome::Succeeded,
        EndpointHealth::Unchanged,
        secs(t0, 2),
    );
    assert_eq!(
        store
            .record_outcomes(&[plain.clone(), plain])
            .await
            .unwrap(),
        vec![false, false]
    );
    let attempts = store
        .list_attempts(
            &application.id,
            &AttemptFilter::default(),
            &fixtures::first_page(10),
        )
        .await
        .unwrap();
    assert_eq!(attempts.items.len(), 1);
    let delivery = current(store.as_ref(), &claim).await;
    assert_eq!(delivery.status, MessageStatus::Success);
    assert_eq!(delivery.n_attempts, 1);
}

/// An outcome recorded under a lease that was taken over (it expired and the delivery was
/// claimed again) leaves the delivery and endpoint alone, but its attempt is kept.
pub async fn record_with_stale_lease_keeps_attempt_only(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;

    let stale = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    let fresh = store
        .claim_due_deliveries(secs(t0, 40), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    let attempt = fixtures::attempt(&stale, 200, secs(t0, 41));
    let record = fixtures::outcome(
        &stale,
        Some(attempt.clone()),
        DeliveryOutcome::Succeeded,
        EndpointHealth::Disable,
        secs(t0, 41),
    );
    assert!(!store.record_outcome(&record).await.unwrap());

    let delivery = current(store.as_ref(), &stale).await;
    assert_eq!(delivery.status, MessageStatus::Pending);
    assert_eq!(delivery.n_attempts, 0);
    // Still leased to the new claim: next up when that lease expires.
    assert_eq!(
        delivery.next_attempt_at,
        Some(fixtures::later(secs(t0, 40), LEASE))
    );
    assert_eq!(
        store.lease_of(&delivery.id).await.unwrap(),
        Some(fixtures::later(secs(t0, 40), LEASE)),
    );
    let endpoint = store
        .endpoint(&application.id, endpoints[0].id.as_str())
        .await
        .unwrap();
    assert!(!endpoint.disabled);
    let stored = store
        .attempt(&application.id, &attempt.msg_id, attempt.id.as_str())
        .await;
    assert_eq!(stored.unwrap(), attempt);

    let record = fixtures::outcome(
        &fresh,
        Some(fixtures::attempt(&fresh, 200, secs(t0, 42))),
        DeliveryOutcome::Succeeded,
        EndpointHealth::Healthy,
        secs(t0, 42),
    );
    assert!(store.record_outcome(&record).await.unwrap());
    assert_eq!(
        current(store.as_ref(), &fresh).await.status,
        MessageStatus::Success
    );
}

/// `record_outcomes` applies each record as `record_outcome` would, and says which held.
pub async fn record_outcomes_in_one_call(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 3).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let claims = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(claims.len(), 3);
    let mut stale = claims[2].clone();
    stale.lease.token = "not-the-token".into();

    let records = vec![
        fixtures::outcome(
            &claims[0],
            Some(fixtures::attempt(&claims[0], 200, secs(t0, 2))),
            DeliveryOutcome::Succeeded,
            EndpointHealth::Healthy,
            secs(t0, 2),
        ),
        fixtures::outcome(
            &claims[1],
            Some(fixtures::attempt(&claims[1], 500, secs(t0, 2))),
            DeliveryOutcome::RetryAt(secs(t0, 9)),
            EndpointHealth::Failing(secs(t0, 2)),
            secs(t0, 2),
        ),
        fixtures::outcome(
            &stale,
            Some(fixtures::attempt(&stale, 200, secs(t0, 2))),
            DeliveryOutcome::Succeeded,
            EndpointHealth::Healthy,
            secs(t0, 2),
        ),
    ];
    assert_eq!(
        store.record_outcomes(&records).await.unwrap(),
        vec![true, true, false]
    );
    assert_eq!(
        current(store.as_ref(), &claims[0]).await.status,
        MessageStatus::Success
    );
    assert_eq!(
        current(store.as_ref(), &claims[1]).await.status,
        MessageStatus::Sending
    );
    assert_eq!(
        current(store.as_ref(), &claims[2]).await.status,
        MessageStatus::Pending
    );
    let attempts = store
        .list_attempts(
            &application.id,
            &AttemptFilter::default(),
            &fixtures::first_page(10),
        )
        .await
        .unwrap();
    assert_eq!(attempts.items.len(), 3);
}

/// A batch whose outcomes leave every endpoint as it is (successes on healthy endpoints,
/// retries already counted as failing) is applied record by record too: statuses, due
/// times and attempt counts, leases cleared, every attempt kept, lost leases reported.
pub async fn record_outcomes_without_health_changes(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 4).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let claims = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(claims.len(), 4);
    let mut stale = claims[3].clone();
    stale.lease.token = "not-the-token".into();
    let unchanged = EndpointHealth::Unchanged;
    let records = vec![
        fixtures::outcome(
            &claims[0],
            Some(fixtures::attempt(&claims[0], 200, secs(t0, 2))),
            DeliveryOutcome::Succeeded,
            unchanged.clone(),
            secs(t0, 2),
        ),
        fixtures::outcome(
            &claims[1],
            Some(fixtures::attempt(&claims[1], 503, secs(t0, 2))),
            DeliveryOutcome::RetryAt(secs(t0, 9)),
            unchanged.clone(),
            secs(t0, 2),
        ),
        // No attempt made (the endpoint was busy): due later, attempts not counted.
        fixtures::outcome(
            &claims[2],
            None,
            DeliveryOutcome::RetryAt(secs(t0, 5)),
            unchanged.clone(),
            secs(t0, 2),
        ),
        fixtures::outcome(
            &stale,
            Some(fixtures::attempt(&stale, 200, secs(t0, 2))),
            DeliveryOutcome::Succeeded,
            unchanged,
            secs(t0, 2),
        ),
    ];
    assert_eq!(
        store.record_outcomes(&records).await.unwrap(),
        vec![true, true, true, false]
    );

    let succeeded = current(store.as_ref(), &claims[0]).await;
    assert_eq!(succeeded.status, MessageStatus::Success);
    assert_eq!(succeeded.n_attempts, 1);
    assert_eq!(succeeded.next_attempt_at, None);
    assert_eq!(succeeded.updated_at, secs(t0, 2));
    let retried = current(store.as_ref(), &claims[1]).await;
    assert_eq!(retried.status, MessageStatus::Sending);
    assert_eq!(retried.n_attempts, 1);
    assert_eq!(retried.next_attempt_at, Some(secs(t0, 9)));
    let postponed = current(store.as_ref(), &claims[2]).await;
    assert_eq!(postponed.n_attempts, 0);
    assert_eq!(postponed.next_attempt_at, Some(secs(t0, 5)));
    let untouched = current(store.as_ref(), &claims[3]).await;
    assert_eq!(untouched.status, MessageStatus::Pending);
    assert_eq!(untouched.n_attempts, 0);
    // Only the stale lease's delivery is still leased; the others were given back.
    for (claim, leased) in claims.iter().zip([false, false, false, true]) {
        let lease = store.lease_of(&claim.delivery.id).await.unwrap();
        assert_eq!(
            lease.is_some(),
            leased,
            "lease of delivery {}",
            claim.delivery.id
        );
    }
    let attempts = store
        .list_attempts(
            &application.id,
            &AttemptFilter::default(),
            &fixtures::first_page(10),
        )
        .await
        .unwrap();
    assert_eq!(attempts.items.len(), 3);
    // Once due, the retries are claimed again; the success and the stale lease are not.
    let again = store
        .claim_due_deliveries(secs(t0, 10), LEASE, 10)
        .await
        .unwrap();
    let mut again: Vec<_> = again.iter().map(|c| c.delivery.id.clone()).collect();
    again.sort();
    let mut expected = vec![claims[1].delivery.id.clone(), claims[2].delivery.id.clone()];
    expected.sort();
    assert_eq!(again, expected);
}

/// An outcome for a delivery whose application was deleted meanwhile is not an error:
/// nothing is left to update, and the lease is reported as lost.
pub async fn record_after_application_deleted(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let claim = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    store.delete_application(&application.id).await.unwrap();

    let record = fixtures::outcome(
        &claim,
        Some(fixtures::attempt(&claim, 200, secs(t0, 2))),
        DeliveryOutcome::Succeeded,
        EndpointHealth::Healthy,
        secs(t0, 2),
    );
    assert!(!store.record_outcome(&record).await.unwrap());
}

/// A released delivery is unleased and due again at the given time; a release under a
/// lost lease changes nothing.
pub async fn release_delivery(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;

    let claim = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .release_delivery(&claim.lease, secs(t0, 5))
        .await
        .unwrap();
    let delivery = current(store.as_ref(), &claim).await;
    assert_eq!(delivery.next_attempt_at, Some(secs(t0, 5)));
    assert_eq!(delivery.status, MessageStatus::Pending);
    assert_eq!(delivery.n_attempts, 0);
    assert_eq!(store.lease_of(&delivery.id).await.unwrap(), None);
    assert!(store
        .claim_due_deliveries(secs(t0, 4), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    let again = store
        .claim_due_deliveries(secs(t0, 5), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .release_delivery(&claim.lease, secs(t0, 100))
        .await
        .unwrap();
    let delivery = current(store.as_ref(), &claim).await;
    assert_eq!(
        delivery.next_attempt_at,
        Some(fixtures::later(secs(t0, 5), LEASE)),
        "a stale release is ignored: the new lease holds"
    );
    assert_eq!(
        store.lease_of(&delivery.id).await.unwrap(),
        Some(fixtures::later(secs(t0, 5), LEASE)),
    );
    store
        .release_delivery(&again.lease, secs(t0, 6))
        .await
        .unwrap();
    assert_eq!(store.lease_of(&delivery.id).await.unwrap(), None);
}

/// Queue depth counts unfinished deliveries, and those of them waiting for a claim now.
pub async fn queue_depth(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    let depth = store.queue_depth(t0).await.unwrap();
    assert_eq!((depth.due, depth.pending), (0, 0));

    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    publish_at(store.as_ref(), &application.id, &endpoints, secs(t0, 60)).await;
    let depth = store.queue_depth(secs(t0, 1)).await.unwrap();
    assert_eq!((depth.due, depth.pending), (2, 4));

    let claims = store
        .claim_due_deliveries(secs(t0, 1), LEASE, 1)
        .await
        .unwrap();
    let depth = store.queue_depth(secs(t0, 1)).await.unwrap();
    assert_eq!(
        (depth.due, depth.pending),
        (1, 4),
        "a leased delivery no longer waits for a claim"
    );
    let at_expiry = fixtures::later(secs(t0, 1), LEASE);
    let depth = store.queue_depth(at_expiry).await.unwrap();
    assert_eq!(
        (depth.due, depth.pending),
        (2, 4),
        "once its lease expires it waits again"
    );

    let record = fixtures::outcome(
        &claims[0],
        Some(fixtures::attempt(&claims[0], 200, secs(t0, 2))),
        DeliveryOutcome::Succeeded,
        EndpointHealth::Healthy,
        secs(t0, 2),
    );
    assert!(store.record_outcome(&record).await.unwrap());
    let depth = store.queue_depth(secs(t0, 2)).await.unwrap();
    assert_eq!((depth.due, depth.pending), (1, 3));
    let depth = store.queue_depth(secs(t0, 60)).await.unwrap();
    assert_eq!((depth.due, depth.pending), (3, 3));
}

/// The work notifier fires once a published message (or a resend) is committed.
pub async fn work_notifier_wakes_after_create_message(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let notifier = store.work_notifier();
    let t0 = fixtures::now();

    let notified = notifier.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let message = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let woke = tokio::time::timeout(Duration::from_secs(5), notified).await;
    assert!(woke.is_ok(), "no wake-up after create_message");
    // Consume a permit a `notify_one` may have left, so the next check means something.
    let _ = tokio::time::timeout(Duration::ZERO, notifier.notified()).await;

    let notified = notifier.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    store
        .resend(&application.id, &message.id, &endpoints[0].id, secs(t0, 1))
        .await
        .unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(5), notified).await;
    assert!(woke.is_ok(), "no wake-up after resend");
    let delivery = store
        .delivery(&application.id, &message.id, &endpoints[0].id)
        .await;
    assert_eq!(delivery.unwrap().trigger, TriggerType::Manual);
}
