//! Conformance: retention (`expire_batch`) and on-demand expunge
//! (`expunge_message_content`).
//!
//! Invariants checked: a batch expires only records older than the cutoff, oldest first,
//! at most `limit`, and never the payload of a message with an unfinished delivery;
//! expiring keeps the message (its `eventId` stays taken) and the attempt (its status
//! and code); the provider headers of a message made at a source go with its payload,
//! by expiry or expunge; an expunge stops unfinished deliveries with an attempt that says why, and
//! a worker still holding a lease on one can no longer change it.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::model::{Attempt, Message, MessageStatus};
use hookd_core::Timestamp;

use super::{app_with_endpoints, expect_conflict, expect_not_found, fixtures, publish_at};
use crate::{
    AttemptFilter, ClaimedDelivery, DeliveryOutcome, EndpointHealth, ExpiryKind, Store,
    StoredResponse,
};

const LEASE: Duration = Duration::from_secs(30);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn days_before(base: Timestamp, days: u32) -> Timestamp {
    fixtures::earlier(base, DAY * days)
}

async fn payload_of(store: &dyn Store, message: &Message) -> String {
    store
        .message(&message.app_id, message.id.as_str())
        .await
        .unwrap()
        .payload
}

/// Claims every due delivery at `now` and records `outcome` for each, with an attempt
/// made at `now`.
async fn finish_all(store: &dyn Store, now: Timestamp, outcome: DeliveryOutcome) {
    for claimed in store.claim_due_deliveries(now, LEASE, 100).await.unwrap() {
        record(store, &claimed, outcome.clone(), now).await;
    }
}

async fn record(
    store: &dyn Store,
    claimed: &ClaimedDelivery,
    outcome: DeliveryOutcome,
    now: Timestamp,
) -> bool {
    let code = if outcome == DeliveryOutcome::Succeeded {
        200
    } else {
        500
    };
    let attempt = fixtures::attempt(claimed, code, now);
    let record = fixtures::outcome(
        claimed,
        Some(attempt),
        outcome,
        EndpointHealth::Unchanged,
        now,
    );
    store.record_outcome(&record).await.unwrap()
}

/// Old messages whose deliveries are all finished (or that had none) lose their
/// payload; an old message with a pending delivery and a recent message keep theirs; the
/// expired message still holds its `eventId`.
pub async fn expire_payloads_only_of_finished_old_messages(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let old = days_before(t0, 40);

    let mut no_deliveries = fixtures::message_with_event_id(&application.id, "a.b", "evt-old");
    no_deliveries.created_at = old;
    no_deliveries.id = fixtures::message_id_at(old);
    store.create_message(&no_deliveries, &[]).await.unwrap();
    let failed = publish_at(store.as_ref(), &application.id, &endpoints, old).await;
    finish_all(store.as_ref(), t0, DeliveryOutcome::Failed).await;
    let pending = publish_at(store.as_ref(), &application.id, &endpoints, old).await;
    let recent = publish_at(store.as_ref(), &application.id, &[], days_before(t0, 1)).await;

    let cutoff = days_before(t0, 30);
    let expired = store
        .expire_batch(ExpiryKind::MessagePayloads, cutoff, 100)
        .await
        .unwrap();
    assert_eq!(
        expired, 2,
        "the old message without deliveries and the failed one"
    );
    for gone in [&no_deliveries, &failed] {
        let message = store
            .message(&application.id, gone.id.as_str())
            .await
            .unwrap();
        assert!(message.payload_expired(), "{message:?}");
        assert_eq!(
            message.event_type, gone.event_type,
            "the message itself stays"
        );
    }
    assert_eq!(payload_of(store.as_ref(), &pending).await, pending.payload);
    assert_eq!(payload_of(store.as_ref(), &recent).await, recent.payload);
    assert_eq!(
        store
            .expire_batch(ExpiryKind::MessagePayloads, cutoff, 100)
            .await
            .unwrap(),
        0,
        "nothing is expired twice"
    );

    // eventId uniqueness outlives the payload.
    let again = fixtures::message_with_event_id(&application.id, "a.b", "evt-old");
    expect_conflict(store.create_message(&again, &[]).await);
    let by_event_id = store.message(&application.id, "evt-old").await.unwrap();
    assert_eq!(by_event_id.id, no_deliveries.id);

    // Once its delivery finishes, the pending message expires too.
    finish_all(store.as_ref(), t0, DeliveryOutcome::Succeeded).await;
    assert_eq!(
        store
            .expire_batch(ExpiryKind::MessagePayloads, cutoff, 100)
            .await
            .unwrap(),
        1
    );
    assert!(payload_of(store.as_ref(), &pending).await.is_empty());
    assert_eq!(payload_of(store.as_ref(), &recent).await, recent.payload);
}

/// The provider headers a message made at a source keeps for forwarding go with its
/// payload, whether it expires or is expunged; a message whose payload stays keeps them.
pub async fn expiry_and_expunge_clear_source_headers(store: Arc<dyn Store>) {
    let (application, _endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let with_headers = |created_at: Timestamp| Message {
        source_headers: vec![
            ("stripe-signature".to_owned(), "t=1,v1=ab".to_owned()),
            ("x-request-id".to_owned(), "req_1".to_owned()),
        ],
        ..fixtures::message_at(&application.id, "invoice.paid", r#"{"n":1}"#, created_at)
    };
    let old = with_headers(days_before(t0, 40));
    let expunged = with_headers(t0);
    let kept = with_headers(t0);
    for message in [&old, &expunged, &kept] {
        store.create_message(message, &[]).await.unwrap();
    }
    let read = |message: &Message| {
        let store = store.clone();
        let message = message.clone();
        async move {
            store
                .message(&message.app_id, message.id.as_str())
                .await
                .unwrap()
        }
    };
    assert_eq!(read(&old).await.source_headers, old.source_headers);

    let expired = store
        .expire_batch(ExpiryKind::MessagePayloads, days_before(t0, 30), 100)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let old_now = read(&old).await;
    assert!(old_now.payload_expired());
    assert!(old_now.source_headers.is_empty(), "{old_now:?}");

    store
        .expunge_message_content(&application.id, &expunged.id, t0)
        .await
        .unwrap();
    assert!(read(&expunged).await.source_headers.is_empty());
    assert_eq!(read(&kept).await, kept);
}

/// A batch takes at most `limit` records, oldest first; a short batch means done.
pub async fn expire_batch_takes_the_oldest_up_to_its_limit(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let t0 = fixtures::now();
    let mut messages = Vec::new();
    for index in 0..5 {
        let created_at = fixtures::later(days_before(t0, 10), Duration::from_secs(index));
        messages.push(publish_at(store.as_ref(), &application.id, &[], created_at).await);
    }
    let cutoff = days_before(t0, 1);
    let mut batches = Vec::new();
    loop {
        let expired = store
            .expire_batch(ExpiryKind::MessagePayloads, cutoff, 2)
            .await
            .unwrap();
        batches.push(expired);
        let expired_now: Vec<bool> = {
            let mut states = Vec::new();
            for message in &messages {
                states.push(payload_of(store.as_ref(), message).await.is_empty());
            }
            states
        };
        let n_expired = expired_now.iter().filter(|gone| **gone).count();
        assert!(
            expired_now[..n_expired].iter().all(|gone| *gone),
            "oldest first: {expired_now:?}"
        );
        if expired < 2 {
            break;
        }
    }
    assert_eq!(batches, [2, 2, 1]);
}

/// Old attempts lose their response body and request headers, keep everything else;
/// recent attempts are untouched.
pub async fn expire_attempt_content(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    let old = days_before(t0, 40);
    publish_at(store.as_ref(), &application.id, &endpoints, old).await;
    let claims = store.claim_due_deliveries(t0, LEASE, 10).await.unwrap();
    assert_eq!(claims.len(), 2);
    let old_attempt = fixtures::attempt(&claims[0], 500, old);
    let recent_attempt = fixtures::attempt(&claims[1], 200, t0);
    for (claimed, attempt) in [(&claims[0], &old_attempt), (&claims[1], &recent_attempt)] {
        let record = fixtures::outcome(
            claimed,
            Some(attempt.clone()),
            DeliveryOutcome::Succeeded,
            EndpointHealth::Unchanged,
            t0,
        );
        assert!(store.record_outcome(&record).await.unwrap());
    }

    let cutoff = days_before(t0, 30);
    assert_eq!(
        store
            .expire_batch(ExpiryKind::AttemptContent, cutoff, 100)
            .await
            .unwrap(),
        1
    );
    let expired = store
        .attempt(
            &application.id,
            &old_attempt.msg_id,
            old_attempt.id.as_str(),
        )
        .await
        .unwrap();
    assert_eq!(
        expired,
        Attempt {
            response: Attempt::EXPUNGED_RESPONSE.to_owned(),
            request_headers: Default::default(),
            ..old_attempt.clone()
        }
    );
    let kept = store
        .attempt(
            &application.id,
            &recent_attempt.msg_id,
            recent_attempt.id.as_str(),
        )
        .await
        .unwrap();
    assert_eq!(kept, recent_attempt);
    assert_eq!(
        store
            .expire_batch(ExpiryKind::AttemptContent, cutoff, 100)
            .await
            .unwrap(),
        0
    );
}

/// Idempotency keys older than the cutoff are deleted, and the key can be used afresh.
pub async fn expire_idempotency_keys(store: Arc<dyn Store>) {
    let t0 = fixtures::now();
    let window = Duration::from_secs(24 * 3600);
    let response = |status| StoredResponse {
        status,
        body: br#"{"ok":true}"#.to_vec(),
    };
    let old = fixtures::earlier(t0, window + Duration::from_secs(60));
    let fresh = fixtures::earlier(t0, Duration::from_secs(60));
    store
        .save_idempotent_response("old-key", &response(201), old)
        .await
        .unwrap();
    store
        .save_idempotent_response("fresh-key", &response(202), fresh)
        .await
        .unwrap();

    let cutoff = fixtures::earlier(t0, window);
    assert_eq!(
        store
            .expire_batch(ExpiryKind::IdempotencyKeys, cutoff, 100)
            .await
            .unwrap(),
        1
    );
    let long_ago = days_before(t0, 365);
    assert_eq!(
        store
            .idempotent_response("old-key", long_ago)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .idempotent_response("fresh-key", long_ago)
            .await
            .unwrap(),
        Some(response(202))
    );
    store
        .save_idempotent_response("old-key", &response(200), t0)
        .await
        .unwrap();
    assert_eq!(
        store.idempotent_response("old-key", cutoff).await.unwrap(),
        Some(response(200)),
        "a purged key takes a new response"
    );
}

/// Expunging removes the payload and the attempts' content, stops the unfinished
/// deliveries with an attempt saying why, and a worker holding a lease on one of them
/// can no longer change it.
pub async fn expunge_message_content_stops_unfinished_deliveries(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 3).await;
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let t1 = fixtures::later(t0, Duration::from_secs(1));
    let claims = store.claim_due_deliveries(t1, LEASE, 10).await.unwrap();
    assert_eq!(claims.len(), 3);
    let by_endpoint = |index: usize| {
        claims
            .iter()
            .find(|claimed| claimed.endpoint.id == endpoints[index].id)
            .unwrap()
    };
    // Endpoint 0 succeeded, endpoint 1 waits for a retry, endpoint 2 is in flight.
    assert!(
        record(
            store.as_ref(),
            by_endpoint(0),
            DeliveryOutcome::Succeeded,
            t1
        )
        .await
    );
    let retry_at = fixtures::later(t0, Duration::from_secs(3600));
    assert!(
        record(
            store.as_ref(),
            by_endpoint(1),
            DeliveryOutcome::RetryAt(retry_at),
            t1
        )
        .await
    );

    let t2 = fixtures::later(t0, Duration::from_secs(2));
    let stopped = store
        .expunge_message_content(&application.id, &message.id, t2)
        .await
        .unwrap();
    assert_eq!(stopped, 2, "the retrying and the in-flight deliveries");
    assert!(payload_of(store.as_ref(), &message).await.is_empty());

    for index in [1, 2] {
        let delivery = store
            .delivery(&application.id, &message.id, &endpoints[index].id)
            .await
            .unwrap();
        assert_eq!(delivery.status, MessageStatus::Fail, "endpoint {index}");
        assert_eq!(delivery.next_attempt_at, None);
        assert_eq!(store.lease_of(&delivery.id).await.unwrap(), None);
    }
    let succeeded = store
        .delivery(&application.id, &message.id, &endpoints[0].id)
        .await
        .unwrap();
    assert_eq!(succeeded.status, MessageStatus::Success);

    let attempts = store
        .list_attempts(
            &application.id,
            &AttemptFilter {
                msg_id: Some(message.id.clone()),
                ..AttemptFilter::default()
            },
            &fixtures::first_page(50),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(attempts.len(), 4, "{attempts:#?}");
    let (stops, earlier): (Vec<_>, Vec<_>) = attempts
        .iter()
        .partition(|attempt| attempt.response == Attempt::PAYLOAD_GONE_RESPONSE);
    assert_eq!(stops.len(), 2, "{attempts:#?}");
    for stop in &stops {
        assert_eq!(stop.status, MessageStatus::Fail);
        assert_eq!(stop.response_status_code, 0);
        assert_eq!(stop.created_at, t2);
        assert!(
            [&endpoints[1].id, &endpoints[2].id].contains(&&stop.endpoint_id),
            "{stop:?}"
        );
        let endpoint = endpoints
            .iter()
            .find(|endpoint| endpoint.id == stop.endpoint_id)
            .unwrap();
        assert_eq!(stop.url, endpoint.url);
    }
    for attempt in &earlier {
        assert_eq!(attempt.response, Attempt::EXPUNGED_RESPONSE, "{attempt:?}");
        assert!(attempt.request_headers.is_empty());
    }

    // The worker that was sending to endpoint 2 finishes: its attempt is logged, but the
    // delivery stays stopped.
    let late = fixtures::later(t0, Duration::from_secs(3));
    assert!(
        !record(
            store.as_ref(),
            by_endpoint(2),
            DeliveryOutcome::Succeeded,
            late
        )
        .await
    );
    let delivery = store
        .delivery(&application.id, &message.id, &endpoints[2].id)
        .await
        .unwrap();
    assert_eq!(delivery.status, MessageStatus::Fail);
    assert!(store
        .claim_due_deliveries(fixtures::later(t0, DAY), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    // Expunging again is harmless.
    assert_eq!(
        store
            .expunge_message_content(&application.id, &message.id, late)
            .await
            .unwrap(),
        0
    );
}

/// Expunge is scoped to the application and needs the message to exist.
pub async fn expunge_unknown_message_is_not_found(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let other = fixtures::application("other");
    store.create_application(&other).await.unwrap();
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &[], t0).await;
    expect_not_found(
        store
            .expunge_message_content(&other.id, &message.id, t0)
            .await,
        "message",
    );
    expect_not_found(
        store
            .expunge_message_content(&application.id, &fixtures::message_id_at(t0), t0)
            .await,
        "message",
    );
    assert_eq!(payload_of(store.as_ref(), &message).await, message.payload);
}

/// Recovering an endpoint leaves alone the failed deliveries whose message has no
/// payload any more: they could only fail again.
pub async fn recover_skips_messages_without_payload(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let kept = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let expunged = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let t1 = fixtures::later(t0, Duration::from_secs(1));
    finish_all(store.as_ref(), t1, DeliveryOutcome::Failed).await;
    store
        .expunge_message_content(&application.id, &expunged.id, t1)
        .await
        .unwrap();

    let t2 = fixtures::later(t0, Duration::from_secs(2));
    let recovered = store
        .recover_endpoint(
            &application.id,
            &endpoints[0].id,
            &crate::TimeWindow::default(),
            t2,
        )
        .await
        .unwrap();
    assert_eq!(recovered, 1);
    let revived = store
        .delivery(&application.id, &kept.id, &endpoints[0].id)
        .await
        .unwrap();
    assert_eq!(revived.status, MessageStatus::Pending);
    let left = store
        .delivery(&application.id, &expunged.id, &endpoints[0].id)
        .await
        .unwrap();
    assert_eq!(left.status, MessageStatus::Fail);
}
