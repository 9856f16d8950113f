//! Conformance: messages and their deliveries, listings and cursors, cascading deletes.
//!
//! Invariants checked: a message and its deliveries appear together; `eventId` is unique
//! per application only; every listing walks forwards and backwards over the same items
//! in either order; deleting an owner removes what it owns.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hookd_core::ids::EndpointId;
use hookd_core::model::{Message, MessageStatus, TriggerType};

use super::{
    app_with_endpoints, expect_conflict, expect_not_found, filtered_endpoints, fixtures, publish_at,
};
use crate::{
    DeliveryOutcome, EndpointHealth, MessageFilter, Ordering, Page, PageRequest, Store, StoreResult,
};

/// Publishing fans out to exactly the endpoints that are enabled and whose event-type and
/// channel filters take the message, and says how many that was.
pub async fn publish_message_fans_out_to_matching_endpoints(store: Arc<dyn Store>) {
    let application = fixtures::application("fan-out");
    store.create_application(&application).await.unwrap();
    let endpoints = filtered_endpoints(store.as_ref(), &application.id).await;

    let message = fixtures::message(&application.id, "invoice.paid", r#"{"a":1}"#);
    assert_eq!(
        store
            .publish_message(&message, None)
            .await
            .unwrap()
            .deliveries,
        2
    );
    for (endpoint, delivered) in &endpoints {
        let delivery = store
            .delivery(&application.id, &message.id, &endpoint.id)
            .await;
        assert_eq!(
            delivery.is_ok(),
            *delivered,
            "{}: {delivery:?}",
            endpoint.url
        );
    }

    let mut on_channel = fixtures::message(&application.id, "user.created", "{}");
    on_channel.channels = vec!["eu".to_owned()];
    assert_eq!(
        store
            .publish_message(&on_channel, None)
            .await
            .unwrap()
            .deliveries,
        3
    );
    let stored = store
        .message(&application.id, on_channel.id.as_str())
        .await
        .unwrap();
    assert_eq!(stored.channels, ["eu"]);

    let mut missing_app = fixtures::message(&application.id, "invoice.paid", "{}");
    missing_app.app_id = fixtures::application("nobody").id;
    expect_not_found(
        store.publish_message(&missing_app, None).await,
        "application",
    );
}

/// One pending, scheduled delivery per listed endpoint, due when the message was created.
pub async fn create_message_writes_one_delivery_per_endpoint(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 3).await;
    let message = fixtures::message(&application.id, "invoice.paid", r#"{"a":1}"#);
    let targets = vec![endpoints[0].id.clone(), endpoints[1].id.clone()];
    store.create_message(&message, &targets).await.unwrap();

    for endpoint_id in &targets {
        let delivery = store
            .delivery(&application.id, &message.id, endpoint_id)
            .await
            .unwrap();
        assert_eq!(delivery.app_id, application.id);
        assert_eq!(delivery.msg_id, message.id);
        assert_eq!(&delivery.endpoint_id, endpoint_id);
        assert_eq!(delivery.status, MessageStatus::Pending);
        assert_eq!(delivery.n_attempts, 0);
        assert_eq!(delivery.trigger, TriggerType::Scheduled);
        assert_eq!(delivery.next_attempt_at, Some(message.created_at));
    }
    expect_not_found(
        store
            .delivery(&application.id, &message.id, &endpoints[2].id)
            .await,
        "delivery",
    );
    let first = store
        .delivery(&application.id, &message.id, &targets[0])
        .await
        .unwrap();
    let second = store
        .delivery(&application.id, &message.id, &targets[1])
        .await
        .unwrap();
    assert_ne!(first.id, second.id);

    // A message for no endpoint at all is still a message.
    let lonely = fixtures::message(&application.id, "invoice.paid", "{}");
    store.create_message(&lonely, &[]).await.unwrap();
    assert_eq!(
        store
            .message(&application.id, lonely.id.as_str())
            .await
            .unwrap(),
        lonely
    );
}

/// An endpoint listed twice gets one delivery, and the message is written all the same.
pub async fn create_message_with_an_endpoint_listed_twice(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    let message = fixtures::message_at(&application.id, "invoice.paid", "{}", t0);
    let targets = [
        endpoints[0].id.clone(),
        endpoints[1].id.clone(),
        endpoints[0].id.clone(),
    ];
    store.create_message(&message, &targets).await.unwrap();
    store
        .message(&application.id, message.id.as_str())
        .await
        .unwrap();
    let claimed = store
        .claim_due_deliveries(
            fixtures::later(t0, Duration::from_secs(1)),
            Duration::from_secs(30),
            10,
        )
        .await
        .unwrap();
    let mut endpoint_ids: Vec<_> = claimed.iter().map(|c| c.endpoint.id.clone()).collect();
    endpoint_ids.sort();
    let mut expected = vec![endpoints[0].id.clone(), endpoints[1].id.clone()];
    expected.sort();
    assert_eq!(endpoint_ids, expected);
}

/// The payload is stored as text, exactly as given: key order, number spelling, escapes.
pub async fn message_payload_round_trips_byte_for_byte(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let payload = r#"{"z":1,"a":{"y":[1,2.50,{"b":null}],"x":"caf\u00e9 ✓ \"q\""},"m":1e3}"#;
    let mut message = fixtures::message(&application.id, "order.created", payload);
    message.channels = vec!["eu".into(), "vip".into()];
    message.tags = vec!["first".into()];
    store.create_message(&message, &[]).await.unwrap();
    let stored = store
        .message(&application.id, message.id.as_str())
        .await
        .unwrap();
    assert_eq!(stored.payload.as_bytes(), payload.as_bytes());
    assert_eq!(stored, message);
}

/// A message is found by id or by its `eventId`, and only through its own application.
pub async fn message_lookup_by_id_and_event_id(store: Arc<dyn Store>) {
    let (app_a, _) = app_with_endpoints(store.as_ref(), 0).await;
    let (app_b, _) = app_with_endpoints(store.as_ref(), 0).await;
    let message = fixtures::message_with_event_id(&app_a.id, "user.created", "evt-1");
    store.create_message(&message, &[]).await.unwrap();

    assert_eq!(
        store.message(&app_a.id, message.id.as_str()).await.unwrap(),
        message
    );
    assert_eq!(store.message(&app_a.id, "evt-1").await.unwrap(), message);
    expect_not_found(
        store.message(&app_b.id, message.id.as_str()).await,
        "message",
    );
    expect_not_found(store.message(&app_b.id, "evt-1").await, "message");
    expect_not_found(store.message(&app_a.id, "evt-2").await, "message");
}

/// The same `eventId` twice in one application is `Conflict` (and writes nothing); in
/// another application it is a different message.
pub async fn message_event_id_conflict_is_per_application(store: Arc<dyn Store>) {
    let (app_a, endpoints_a) = app_with_endpoints(store.as_ref(), 1).await;
    let (app_b, _) = app_with_endpoints(store.as_ref(), 0).await;
    let first = fixtures::message_with_event_id(&app_a.id, "user.created", "evt-1");
    store
        .create_message(&first, &[endpoints_a[0].id.clone()])
        .await
        .unwrap();

    let duplicate = fixtures::message_with_event_id(&app_a.id, "user.created", "evt-1");
    let message = expect_conflict(
        store
            .create_message(&duplicate, &[endpoints_a[0].id.clone()])
            .await,
    );
    assert!(
        message.contains("evt-1"),
        "conflict should name the eventId: {message}"
    );
    expect_not_found(
        store.message(&app_a.id, duplicate.id.as_str()).await,
        "message",
    );
    expect_not_found(
        store
            .delivery(&app_a.id, &duplicate.id, &endpoints_a[0].id)
            .await,
        "delivery",
    );
    assert_eq!(store.message(&app_a.id, "evt-1").await.unwrap(), first);

    let elsewhere = fixtures::message_with_event_id(&app_b.id, "user.created", "evt-1");
    store.create_message(&elsewhere, &[]).await.unwrap();
    assert_eq!(store.message(&app_b.id, "evt-1").await.unwrap(), elsewhere);
}

/// Many publishes at once (a backend may write them together) each get the answer that
/// belongs to their own message: a taken `eventId` is `Conflict` and a missing
/// application `NotFound` for that message alone, and every other message is written
/// with its deliveries.
pub async fn concurrent_publishes_each_get_their_own_answer(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let targets: Vec<_> = endpoints
        .iter()
        .map(|endpoint| endpoint.id.clone())
        .collect();
    let taken = fixtures::message_with_event_id(&application.id, "user.created", "evt-taken");
    store.create_message(&taken, &targets).await.unwrap();

    let new_messages = || -> Vec<_> {
        (0..40)
            .map(|_| fixtures::message(&application.id, "user.created", r#"{"n":1}"#))
            .collect()
    };
    // All good, then with one taken eventId and one missing application among them.
    let good = new_messages();
    for (index, answer) in publish_all(&store, &good, &targets).await {
        answer.unwrap_or_else(|error| panic!("publish {index} failed: {error}"));
    }
    for message in &good {
        assert_eq!(
            &store
                .message(&application.id, message.id.as_str())
                .await
                .unwrap(),
            message
        );
    }
    let mut messages = new_messages();
    messages[7] = fixtures::message_with_event_id(&application.id, "user.created", "evt-taken");
    messages[19] = fixtures::message(&fixtures::application_id(), "user.created", "{}");
    messages[23] = fixtures::message_with_event_id(&application.id, "user.created", "evt-new");
    for (index, answer) in publish_all(&store, &messages, &targets).await {
        let message = &messages[index];
        match index {
            7 => {
                expect_conflict(answer);
            }
            19 => expect_not_found(answer, "application"),
            _ => {
                answer.unwrap_or_else(|error| panic!("publish {index} failed: {error}"));
                assert_eq!(
                    &store
                        .message(&application.id, message.id.as_str())
                        .await
                        .unwrap(),
                    message
                );
                for endpoint_id in &targets {
                    store
                        .delivery(&application.id, &message.id, endpoint_id)
                        .await
                        .unwrap();
                }
            }
        }
    }
    expect_not_found(
        store
            .message(&application.id, messages[7].id.as_str())
            .await,
        "message",
    );
    assert_eq!(
        store.message(&application.id, "evt-taken").await.unwrap(),
        taken
    );
    assert_eq!(
        store.message(&application.id, "evt-new").await.unwrap(),
        messages[23]
    );
}

/// Publishes every message at once (each on a task of its own); returns each answer with
/// the message's index, in index order.
async fn publish_all(
    store: &Arc<dyn Store>,
    messages: &[Message],
    targets: &[EndpointId],
) -> Vec<(usize, StoreResult<()>)> {
    let mut publishes = tokio::task::JoinSet::new();
    for (index, message) in messages.iter().enumerate() {
        let (store, message, targets) = (Arc::clone(store), message.clone(), targets.to_vec());
        publishes.spawn(async move { (index, store.create_message(&message, &targets).await) });
    }
    let mut answers = publishes.join_all().await;
    answers.sort_by_key(|(index, _)| *index);
    answers
}

/// Publishing into an application that does not exist is `NotFound`.
pub async fn create_message_for_missing_application_is_not_found(store: Arc<dyn Store>) {
    let message = fixtures::message(&fixtures::application_id(), "a.b", "{}");
    expect_not_found(store.create_message(&message, &[]).await, "application");
}

/// Message listings filter by event type, channel and creation time (strict bounds).
pub async fn list_messages_filters(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let t0 = fixtures::now();
    let at = |secs: u64| fixtures::later(t0, Duration::from_secs(secs));
    let mut paid = fixtures::message_at(&application.id, "invoice.paid", "{}", at(1));
    paid.channels = vec!["eu".into()];
    let mut failed = fixtures::message_at(&application.id, "invoice.failed", "{}", at(2));
    failed.channels = vec!["us".into(), "eu".into()];
    let mut created = fixtures::message_at(&application.id, "user.created", "{}", at(3));
    created.tags = vec!["vip".into(), "new".into()];
    for message in [&paid, &failed, &created] {
        store.create_message(message, &[]).await.unwrap();
    }

    let list = |filter: MessageFilter| {
        let store = store.clone();
        let app_id = application.id.clone();
        async move {
            let first_page = fixtures::first_page(10);
            let page = store
                .list_messages(&app_id, &filter, &first_page)
                .await
                .unwrap();
            page.items.into_iter().map(|m| m.id).collect::<Vec<_>>()
        }
    };
    let all = list(MessageFilter::default()).await;
    assert_eq!(
        all,
        vec![paid.id.clone(), failed.id.clone(), created.id.clone()]
    );

    let by_type = list(MessageFilter {
        event_types: Some(vec!["invoice.paid".into(), "user.created".into()]),
        ..MessageFilter::default()
    });
    assert_eq!(by_type.await, vec![paid.id.clone(), created.id.clone()]);

    let by_channel = list(MessageFilter {
        channel: Some("eu".into()),
        ..MessageFilter::default()
    });
    assert_eq!(by_channel.await, vec![paid.id.clone(), failed.id.clone()]);

    let by_tag = list(MessageFilter {
        tag: Some("new".into()),
        ..MessageFilter::default()
    });
    assert_eq!(by_tag.await, vec![created.id.clone()]);

    let window = list(MessageFilter {
        after: Some(at(1)),
        before: Some(at(3)),
        ..MessageFilter::default()
    });
    assert_eq!(window.await, vec![failed.id.clone()]);

    let (other, _) = app_with_endpoints(store.as_ref(), 0).await;
    let page = store
        .list_messages(
            &other.id,
            &MessageFilter::default(),
            &fixtures::first_page(10),
        )
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.done);
}

/// Applications page through `limit`, `iterator` and `prevIterator` in both orders.
pub async fn paginate_applications(store: Arc<dyn Store>) {
    let mut keys = Vec::new();
    for index in 0..7 {
        let application = fixtures::application(&format!("app {index}"));
        store.create_application(&application).await.unwrap();
        keys.push(application.id.to_string());
    }
    check_pagination(
        keys,
        |page| {
            let store = store.clone();
            async move { store.list_applications(&page).await }
        },
        |application| application.id.to_string(),
    )
    .await;
}

/// Endpoints of one application page like everything else; other apps' do not appear.
pub async fn paginate_endpoints(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 7).await;
    app_with_endpoints(store.as_ref(), 2).await;
    let keys = endpoints
        .iter()
        .map(|endpoint| endpoint.id.to_string())
        .collect();
    check_pagination(
        keys,
        |page| {
            let store = store.clone();
            let app_id = application.id.clone();
            async move { store.list_endpoints(&app_id, &page).await }
        },
        |endpoint| endpoint.id.to_string(),
    )
    .await;
}

/// Messages of one application page like everything else.
pub async fn paginate_messages(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let (other, _) = app_with_endpoints(store.as_ref(), 0).await;
    let t0 = fixtures::now();
    let mut keys = Vec::new();
    for index in 0..7 {
        let created_at = fixtures::later(t0, Duration::from_millis(index));
        let message = fixtures::message_at(&application.id, "a.b", "{}", created_at);
        store.create_message(&message, &[]).await.unwrap();
        keys.push(message.id.to_string());
        let noise = fixtures::message_at(&other.id, "a.b", "{}", created_at);
        store.create_message(&noise, &[]).await.unwrap();
    }
    check_pagination(
        keys,
        |page| {
            let store = store.clone();
            let app_id = application.id.clone();
            async move {
                store
                    .list_messages(&app_id, &MessageFilter::default(), &page)
                    .await
            }
        },
        |message| message.id.to_string(),
    )
    .await;
}

/// Event types page by name.
pub async fn paginate_event_types(store: Arc<dyn Store>) {
    let mut keys = Vec::new();
    for name in ["e.a", "b.x", "g.c", "a.z", "f.f", "c.d", "d.e"] {
        store
            .create_event_type(&fixtures::event_type(name))
            .await
            .unwrap();
        keys.push(name.to_owned());
    }
    check_pagination(
        keys,
        |page| {
            let store = store.clone();
            async move { store.list_event_types(&page, true).await }
        },
        |event_type| event_type.name.clone(),
    )
    .await;
}

/// Deleting an application removes its endpoints, messages, deliveries and attempts.
pub async fn delete_application_cascades(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let (survivor, survivor_endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let kept = publish_at(store.as_ref(), &survivor.id, &survivor_endpoints, t0).await;

    let claim_at = fixtures::later(t0, Duration::from_secs(1));
    let claimed = store
        .claim_due_deliveries(claim_at, Duration::from_secs(30), 10)
        .await;
    let claimed = claimed.unwrap();
    assert_eq!(claimed.len(), 2);
    for claim in &claimed {
        let attempt = fixtures::attempt(claim, 500, claim_at);
        let retry = DeliveryOutcome::RetryAt(fixtures::later(t0, Duration::from_secs(5)));
        let record = fixtures::outcome(
            claim,
            Some(attempt),
            retry,
            EndpointHealth::Unchanged,
            claim_at,
        );
        assert!(store.record_outcome(&record).await.unwrap());
    }
    let attempts = store
        .list_attempts(
            &application.id,
            &Default::default(),
            &fixtures::first_page(10),
        )
        .await
        .unwrap();
    assert_eq!(attempts.items.len(), 1);

    store.delete_application(&application.id).await.unwrap();
    expect_not_found(
        store
            .endpoint(&application.id, endpoints[0].id.as_str())
            .await,
        "endpoint",
    );
    expect_not_found(
        store.message(&application.id, message.id.as_str()).await,
        "message",
    );
    expect_not_found(
        store
            .delivery(&application.id, &message.id, &endpoints[0].id)
            .await,
        "delivery",
    );
    expect_not_found(
        store
            .attempt(&application.id, &message.id, attempts.items[0].id.as_str())
            .await,
        "attempt",
    );
    let later = fixtures::later(t0, Duration::from_secs(3600));
    let depth = store.queue_depth(later).await.unwrap();
    assert_eq!((depth.due, depth.pending), (1, 1));
    let reclaimed = store
        .claim_due_deliveries(later, Duration::from_secs(30), 10)
        .await;
    let reclaimed = reclaimed.unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].message.id, kept.id);
}

/// Deleting an endpoint removes its deliveries and attempts, and only those.
pub async fn delete_endpoint_cascades(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    let message = publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    let claim_at = fixtures::later(t0, Duration::from_secs(1));
    let claimed = store
        .claim_due_deliveries(claim_at, Duration::from_secs(30), 10)
        .await;
    let mut attempt_ids = Vec::new();
    for claim in claimed.unwrap() {
        let attempt = fixtures::attempt(&claim, 200, claim_at);
        attempt_ids.push((claim.endpoint.id.clone(), attempt.id.clone()));
        let record = fixtures::outcome(
            &claim,
            Some(attempt),
            DeliveryOutcome::Succeeded,
            EndpointHealth::Healthy,
            claim_at,
        );
        assert!(store.record_outcome(&record).await.unwrap());
    }

    store
        .delete_endpoint(&application.id, &endpoints[0].id)
        .await
        .unwrap();
    expect_not_found(
        store
            .delivery(&application.id, &message.id, &endpoints[0].id)
            .await,
        "delivery",
    );
    store
        .delivery(&application.id, &message.id, &endpoints[1].id)
        .await
        .unwrap();
    for (endpoint_id, attempt_id) in attempt_ids {
        let found = store
            .attempt(&application.id, &message.id, attempt_id.as_str())
            .await;
        if endpoint_id == endpoints[0].id {
            expect_not_found(found, "attempt");
        } else {
            found.unwrap();
        }
    }
    store
        .message(&application.id, message.id.as_str())
        .await
        .unwrap();
}

/// Walks a listing of the items whose keys are `keys` (any order) with a limit below
/// their count, forwards and back, in both orders.
pub(super) async fn check_pagination<T, List, Fut>(
    mut keys: Vec<String>,
    list: List,
    key_of: fn(&T) -> String,
) where
    List: Fn(PageRequest) -> Fut,
    Fut: Future<Output = StoreResult<Page<T>>>,
{
    const LIMIT: usize = 3;
    keys.sort();
    assert!(
        keys.len() > LIMIT && keys.len() % LIMIT != 0,
        "the walk needs a partial last page"
    );
    for order in [Ordering::Ascending, Ordering::Descending] {
        let expected: Vec<String> = match order {
            Ordering::Ascending => keys.clone(),
            Ordering::Descending => keys.iter().rev().cloned().collect(),
        };
        let chunks: Vec<&[String]> = expected.chunks(LIMIT).collect();
        let fetch = |iterator: Option<String>| {
            let page = list(PageRequest {
                limit: LIMIT,
                iterator,
                order,
            });
            async move {
                let page = page.await.unwrap();
                let keys: Vec<String> = page.items.iter().map(key_of).collect();
                (keys, page.iterator, page.prev_iterator, page.done)
            }
        };

        // Forwards: full pages, then a partial one that is `done`.
        let mut iterator = None;
        let mut prev_iterators = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            let (got, next, prev, done) = fetch(iterator.clone()).await;
            assert_eq!(got, chunk.to_vec(), "{order:?} page {index}");
            assert_eq!(
                done,
                index + 1 == chunks.len(),
                "{order:?} page {index} done"
            );
            assert_eq!(next.as_deref(), chunk.last().map(String::as_str));
            assert_eq!(prev, Some(format!("-{}", chunk[0])));
            prev_iterators.push(prev);
            iterator = next;
        }
        let (got, next, prev, done) = fetch(iterator).await;
        assert!(
            got.is_empty() && done && next.is_none() && prev.is_none(),
            "{order:?} past end"
        );

        // Backwards: each page's prevIterator yields the page before it, in `order`;
        // `done` says nothing is left in the direction walked.
        for index in (1..chunks.len()).rev() {
            let (got, next, prev, done) = fetch(prev_iterators[index].clone()).await;
            assert_eq!(
                got,
                chunks[index - 1].to_vec(),
                "{order:?} back to page {}",
                index - 1
            );
            assert_eq!(
                done,
                index == 1,
                "{order:?} back to page {} done",
                index - 1
            );
            assert_eq!(
                next.as_deref(),
                chunks[index - 1].last().map(String::as_str)
            );
            assert_eq!(prev, prev_iterators[index - 1]);
        }
        let (got, _, _, done) = fetch(prev_iterators[0].clone()).await;
        assert!(got.is_empty() && done, "{order:?} before the first page");
    }
}
