//! Conformance: manual runs (resend, recover), endpoint statistics and the attempt log.
//!
//! Invariants checked: a manual run restarts a delivery from zero attempts and takes the
//! delivery away from whoever held its lease; recovery touches only failed deliveries
//! in its window; attempts are listed only through their own application.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hookd_core::ids::MessageId;
use hookd_core::model::{Attempt, MessageStatus, TriggerType};
use hookd_core::Timestamp;

use super::{app_with_endpoints, expect_not_found, fixtures, publish_at};
use crate::{
    AttemptFilter, ClaimedDelivery, DeliveryOutcome, EndpointHealth, EndpointStats, MessageFilter,
    Store, TimeWindow,
};

const LEASE: Duration = Duration::from_secs(30);

fn secs(base: Timestamp, secs: u64) -> Timestamp {
    fixtures::later(base, Duration::from_secs(secs))
}

/// Records an attempt answered with `status_code` and applies `outcome`; returns the
/// attempt.
async fn settle(
    store: &dyn Store,
    claim: &ClaimedDelivery,
    status_code: u16,
    outcome: DeliveryOutcome,
    at: Timestamp,
) -> Attempt {
    let attempt = fixtures::attempt(claim, status_code, at);
    let record = fixtures::outcome(
        claim,
        Some(attempt.clone()),
        outcome,
        EndpointHealth::Unchanged,
        at,
    );
    assert!(store.record_outcome(&record).await.unwrap(), "lease lost");
    attempt
}

/// Claims everything due at `now`, keyed by (message, endpoint index in `endpoints`).
async fn claim_all(store: &dyn Store, now: Timestamp) -> Vec<ClaimedDelivery> {
    store.claim_due_deliveries(now, LEASE, 100).await.unwrap()
}

fn find<'a>(
    claims: &'a [ClaimedDelivery],
    msg_id: &MessageId,
    endpoint: &hookd_core::model::Endpoint,
) -> &'a ClaimedDelivery {
    claims
        .iter()
        .find(|claim| &claim.message.id == msg_id && claim.endpoint.id == endpoint.id)
        .expect("the delivery was claimed")
}

/// A resend starts a new manual run at `now`: Pending, zero attempts, unleased, and an
/// outcome under the lease held before it is stale.
pub async fn resend_starts_a_manual_run(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let (other, other_endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;

    let claim = claim_all(store.as_ref(), secs(t0, 1)).await.remove(0);
    settle(
        store.as_ref(),
        &claim,
        500,
        DeliveryOutcome::Failed,
        secs(t0, 1),
    )
    .await;

    store
        .resend(
            &application.id,
            &message.id,
            &endpoints[0].id,
            secs(t0, 100),
        )
        .await
        .unwrap();
    let delivery = store
        .delivery(&application.id, &message.id, &endpoints[0].id)
        .await;
    let delivery = delivery.unwrap();
    assert_eq!(delivery.id, claim.delivery.id);
    assert_eq!(delivery.status, MessageStatus::Pending);
    assert_eq!(delivery.n_attempts, 0);
    assert_eq!(delivery.trigger, TriggerType::Manual);
    assert_eq!(delivery.next_attempt_at, Some(secs(t0, 100)));
    assert_eq!(store.lease_of(&delivery.id).await.unwrap(), None);

    assert!(claim_all(store.as_ref(), secs(t0, 99)).await.is_empty());
    let manual = claim_all(store.as_ref(), secs(t0, 100)).await.remove(0);
    assert_eq!(manual.delivery.trigger, TriggerType::Manual);

    // Resending while a worker holds the lease takes the delivery away from it.
    store
        .resend(
            &application.id,
            &message.id,
            &endpoints[0].id,
            secs(t0, 101),
        )
        .await
        .unwrap();
    let record = fixtures::outcome(
        &manual,
        Some(fixtures::attempt(&manual, 200, secs(t0, 102))),
        DeliveryOutcome::Succeeded,
        EndpointHealth::Healthy,
        secs(t0, 102),
    );
    assert!(!store.record_outcome(&record).await.unwrap());
    let delivery = store
        .delivery(&application.id, &message.id, &endpoints[0].id)
        .await;
    assert_eq!(delivery.unwrap().status, MessageStatus::Pending);

    let unknown = fixtures::message_id_at(t0);
    let resend = store
        .resend(&application.id, &unknown, &endpoints[0].id, t0)
        .await;
    expect_not_found(resend, "message");
    let resend = store
        .resend(&other.id, &message.id, &other_endpoints[0].id, t0)
        .await;
    expect_not_found(resend, "message");
    let resend = store
        .resend(&application.id, &message.id, &other_endpoints[0].id, t0)
        .await;
    expect_not_found(resend, "endpoint");
}

/// Resending to an endpoint the message never targeted creates its delivery.
pub async fn resend_creates_a_missing_delivery(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &endpoints[..1], t0).await;
    expect_not_found(
        store
            .delivery(&application.id, &message.id, &endpoints[1].id)
            .await,
        "delivery",
    );

    store
        .resend(&application.id, &message.id, &endpoints[1].id, secs(t0, 5))
        .await
        .unwrap();
    let delivery = store
        .delivery(&application.id, &message.id, &endpoints[1].id)
        .await;
    let delivery = delivery.unwrap();
    assert_eq!(delivery.status, MessageStatus::Pending);
    assert_eq!(delivery.n_attempts, 0);
    assert_eq!(delivery.trigger, TriggerType::Manual);
    assert_eq!(delivery.next_attempt_at, Some(secs(t0, 5)));
    let claimed = claim_all(store.as_ref(), secs(t0, 5)).await;
    assert!(claimed.iter().any(|claim| claim.delivery.id == delivery.id));
}

/// Recovery makes the endpoint's failed deliveries whose message falls in the window due
/// again as manual runs, and nothing else.
pub async fn recover_endpoint_only_failed_in_window(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    let mut messages = Vec::new();
    for offset in [0, 10, 20, 30] {
        let message = publish_at(
            store.as_ref(),
            &application.id,
            &endpoints,
            secs(t0, offset),
        );
        messages.push(message.await);
    }
    let claims = claim_all(store.as_ref(), secs(t0, 40)).await;
    for (index, message) in messages.iter().enumerate() {
        let outcome = if index == 2 {
            DeliveryOutcome::Succeeded
        } else {
            DeliveryOutcome::Failed
        };
        for endpoint in &endpoints {
            let claim = find(&claims, &message.id, endpoint);
            settle(store.as_ref(), claim, 500, outcome.clone(), secs(t0, 41)).await;
        }
    }

    let window = TimeWindow {
        since: Some(secs(t0, 5)),
        until: Some(secs(t0, 25)),
    };
    let recovered = store
        .recover_endpoint(&application.id, &endpoints[0].id, &window, secs(t0, 50))
        .await
        .unwrap();
    assert_eq!(recovered, 1);
    let status = |index: usize, endpoint: usize| {
        let store = store.clone();
        let app_id = application.id.clone();
        let msg_id = messages[index].id.clone();
        let endpoint_id = endpoints[endpoint].id.clone();
        async move {
            store
                .delivery(&app_id, &msg_id, &endpoint_id)
                .await
                .unwrap()
        }
    };
    let revived = status(1, 0).await;
    assert_eq!(revived.status, MessageStatus::Pending);
    assert_eq!(revived.trigger, TriggerType::Manual);
    assert_eq!(revived.n_attempts, 0);
    assert_eq!(revived.next_attempt_at, Some(secs(t0, 50)));
    assert_eq!(status(0, 0).await.status, MessageStatus::Fail);
    assert_eq!(status(2, 0).await.status, MessageStatus::Success);
    assert_eq!(status(3, 0).await.status, MessageStatus::Fail);
    assert_eq!(
        status(1, 1).await.status,
        MessageStatus::Fail,
        "other endpoint untouched"
    );

    let everything = TimeWindow::default();
    let recovered = store
        .recover_endpoint(&application.id, &endpoints[0].id, &everything, secs(t0, 60))
        .await
        .unwrap();
    assert_eq!(recovered, 2);
    assert_eq!(
        status(1, 0).await.next_attempt_at,
        Some(secs(t0, 50)),
        "not failed"
    );

    let (other, _) = app_with_endpoints(store.as_ref(), 0).await;
    let foreign = store
        .recover_endpoint(&other.id, &endpoints[0].id, &everything, t0)
        .await;
    expect_not_found(foreign, "endpoint");
}

/// Statistics count the endpoint's deliveries by status, created inside the window.
pub async fn endpoint_stats_counts_by_status(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    let mut messages = Vec::new();
    for offset in [0, 10, 20, 30, 40] {
        let message = publish_at(
            store.as_ref(),
            &application.id,
            &endpoints,
            secs(t0, offset),
        );
        messages.push(message.await);
    }
    let claims = claim_all(store.as_ref(), secs(t0, 45)).await;
    let endpoint = &endpoints[0];
    settle(
        store.as_ref(),
        find(&claims, &messages[0].id, endpoint),
        500,
        DeliveryOutcome::Failed,
        secs(t0, 46),
    )
    .await;
    let retry = DeliveryOutcome::RetryAt(secs(t0, 100));
    settle(
        store.as_ref(),
        find(&claims, &messages[1].id, endpoint),
        500,
        retry,
        secs(t0, 46),
    )
    .await;
    settle(
        store.as_ref(),
        find(&claims, &messages[2].id, endpoint),
        200,
        DeliveryOutcome::Succeeded,
        secs(t0, 46),
    )
    .await;
    settle(
        store.as_ref(),
        find(&claims, &messages[3].id, endpoint),
        200,
        DeliveryOutcome::Succeeded,
        secs(t0, 46),
    )
    .await;
    // messages[4] stays pending (its lease is released).
    let pending = find(&claims, &messages[4].id, endpoint);
    store
        .release_delivery(&pending.lease, secs(t0, 50))
        .await
        .unwrap();

    let all = TimeWindow::default();
    let stats = store
        .endpoint_stats(&application.id, &endpoint.id, &all)
        .await
        .unwrap();
    let expected = EndpointStats {
        success: 2,
        pending: 1,
        sending: 1,
        fail: 1,
        canceled: 0,
    };
    assert_eq!(stats, expected);

    let window = TimeWindow {
        since: Some(secs(t0, 5)),
        until: Some(secs(t0, 25)),
    };
    let stats = store
        .endpoint_stats(&application.id, &endpoint.id, &window)
        .await
        .unwrap();
    let expected = EndpointStats {
        success: 1,
        sending: 1,
        ..EndpointStats::default()
    };
    assert_eq!(stats, expected);

    // The other endpoint's deliveries were all claimed and are still pending.
    let other = store
        .endpoint_stats(&application.id, &endpoints[1].id, &all)
        .await
        .unwrap();
    assert_eq!(other.pending, 5);
    let (stranger, _) = app_with_endpoints(store.as_ref(), 0).await;
    expect_not_found(
        store.endpoint_stats(&stranger.id, &endpoint.id, &all).await,
        "endpoint",
    );
}

/// Attempt listings filter by endpoint, message, status and time (strict bounds).
pub async fn list_attempts_filters(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    let first = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let second = publish_at(store.as_ref(), &application.id, &endpoints, secs(t0, 1)).await;
    let claims = claim_all(store.as_ref(), secs(t0, 2)).await;
    let a = settle(
        store.as_ref(),
        find(&claims, &first.id, &endpoints[0]),
        200,
        DeliveryOutcome::Succeeded,
        secs(t0, 3),
    )
    .await;
    let b = settle(
        store.as_ref(),
        find(&claims, &first.id, &endpoints[1]),
        500,
        DeliveryOutcome::Failed,
        secs(t0, 4),
    )
    .await;
    let c = settle(
        store.as_ref(),
        find(&claims, &second.id, &endpoints[0]),
        500,
        DeliveryOutcome::Failed,
        secs(t0, 5),
    )
    .await;
    let d = settle(
        store.as_ref(),
        find(&claims, &second.id, &endpoints[1]),
        200,
        DeliveryOutcome::Succeeded,
        secs(t0, 6),
    )
    .await;

    let (other, other_endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let noise = publish_at(store.as_ref(), &other.id, &other_endpoints, secs(t0, 1)).await;
    let noise_claim = claim_all(store.as_ref(), secs(t0, 2)).await;
    let noise_claim = find(&noise_claim, &noise.id, &other_endpoints[0]);
    settle(
        store.as_ref(),
        noise_claim,
        200,
        DeliveryOutcome::Succeeded,
        secs(t0, 3),
    )
    .await;

    let list = |filter: AttemptFilter| {
        let store = store.clone();
        let app_id = application.id.clone();
        async move {
            let page = store
                .list_attempts(&app_id, &filter, &fixtures::first_page(50))
                .await;
            let mut ids: Vec<_> = page.unwrap().items.into_iter().map(|a| a.id).collect();
            ids.sort();
            ids
        }
    };
    let sorted = |mut ids: Vec<hookd_core::ids::AttemptId>| {
        ids.sort();
        ids
    };
    let all = list(AttemptFilter::default()).await;
    assert_eq!(
        all,
        sorted(vec![a.id.clone(), b.id.clone(), c.id.clone(), d.id.clone()])
    );
    let by_endpoint = list(AttemptFilter {
        endpoint_id: Some(endpoints[0].id.clone()),
        ..AttemptFilter::default()
    });
    assert_eq!(by_endpoint.await, sorted(vec![a.id.clone(), c.id.clone()]));
    let by_message = list(AttemptFilter {
        msg_id: Some(second.id.clone()),
        ..AttemptFilter::default()
    });
    assert_eq!(by_message.await, sorted(vec![c.id.clone(), d.id.clone()]));
    let by_status = list(AttemptFilter {
        status: Some(MessageStatus::Fail),
        ..AttemptFilter::default()
    });
    assert_eq!(by_status.await, sorted(vec![b.id.clone(), c.id.clone()]));
    let by_time = list(AttemptFilter {
        after: Some(secs(t0, 3)),
        before: Some(secs(t0, 6)),
        ..AttemptFilter::default()
    });
    assert_eq!(by_time.await, sorted(vec![b.id.clone(), c.id.clone()]));
    let combined = list(AttemptFilter {
        endpoint_id: Some(endpoints[1].id.clone()),
        msg_id: Some(first.id.clone()),
        status: Some(MessageStatus::Fail),
        ..AttemptFilter::default()
    });
    assert_eq!(combined.await, vec![b.id.clone()]);
    let server_errors = list(AttemptFilter {
        response_status_codes: Some(500..=599),
        ..AttemptFilter::default()
    });
    assert_eq!(
        server_errors.await,
        sorted(vec![b.id.clone(), c.id.clone()])
    );
    let no_response = list(AttemptFilter {
        response_status_codes: Some(0..=99),
        ..AttemptFilter::default()
    });
    assert_eq!(no_response.await, vec![]);
    // Both messages are `invoice.paid`, without channels or tags.
    let of_type = |event_type: &str| AttemptFilter {
        message: MessageFilter {
            event_types: Some(vec![event_type.to_owned()]),
            ..MessageFilter::default()
        },
        ..AttemptFilter::default()
    };
    assert_eq!(list(of_type("invoice.paid")).await, all);
    assert_eq!(list(of_type("user.created")).await, vec![]);
    let in_channel = list(AttemptFilter {
        response_status_codes: Some(200..=299),
        message: MessageFilter {
            channel: Some("eu".to_owned()),
            ..MessageFilter::default()
        },
        ..AttemptFilter::default()
    });
    assert_eq!(in_channel.await, vec![]);
}

/// An attempt reads back whole (response body, request headers) through its message and
/// application only.
pub async fn attempt_lookup(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let (other, _) = app_with_endpoints(store.as_ref(), 0).await;
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let claim = claim_all(store.as_ref(), secs(t0, 1)).await.remove(0);

    let mut attempt = fixtures::attempt(&claim, 502, secs(t0, 2));
    attempt.response = "<html>bad gateway ✗\n\"quoted\"</html>".into();
    attempt.response_duration_ms = 30_001;
    attempt.request_headers = BTreeMap::from([
        ("content-type".to_owned(), "application/json".to_owned()),
        ("webhook-id".to_owned(), message.id.to_string()),
        ("x-custom".to_owned(), "a, b".to_owned()),
    ]);
    let record = fixtures::outcome(
        &claim,
        Some(attempt.clone()),
        DeliveryOutcome::Failed,
        EndpointHealth::Failing(secs(t0, 2)),
        secs(t0, 2),
    );
    assert!(store.record_outcome(&record).await.unwrap());

    let stored = store
        .attempt(&application.id, &message.id, attempt.id.as_str())
        .await;
    assert_eq!(stored.unwrap(), attempt);
    let wrong_message = fixtures::message_id_at(t0);
    let found = store
        .attempt(&application.id, &wrong_message, attempt.id.as_str())
        .await;
    expect_not_found(found, "attempt");
    expect_not_found(
        store
            .attempt(&other.id, &message.id, attempt.id.as_str())
            .await,
        "attempt",
    );
    expect_not_found(
        store
            .attempt(&application.id, &message.id, "atmpt_nope")
            .await,
        "attempt",
    );
}

/// Attempts page like every other listing.
pub async fn paginate_attempts(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let mut keys = Vec::new();
    for step in 0..7 {
        let at = secs(t0, step * 10);
        let claim = claim_all(store.as_ref(), at).await.remove(0);
        let retry = DeliveryOutcome::RetryAt(secs(t0, step * 10 + 10));
        let attempt = settle(store.as_ref(), &claim, 500, retry, at).await;
        keys.push(attempt.id.to_string());
    }
    super::messages::check_pagination(
        keys,
        |page| {
            let store = store.clone();
            let app_id = application.id.clone();
            async move {
                store
                    .list_attempts(&app_id, &AttemptFilter::default(), &page)
                    .await
            }
        },
        |attempt| attempt.id.to_string(),
    )
    .await;
}
