//! Conformance: deliveries seen from either side (the endpoints a message went to, the
//! messages an endpoint was sent, each with its delivery's state) and the expunging of
//! one attempt's content.
//!
//! Invariants checked: each listing shows every delivery once with its current status and
//! next attempt, pages on its key both ways, filters as documented, and never shows
//! another application's records.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::model::{Attempt, MessageStatus};
use hookd_core::Timestamp;

use super::{app_with_endpoints, expect_not_found, fixtures, publish_at};
use crate::{
    DeliveryOutcome, EndpointHealth, EndpointMessageFilter, MessageFilter, Ordering, PageRequest,
    Store,
};

const LEASE: Duration = Duration::from_secs(30);

fn secs(base: Timestamp, secs: u64) -> Timestamp {
    fixtures::later(base, Duration::from_secs(secs))
}

fn newest_first(limit: usize, iterator: Option<String>) -> PageRequest {
    PageRequest {
        limit,
        iterator,
        order: Ordering::Descending,
    }
}

/// Claims what is due at `at` and settles each claim of `msg_id` whose endpoint is in
/// `outcomes` with the outcome given for it (an attempt each); other claims are released.
async fn settle(
    store: &dyn Store,
    at: Timestamp,
    outcomes: &[(
        &hookd_core::ids::EndpointId,
        &hookd_core::ids::MessageId,
        DeliveryOutcome,
    )],
) {
    for claim in store.claim_due_deliveries(at, LEASE, 100).await.unwrap() {
        let settled = outcomes.iter().find(|(endpoint_id, msg_id, _)| {
            *endpoint_id == &claim.endpoint.id && *msg_id == &claim.message.id
        });
        match settled {
            Some((_, _, outcome)) => {
                let attempt = fixtures::attempt(&claim, 200, at);
                let record = fixtures::outcome(
                    &claim,
                    Some(attempt),
                    outcome.clone(),
                    EndpointHealth::Unchanged,
                    at,
                );
                assert!(store.record_outcome(&record).await.unwrap(), "lease lost");
            }
            None => store.release_delivery(&claim.lease, at).await.unwrap(),
        }
    }
}

pub async fn list_message_destinations_with_their_state(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 3).await;
    let (other, other_endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    publish_at(store.as_ref(), &other.id, &other_endpoints, t0).await;
    let retry_at = secs(t0, 60);
    settle(
        store.as_ref(),
        secs(t0, 1),
        &[
            (&endpoints[0].id, &message.id, DeliveryOutcome::Succeeded),
            (
                &endpoints[1].id,
                &message.id,
                DeliveryOutcome::RetryAt(retry_at),
            ),
        ],
    )
    .await;

    let page = store
        .list_message_destinations(&application.id, &message.id, &newest_first(10, None))
        .await
        .unwrap();
    assert!(page.done);
    let mut expected: Vec<_> = endpoints
        .iter()
        .map(|endpoint| endpoint.id.clone())
        .collect();
    expected.sort();
    expected.reverse();
    let listed: Vec<_> = page.items.iter().map(|d| d.endpoint.id.clone()).collect();
    assert_eq!(listed, expected, "every endpoint once, newest first");
    for destination in &page.items {
        assert_eq!(destination.delivery.msg_id, message.id);
        assert_eq!(destination.delivery.endpoint_id, destination.endpoint.id);
        let endpoint = endpoints
            .iter()
            .find(|endpoint| endpoint.id == destination.endpoint.id)
            .unwrap();
        assert_eq!(destination.endpoint.url, endpoint.url);
        let (status, next_attempt_at) = if endpoint.id == endpoints[0].id {
            (MessageStatus::Success, None)
        } else if endpoint.id == endpoints[1].id {
            (MessageStatus::Sending, Some(retry_at))
        } else {
            (MessageStatus::Pending, Some(secs(t0, 1)))
        };
        assert_eq!(destination.delivery.status, status, "{}", endpoint.url);
        assert_eq!(
            destination
                .delivery
                .next_attempt_at
                .map(|at| at.timestamp_millis()),
            next_attempt_at.map(|at| at.timestamp_millis()),
            "{}",
            endpoint.url
        );
    }

    // Two pages of two and one, and back.
    let first = store
        .list_message_destinations(&application.id, &message.id, &newest_first(2, None))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(!first.done);
    let second = store
        .list_message_destinations(
            &application.id,
            &message.id,
            &newest_first(2, first.iterator),
        )
        .await
        .unwrap();
    assert!(second.done);
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].endpoint.id, expected[2]);
    let back = store
        .list_message_destinations(
            &application.id,
            &message.id,
            &newest_first(2, second.prev_iterator),
        )
        .await
        .unwrap();
    let back: Vec<_> = back.items.iter().map(|d| d.endpoint.id.clone()).collect();
    assert_eq!(back, expected[..2]);

    // Another application sees nothing of it.
    let foreign = store
        .list_message_destinations(&other.id, &message.id, &newest_first(10, None))
        .await
        .unwrap();
    assert!(foreign.items.is_empty() && foreign.done);
}

pub async fn list_endpoint_messages_with_their_state(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let (other, _) = app_with_endpoints(store.as_ref(), 0).await;
    let t0 = fixtures::now();
    let mut messages = Vec::new();
    for (offset, event_type) in [
        (0, "invoice.paid"),
        (1, "user.created"),
        (2, "invoice.paid"),
    ] {
        let mut message =
            fixtures::message_at(&application.id, event_type, r#"{"n":1}"#, secs(t0, offset));
        if offset == 1 {
            message.channels = vec!["eu".to_owned()];
        }
        // The third goes to the second endpoint only.
        let targets: Vec<_> = if offset == 2 {
            vec![endpoints[1].id.clone()]
        } else {
            endpoints
                .iter()
                .map(|endpoint| endpoint.id.clone())
                .collect()
        };
        store.create_message(&message, &targets).await.unwrap();
        messages.push(message);
    }
    settle(
        store.as_ref(),
        secs(t0, 5),
        &[(&endpoints[0].id, &messages[0].id, DeliveryOutcome::Failed)],
    )
    .await;

    let list = |filter: EndpointMessageFilter, endpoint: usize| {
        let store = store.clone();
        let (app_id, endpoint_id) = (application.id.clone(), endpoints[endpoint].id.clone());
        async move {
            store
                .list_endpoint_messages(&app_id, &endpoint_id, &filter, &newest_first(10, None))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|sent| (sent.message.id, sent.delivery.status))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(EndpointMessageFilter::default(), 0).await,
        vec![
            (messages[1].id.clone(), MessageStatus::Pending),
            (messages[0].id.clone(), MessageStatus::Fail),
        ],
        "the endpoint's messages, newest first, never one it was not sent"
    );
    assert_eq!(list(EndpointMessageFilter::default(), 1).await.len(), 3);
    let failed = EndpointMessageFilter {
        status: Some(MessageStatus::Fail),
        ..EndpointMessageFilter::default()
    };
    assert_eq!(
        list(failed, 0).await,
        vec![(messages[0].id.clone(), MessageStatus::Fail)]
    );
    let by_type = EndpointMessageFilter {
        message: MessageFilter {
            event_types: Some(vec!["invoice.paid".to_owned()]),
            ..MessageFilter::default()
        },
        status: None,
    };
    let ids = |listed: Vec<(hookd_core::ids::MessageId, MessageStatus)>| {
        listed.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(list(by_type, 1).await),
        vec![messages[2].id.clone(), messages[0].id.clone()]
    );
    let by_channel = EndpointMessageFilter {
        message: MessageFilter {
            channel: Some("eu".to_owned()),
            ..MessageFilter::default()
        },
        status: None,
    };
    assert_eq!(ids(list(by_channel, 1).await), vec![messages[1].id.clone()]);
    let before = EndpointMessageFilter {
        message: MessageFilter {
            before: Some(secs(t0, 1)),
            ..MessageFilter::default()
        },
        status: None,
    };
    assert_eq!(ids(list(before, 1).await), vec![messages[0].id.clone()]);

    // The payload comes along, and pages cut on the message id.
    let first = store
        .list_endpoint_messages(
            &application.id,
            &endpoints[1].id,
            &EndpointMessageFilter::default(),
            &newest_first(2, None),
        )
        .await
        .unwrap();
    assert!(!first.done);
    assert_eq!(first.items[0].message.payload, r#"{"n":1}"#);
    assert_eq!(first.items[0].delivery.endpoint_id, endpoints[1].id);
    let rest = store
        .list_endpoint_messages(
            &application.id,
            &endpoints[1].id,
            &EndpointMessageFilter::default(),
            &newest_first(2, first.iterator),
        )
        .await
        .unwrap();
    assert!(rest.done);
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].message.id, messages[0].id);

    // Through another application the endpoint has no messages.
    let foreign = store
        .list_endpoint_messages(
            &other.id,
            &endpoints[0].id,
            &EndpointMessageFilter::default(),
            &newest_first(10, None),
        )
        .await
        .unwrap();
    assert!(foreign.items.is_empty());
}

pub async fn expunge_attempt_content_clears_that_attempt_only(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let (other, _) = app_with_endpoints(store.as_ref(), 0).await;
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let claims = store.claim_due_deliveries(t0, LEASE, 10).await.unwrap();
    let mut attempts = Vec::new();
    for claim in &claims {
        let attempt = fixtures::attempt(claim, 200, t0);
        let record = fixtures::outcome(
            claim,
            Some(attempt.clone()),
            DeliveryOutcome::Succeeded,
            EndpointHealth::Unchanged,
            t0,
        );
        assert!(store.record_outcome(&record).await.unwrap());
        attempts.push(attempt);
    }
    assert_eq!(attempts.len(), 2);
    assert_ne!(attempts[0].response, Attempt::EXPUNGED_RESPONSE);

    store
        .expunge_attempt_content(&application.id, &message.id, attempts[0].id.as_str())
        .await
        .unwrap();
    let expunged = store
        .attempt(&application.id, &message.id, attempts[0].id.as_str())
        .await
        .unwrap();
    assert_eq!(
        expunged,
        Attempt {
            response: Attempt::EXPUNGED_RESPONSE.to_owned(),
            request_headers: Default::default(),
            ..attempts[0].clone()
        }
    );
    let kept = store
        .attempt(&application.id, &message.id, attempts[1].id.as_str())
        .await
        .unwrap();
    assert_eq!(kept, attempts[1]);

    expect_not_found(
        store
            .expunge_attempt_content(&other.id, &message.id, attempts[1].id.as_str())
            .await,
        "attempt",
    );
    expect_not_found(
        store
            .expunge_attempt_content(&application.id, &message.id, "atmpt_missing")
            .await,
        "attempt",
    );
    let still = store
        .attempt(&application.id, &message.id, attempts[1].id.as_str())
        .await
        .unwrap();
    assert_eq!(still, attempts[1], "a refused expunge changes nothing");
}
