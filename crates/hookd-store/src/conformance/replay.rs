//! Conformance: replaying to an endpoint the messages it never got.
//!
//! Invariants checked: a replay creates a manual delivery due now for exactly the
//! messages in its window that the endpoint accepts, that still have their payload and
//! that have no delivery to it; it walks them in bounded steps that resume where the last
//! one stopped; and it never touches a delivery that exists or another application.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::model::{MessageStatus, TriggerType};
use hookd_core::Timestamp;

use super::{app_with_endpoints, expect_not_found, fixtures};
use crate::{ReplayBatch, Store, TimeWindow};

fn secs(base: Timestamp, secs: u64) -> Timestamp {
    fixtures::later(base, Duration::from_secs(secs))
}

pub async fn replay_missing_sends_only_what_the_endpoint_never_got(store: Arc<dyn Store>) {
    let (application, old_endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let (other, other_endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let old = [old_endpoints[0].id.clone()];
    let publish = |offset: u64, event_type: &'static str, targets: Vec<_>| {
        let store = store.clone();
        let app_id = application.id.clone();
        async move {
            let message = fixtures::message_at(&app_id, event_type, "{}", secs(t0, offset));
            store.create_message(&message, &targets).await.unwrap();
            message
        }
    };
    let paid = publish(0, "invoice.paid", old.to_vec()).await;
    let created = publish(1, "user.created", old.to_vec()).await;
    let paid_again = publish(2, "invoice.paid", old.to_vec()).await;

    // The new endpoint takes invoice.paid only; one message already went to it, and
    // one lost its payload.
    let mut late = fixtures::endpoint(&application.id, "https://example.com/late");
    late.event_types = Some(vec!["invoice.paid".to_owned()]);
    store.create_endpoint(&late).await.unwrap();
    let sent = publish(3, "invoice.paid", vec![late.id.clone()]).await;
    let gone = publish(4, "invoice.paid", old.to_vec()).await;
    store
        .expunge_message_content(&application.id, &gone.id, secs(t0, 5))
        .await
        .unwrap();
    let foreign = fixtures::message_at(&other.id, "invoice.paid", "{}", secs(t0, 1));
    store
        .create_message(&foreign, &[other_endpoints[0].id.clone()])
        .await
        .unwrap();

    let now = secs(t0, 10);
    let everything = TimeWindow::default();
    // Two at a time: `paid` and `created` are looked at, `paid` is replayed.
    let first = store
        .replay_missing(&application.id, &late.id, &everything, None, 2, now)
        .await
        .unwrap();
    assert_eq!(
        first,
        ReplayBatch {
            replayed: 1,
            next: Some(created.id.clone()),
        }
    );
    let second = store
        .replay_missing(
            &application.id,
            &late.id,
            &everything,
            first.next.as_ref(),
            2,
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        second,
        ReplayBatch {
            replayed: 1,
            next: None,
        },
        "`paid_again`, and then nothing is left"
    );

    for message in [&paid, &paid_again] {
        let delivery = store
            .delivery(&application.id, &message.id, &late.id)
            .await
            .unwrap();
        assert_eq!(delivery.status, MessageStatus::Pending);
        assert_eq!(delivery.trigger, TriggerType::Manual);
        assert_eq!(delivery.n_attempts, 0);
        assert_eq!(
            delivery.next_attempt_at.map(|at| at.timestamp_millis()),
            Some(now.timestamp_millis())
        );
    }
    for message in [&created, &gone] {
        expect_not_found(
            store.delivery(&application.id, &message.id, &late.id).await,
            "delivery",
        );
    }
    let untouched = store
        .delivery(&application.id, &sent.id, &late.id)
        .await
        .unwrap();
    assert_eq!(
        untouched.trigger,
        TriggerType::Scheduled,
        "an existing delivery stays"
    );
    assert_eq!(
        untouched.next_attempt_at.map(|at| at.timestamp_millis()),
        Some(secs(t0, 3).timestamp_millis())
    );

    // A second replay finds nothing; a window excludes what is outside it.
    let again = store
        .replay_missing(&application.id, &late.id, &everything, None, 10, now)
        .await
        .unwrap();
    assert_eq!(
        again,
        ReplayBatch {
            replayed: 0,
            next: None
        }
    );
    let windowed = store
        .replay_missing(
            &application.id,
            &old_endpoints[0].id,
            &TimeWindow {
                since: Some(secs(t0, 3)),
                until: Some(secs(t0, 4)),
            },
            None,
            10,
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        windowed.replayed, 1,
        "only `sent` lacks a delivery to the old endpoint"
    );
    expect_not_found(
        store
            .delivery(&application.id, &paid.id, &other_endpoints[0].id)
            .await,
        "delivery",
    );

    expect_not_found(
        store
            .replay_missing(&other.id, &late.id, &everything, None, 10, now)
            .await,
        "endpoint",
    );
}
