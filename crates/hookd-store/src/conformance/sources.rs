//! Conformance: sources, stored inbound requests, deduplication by provider event id,
//! and the retention calls of the receive side.
//!
//! Invariants checked: a source's uid is unique and lookups work by id or uid; an ingest
//! commits the message, its deliveries and the stored request together; the same event
//! id inside the window is a duplicate that makes no message, outside it a new message;
//! a stored body comes back byte for byte, and the provider headers kept on the message
//! come back in order, also on a claim; listings are scoped to their source and filter
//! by status; expiry deletes only what is older than the cutoff, at most `limit` rows.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::ids::{InboundRequestId, SourceId};
use hookd_core::inbound::Provider;
use hookd_core::model::{Message, MessageStatus};
use hookd_core::source::{InboundRecord, InboundStatus, Source, SourceSettings};
use hookd_core::Timestamp;

use super::{app_with_endpoints, expect_conflict, expect_not_found, filtered_endpoints, fixtures};
use crate::{
    InboundFilter, InboundIngest, IngestOutcome, Ordering, PageRequest, PublishLease, Store,
};

fn unix_ms(at: Timestamp) -> u64 {
    u64::try_from(at.timestamp_millis()).expect("after 1970")
}

/// A standard-webhooks source of `app_id`, created now (a fixture).
pub fn inbound_source(app_id: &hookd_core::ids::ApplicationId, uid: Option<&str>) -> Source {
    let now = fixtures::now();
    Source {
        id: SourceId::new(unix_ms(now), fixtures::random_bytes()),
        uid: uid.map(str::to_owned),
        name: "billing provider".to_owned(),
        app_id: app_id.clone(),
        provider: Provider::StandardWebhooks,
        secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()],
        settings: SourceSettings {
            tolerance_secs: Some(60),
            body_limit: Some(4096),
            rate_limit: Some(10),
            generic: None,
            verify_token: Some("meta-verify".to_owned()),
        },
        created_at: now,
        updated_at: now,
    }
}

/// A verified request received by `source_id` at `received_at` (a fixture).
pub fn inbound_request_at(
    source_id: &SourceId,
    body: &[u8],
    received_at: Timestamp,
) -> InboundRecord {
    InboundRecord {
        id: InboundRequestId::new(unix_ms(received_at), fixtures::random_bytes()),
        source_id: source_id.clone(),
        method: "POST".to_owned(),
        path: format!("/in/{source_id}"),
        query: Some("a=1".to_owned()),
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-repeat".to_owned(), "1".to_owned()),
            ("x-repeat".to_owned(), "2".to_owned()),
        ],
        body: body.to_vec(),
        status: InboundStatus::Verified,
        error_code: None,
        error_detail: None,
        event_id: None,
        msg_id: None,
        source_ip: Some("203.0.113.9".to_owned()),
        received_at,
    }
}

fn rejected(source_id: &SourceId, received_at: Timestamp) -> InboundRecord {
    InboundRecord {
        status: InboundStatus::Rejected,
        error_code: Some("signature_mismatch".to_owned()),
        error_detail: Some("the signature matches none of the source's 1 secret(s)".to_owned()),
        ..inbound_request_at(source_id, b"{\"forged\":true}", received_at)
    }
}

fn ingest(
    source: &Source,
    event_id: Option<&str>,
    received_at: Timestamp,
    window: Duration,
) -> InboundIngest {
    let body = br#"{"type":"invoice.paid","n":1}"#;
    let mut message: Message = fixtures::message_at(
        &source.app_id,
        "invoice.paid",
        std::str::from_utf8(body).unwrap(),
        received_at,
    );
    message.event_id = None;
    // What the ingest route keeps of the request's headers for forwarding: names may
    // repeat, and their order matters.
    message.source_headers = vec![
        ("x-repeat".to_owned(), "1".to_owned()),
        ("x-repeat".to_owned(), "2".to_owned()),
        ("x-provider-event".to_owned(), "invoice.paid ✓".to_owned()),
    ];
    InboundIngest {
        request: InboundRecord {
            event_id: event_id.map(str::to_owned),
            ..inbound_request_at(&source.id, body, received_at)
        },
        message,
        dedup_event_id: event_id.map(str::to_owned),
        dedup_not_before: fixtures::earlier(received_at, window),
    }
}

fn newest_first(limit: usize) -> PageRequest {
    PageRequest {
        limit,
        iterator: None,
        order: Ordering::Descending,
    }
}

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// Create, look up by id and uid, list, update, delete; uids are unique; a source
/// needs its application.
pub async fn source_crud(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let stripe = inbound_source(&application.id, Some("stripe-live"));
    store.create_source(&stripe).await.unwrap();
    assert_eq!(store.source(stripe.id.as_str()).await.unwrap(), stripe);
    assert_eq!(store.source("stripe-live").await.unwrap(), stripe);
    expect_not_found(store.source("nope").await, "source");

    let clash = expect_conflict(
        store
            .create_source(&inbound_source(&application.id, Some("stripe-live")))
            .await,
    );
    assert!(clash.contains("stripe-live"), "{clash}");
    let orphan = inbound_source(&fixtures::application_id(), None);
    expect_not_found(store.create_source(&orphan).await, "application");

    let github = inbound_source(&application.id, None);
    store.create_source(&github).await.unwrap();
    let page = store.list_sources(&fixtures::first_page(1)).await.unwrap();
    assert_eq!(page.items, vec![stripe.clone()]);
    assert!(!page.done);
    let next = PageRequest {
        iterator: page.iterator.clone(),
        ..fixtures::first_page(1)
    };
    let page = store.list_sources(&next).await.unwrap();
    assert_eq!(page.items, vec![github.clone()]);

    let mut changed = stripe.clone();
    changed.name = "stripe (test mode)".to_owned();
    changed.provider = Provider::Stripe;
    changed.secrets = vec!["whsec_new".to_owned(), "whsec_old".to_owned()];
    changed.settings = SourceSettings::default();
    changed.uid = Some("stripe-test".to_owned());
    changed.updated_at = fixtures::later(stripe.updated_at, Duration::from_secs(1));
    store.update_source(&changed).await.unwrap();
    assert_eq!(store.source("stripe-test").await.unwrap(), changed);
    expect_not_found(store.source("stripe-live").await, "source");
    let mut taken = github.clone();
    taken.uid = Some("stripe-test".to_owned());
    expect_conflict(store.update_source(&taken).await);

    store.delete_source(&changed.id).await.unwrap();
    expect_not_found(store.source(changed.id.as_str()).await, "source");
    expect_not_found(store.delete_source(&changed.id).await, "source");
}

/// A verified request becomes a message with its deliveries and a stored request that
/// points at it, all from one call. The store chooses the deliveries as a publish does:
/// every enabled endpoint of the application whose filters take the message's event type
/// (the message has no channels, so an endpoint that asks for channels gets nothing).
pub async fn ingest_writes_message_deliveries_and_request(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let endpoints = filtered_endpoints(store.as_ref(), &application.id).await;
    // Another application's endpoint never gets a delivery of this one's message.
    let (_, foreign) = app_with_endpoints(store.as_ref(), 1).await;
    let src = inbound_source(&application.id, None);
    store.create_source(&src).await.unwrap();
    let now = fixtures::now();
    let ingest = ingest(&src, Some("evt_1"), now, WEEK);
    let outcome = store.ingest_inbound(ingest.clone()).await.unwrap();
    assert_eq!(
        outcome,
        IngestOutcome::Created {
            msg_id: ingest.message.id.clone()
        }
    );
    let message = store
        .message(&application.id, ingest.message.id.as_str())
        .await
        .unwrap();
    assert_eq!(message, ingest.message, "the source headers too, in order");
    for (endpoint, delivered) in &endpoints {
        let delivery = store
            .delivery(&application.id, &message.id, &endpoint.id)
            .await;
        match delivery {
            Ok(delivery) if *delivered => assert_eq!(delivery.status, MessageStatus::Pending),
            Err(crate::StoreError::NotFound("delivery")) if !*delivered => {}
            other => panic!("{}: {other:?}", endpoint.url),
        }
    }
    expect_not_found(
        store
            .delivery(&foreign[0].app_id, &message.id, &foreign[0].id)
            .await,
        "delivery",
    );
    // The worker finds the provider's headers on the message it claims.
    let claimed = store
        .claim_due_deliveries(now, Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    for delivery in &claimed {
        assert_eq!(
            delivery.message.source_headers,
            ingest.message.source_headers
        );
    }
    let stored = store
        .inbound_request(&src.id, &ingest.request.id)
        .await
        .unwrap();
    assert_eq!(
        stored,
        InboundRecord {
            status: InboundStatus::Verified,
            msg_id: Some(message.id),
            ..ingest.request.clone()
        }
    );

    // An ingest sees the endpoints as they are when it commits: one disabled since is
    // left out, one enabled since is in.
    let [(everything, _), (mut paid_only, _), _, _, (mut disabled, _)] = endpoints;
    paid_only.disabled = true;
    store.update_endpoint(&paid_only).await.unwrap();
    disabled.disabled = false;
    store.update_endpoint(&disabled).await.unwrap();
    let later = ingest_at_later(&src, now);
    store.ingest_inbound(later.clone()).await.unwrap();
    for (endpoint, delivered) in [(&everything, true), (&paid_only, false), (&disabled, true)] {
        let delivery = store
            .delivery(&application.id, &later.message.id, &endpoint.id)
            .await;
        assert_eq!(
            delivery.is_ok(),
            delivered,
            "{}: {delivery:?}",
            endpoint.url
        );
    }
}

/// A second verified request of `source`, a second after `at`, without an event id.
fn ingest_at_later(source: &Source, at: Timestamp) -> InboundIngest {
    ingest(
        source,
        None,
        fixtures::later(at, Duration::from_secs(1)),
        WEEK,
    )
}

/// The verified request that became a message is found by that message (body and
/// headers as received); a duplicate pointing at it is not, nor is anything for a
/// published message, another source's message, or after the request expired.
pub async fn inbound_request_of_message_finds_the_request_that_became_it(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let src = inbound_source(&application.id, None);
    let other = inbound_source(&application.id, None);
    store.create_source(&src).await.unwrap();
    store.create_source(&other).await.unwrap();
    let now = fixtures::now();

    let first = ingest(&src, Some("evt_7"), now, WEEK);
    store.ingest_inbound(first.clone()).await.unwrap();
    let repeat_at = fixtures::later(now, Duration::from_secs(1));
    let repeat = ingest(&src, Some("evt_7"), repeat_at, WEEK);
    assert!(matches!(
        store.ingest_inbound(repeat.clone()).await.unwrap(),
        IngestOutcome::Duplicate { .. }
    ));
    let found = store
        .inbound_request_of_message(&src.id, &first.message.id)
        .await
        .unwrap()
        .expect("the request that became the message");
    assert_eq!(found.id, first.request.id);
    assert_eq!(found.body, first.request.body);
    assert_eq!(found.headers, first.request.headers);
    assert_eq!(found.status, InboundStatus::Verified);

    // Another source's message, and a message published directly, have no request here.
    let elsewhere = ingest(&other, None, now, WEEK);
    store.ingest_inbound(elsewhere.clone()).await.unwrap();
    assert_eq!(
        store
            .inbound_request_of_message(&src.id, &elsewhere.message.id)
            .await
            .unwrap(),
        None
    );
    assert!(store
        .inbound_request_of_message(&other.id, &elsewhere.message.id)
        .await
        .unwrap()
        .is_some());
    let published = fixtures::message(&application.id, "invoice.paid", "{}");
    store.create_message(&published, &[]).await.unwrap();
    assert_eq!(
        store
            .inbound_request_of_message(&src.id, &published.id)
            .await
            .unwrap(),
        None
    );

    // Once expired, the request is gone for this lookup too.
    store
        .expire_inbound_requests(fixtures::later(repeat_at, Duration::from_secs(1)), 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .inbound_request_of_message(&src.id, &first.message.id)
            .await
            .unwrap(),
        None
    );
}

/// The same event id inside the window is a duplicate: stored, pointing at the first
/// message, and no second message. Outside the window it is new again; another source
/// may use the same id.
pub async fn ingest_deduplicates_by_event_id_within_the_window(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 1).await;
    let src = inbound_source(&application.id, None);
    let other = inbound_source(&application.id, None);
    store.create_source(&src).await.unwrap();
    store.create_source(&other).await.unwrap();
    let start = fixtures::now();
    let window = Duration::from_secs(3600);

    let first = ingest(&src, Some("evt_42"), start, window);
    let first_msg = first.message.id.clone();
    store.ingest_inbound(first.clone()).await.unwrap();

    let again_at = fixtures::later(start, Duration::from_secs(60));
    let again = ingest(&src, Some("evt_42"), again_at, window);
    assert_eq!(
        store.ingest_inbound(again.clone()).await.unwrap(),
        IngestOutcome::Duplicate {
            msg_id: Some(first_msg.clone())
        }
    );
    expect_not_found(
        store
            .message(&application.id, again.message.id.as_str())
            .await,
        "message",
    );
    let stored = store
        .inbound_request(&src.id, &again.request.id)
        .await
        .unwrap();
    assert_eq!(stored.status, InboundStatus::Duplicate);
    assert_eq!(stored.msg_id, Some(first_msg.clone()));

    // Another source has its own ids.
    let elsewhere = ingest(&other, Some("evt_42"), again_at, window);
    assert!(matches!(
        store.ingest_inbound(elsewhere.clone()).await.unwrap(),
        IngestOutcome::Created { .. }
    ));

    // Past the window the id counts as new, and a later re-send duplicates the new one.
    let late_at = fixtures::later(start, Duration::from_secs(2 * 3600));
    let late = ingest(&src, Some("evt_42"), late_at, window);
    let late_msg = late.message.id.clone();
    assert_eq!(
        store.ingest_inbound(late.clone()).await.unwrap(),
        IngestOutcome::Created {
            msg_id: late_msg.clone()
        }
    );
    let after_late = ingest(
        &src,
        Some("evt_42"),
        fixtures::later(late_at, Duration::from_secs(1)),
        window,
    );
    assert_eq!(
        store.ingest_inbound(after_late.clone()).await.unwrap(),
        IngestOutcome::Duplicate {
            msg_id: Some(late_msg)
        }
    );
}

/// Without an event id nothing is deduplicated.
pub async fn ingest_without_event_id_always_creates(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let src = inbound_source(&application.id, None);
    store.create_source(&src).await.unwrap();
    let now = fixtures::now();
    for _ in 0..2 {
        let ingest = ingest(&src, None, now, WEEK);
        assert!(matches!(
            store.ingest_inbound(ingest.clone()).await.unwrap(),
            IngestOutcome::Created { .. }
        ));
    }
    let page = store
        .list_inbound_requests(&src.id, &InboundFilter::default(), &newest_first(10))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
}

/// An ingest that asks for a lease writes every delivery and leases up to the asked
/// number; what it leases is held: claims skip it until the lease expires, and the rest
/// are claimed as usual. A duplicate writes and leases nothing.
pub async fn ingest_with_a_lease_holds_what_it_leases(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 3).await;
    let src = inbound_source(&application.id, None);
    store.create_source(&src).await.unwrap();
    let now = fixtures::now();
    let lease = PublishLease {
        duration: Duration::from_secs(30),
        max_deliveries: 2,
    };
    let (outcome, published) = store
        .ingest_inbound_leased(ingest(&src, Some("evt_1"), now, WEEK), Some(lease))
        .await
        .unwrap();
    let IngestOutcome::Created { msg_id } = outcome else {
        panic!("not created: {outcome:?}");
    };
    // Both backends lease: up to the asked number, the rest queued.
    assert_eq!(published.deliveries, 3, "{published:?}");
    assert_eq!(published.leased.len(), 2, "{published:?}");
    for leased in &published.leased {
        assert_eq!(leased.message.id, msg_id);
        assert_eq!(leased.delivery.endpoint_id, leased.endpoint.id);
        let expires = store.lease_of(&leased.delivery.id).await.unwrap();
        assert_eq!(expires, Some(fixtures::later(now, lease.duration)));
    }
    let claimed = store
        .claim_due_deliveries(
            fixtures::later(now, Duration::from_secs(1)),
            lease.duration,
            10,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3 - published.leased.len());
    assert!(claimed.iter().all(|claim| published
        .leased
        .iter()
        .all(|l| l.delivery.id != claim.delivery.id)));

    let (again, nothing) = store
        .ingest_inbound_leased(ingest(&src, Some("evt_1"), now, WEEK), Some(lease))
        .await
        .unwrap();
    assert!(
        matches!(again, IngestOutcome::Duplicate { .. }),
        "{again:?}"
    );
    assert_eq!(nothing, crate::Published::default());
}

/// Rejected requests are stored as given, body byte for byte; listings are newest
/// first, filter by status, and are scoped to their source.
pub async fn inbound_requests_are_listed_and_filtered(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let src = inbound_source(&application.id, None);
    let other = inbound_source(&application.id, None);
    store.create_source(&src).await.unwrap();
    store.create_source(&other).await.unwrap();
    let start = fixtures::now();

    let mut bad = rejected(&src.id, start);
    bad.body = vec![0xff, 0x00, 0xfe, b'{'];
    store.record_inbound_request(&bad).await.unwrap();
    let good = ingest(
        &src,
        Some("evt_1"),
        fixtures::later(start, Duration::from_millis(5)),
        WEEK,
    );
    store.ingest_inbound(good.clone()).await.unwrap();
    let handshake = InboundRecord {
        status: InboundStatus::Handshake,
        ..inbound_request_at(
            &src.id,
            b"",
            fixtures::later(start, Duration::from_millis(10)),
        )
    };
    store.record_inbound_request(&handshake).await.unwrap();
    store
        .record_inbound_request(&rejected(&other.id, start))
        .await
        .unwrap();

    assert_eq!(store.inbound_request(&src.id, &bad.id).await.unwrap(), bad);
    expect_not_found(
        store.inbound_request(&other.id, &bad.id).await,
        "inbound request",
    );

    let all = store
        .list_inbound_requests(&src.id, &InboundFilter::default(), &newest_first(10))
        .await
        .unwrap();
    let ids: Vec<_> = all.items.iter().map(|request| request.id.clone()).collect();
    assert_eq!(
        ids,
        vec![
            handshake.id.clone(),
            good.request.id.clone(),
            bad.id.clone()
        ]
    );
    assert!(all.done);

    let only_rejected = store
        .list_inbound_requests(
            &src.id,
            &InboundFilter {
                status: Some(InboundStatus::Rejected),
            },
            &newest_first(10),
        )
        .await
        .unwrap();
    assert_eq!(only_rejected.items, vec![bad]);

    let first = store
        .list_inbound_requests(&src.id, &InboundFilter::default(), &newest_first(2))
        .await
        .unwrap();
    assert!(!first.done);
    let rest = store
        .list_inbound_requests(
            &src.id,
            &InboundFilter::default(),
            &PageRequest {
                iterator: first.iterator,
                ..newest_first(2)
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.done);

    let unknown = rejected(&SourceId::new(1, [1; 14]), start);
    expect_not_found(store.record_inbound_request(&unknown).await, "source");
}

/// Expiry deletes stored requests and dedup keys older than the cutoff, at most `limit`
/// per call; an expired dedup key lets the event id through again.
pub async fn expire_inbound_requests_and_dedup_keys(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let src = inbound_source(&application.id, None);
    store.create_source(&src).await.unwrap();
    let start = fixtures::now();
    let old = fixtures::earlier(start, Duration::from_secs(10 * 24 * 3600));
    for index in 0..3u64 {
        let at = fixtures::later(old, Duration::from_millis(index));
        store
            .record_inbound_request(&rejected(&src.id, at))
            .await
            .unwrap();
    }
    let old_ingest = ingest(
        &src,
        Some("evt_old"),
        fixtures::later(old, Duration::from_millis(5)),
        WEEK,
    );
    store.ingest_inbound(old_ingest.clone()).await.unwrap();
    let fresh = rejected(&src.id, start);
    store.record_inbound_request(&fresh).await.unwrap();
    let fresh_ingest = ingest(&src, Some("evt_new"), start, WEEK);
    store.ingest_inbound(fresh_ingest.clone()).await.unwrap();

    let cutoff = fixtures::earlier(start, WEEK);
    assert_eq!(store.expire_inbound_requests(cutoff, 2).await.unwrap(), 2);
    assert_eq!(store.expire_inbound_requests(cutoff, 2).await.unwrap(), 2);
    assert_eq!(store.expire_inbound_requests(cutoff, 2).await.unwrap(), 0);
    let left = store
        .list_inbound_requests(&src.id, &InboundFilter::default(), &newest_first(10))
        .await
        .unwrap();
    let ids: Vec<_> = left
        .items
        .iter()
        .map(|request| request.id.clone())
        .collect();
    assert_eq!(ids, vec![fresh_ingest.request.id.clone(), fresh.id.clone()]);

    assert_eq!(store.expire_dedup_keys(cutoff, 10).await.unwrap(), 1);
    assert_eq!(store.expire_dedup_keys(cutoff, 10).await.unwrap(), 0);
    // evt_new is still remembered; evt_old is forgotten, even with an endless window.
    let again_new = ingest(
        &src,
        Some("evt_new"),
        fixtures::later(start, Duration::from_secs(1)),
        WEEK,
    );
    assert!(matches!(
        store.ingest_inbound(again_new.clone()).await.unwrap(),
        IngestOutcome::Duplicate { .. }
    ));
    let mut again_old = ingest(
        &src,
        Some("evt_old"),
        fixtures::later(start, Duration::from_secs(1)),
        WEEK,
    );
    again_old.dedup_not_before = hookd_core::Timestamp::UNIX_EPOCH;
    assert!(matches!(
        store.ingest_inbound(again_old.clone()).await.unwrap(),
        IngestOutcome::Created { .. }
    ));
}

/// Deleting a source removes its requests and dedup keys; deleting its application
/// removes the source.
pub async fn delete_source_and_application_cascade(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 0).await;
    let src = inbound_source(&application.id, Some("cascade"));
    store.create_source(&src).await.unwrap();
    let now = fixtures::now();
    let first = ingest(&src, Some("evt_1"), now, WEEK);
    store.ingest_inbound(first.clone()).await.unwrap();
    store.delete_source(&src.id).await.unwrap();
    expect_not_found(
        store.inbound_request(&src.id, &first.request.id).await,
        "inbound request",
    );
    // Re-created under the same id, the source has forgotten evt_1.
    store.create_source(&src).await.unwrap();
    let again = ingest(&src, Some("evt_1"), now, WEEK);
    assert!(matches!(
        store.ingest_inbound(again.clone()).await.unwrap(),
        IngestOutcome::Created { .. }
    ));
    store.delete_application(&application.id).await.unwrap();
    expect_not_found(store.source("cascade").await, "source");
    expect_not_found(
        store.inbound_request(&src.id, &again.request.id).await,
        "inbound request",
    );
}

/// An ingest for a source that is gone (deleted between the route's lookup and the
/// write) is `NotFound("source")` and leaves nothing behind: no message, no delivery,
/// no stored request, with or without an event id.
pub async fn ingest_for_a_missing_source_writes_nothing(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 1).await;
    let gone = inbound_source(&application.id, None);
    store.create_source(&gone).await.unwrap();
    store.delete_source(&gone.id).await.unwrap();
    let now = fixtures::now();
    for event_id in [Some("evt_gone"), None] {
        let ingest = ingest(&gone, event_id, now, WEEK);
        expect_not_found(store.ingest_inbound(ingest.clone()).await, "source");
        expect_not_found(
            store
                .message(&application.id, ingest.message.id.as_str())
                .await,
            "message",
        );
    }
    let messages = store
        .list_messages(
            &application.id,
            &crate::MessageFilter::default(),
            &fixtures::first_page(10),
        )
        .await
        .unwrap();
    assert!(messages.items.is_empty(), "{:?}", messages.items);
    let claimed = store
        .claim_due_deliveries(now, Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert!(claimed.is_empty(), "{claimed:?}");
    // Created again under the same id, the source starts with no stored requests.
    store.create_source(&gone).await.unwrap();
    let requests = store
        .list_inbound_requests(&gone.id, &InboundFilter::default(), &newest_first(10))
        .await
        .unwrap();
    assert!(requests.items.is_empty(), "{:?}", requests.items);
}

/// Many ingests of one event id at once (a provider's retry racing its original, or two
/// nodes): exactly one makes a message, the others are duplicates pointing at it.
pub async fn concurrent_ingests_of_one_event_id_make_one_message(store: Arc<dyn Store>) {
    let (application, _) = app_with_endpoints(store.as_ref(), 1).await;
    let src = inbound_source(&application.id, None);
    store.create_source(&src).await.unwrap();
    let now = fixtures::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        let ingest = ingest(&src, Some("evt_race"), now, WEEK);
        tasks.push(tokio::spawn(async move {
            store.ingest_inbound(ingest.clone()).await.unwrap()
        }));
    }
    let mut created = Vec::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            IngestOutcome::Created { msg_id } => created.push(msg_id),
            IngestOutcome::Duplicate { msg_id } => duplicates.push(msg_id),
        }
    }
    assert_eq!(created.len(), 1, "exactly one ingest makes the message");
    assert_eq!(duplicates.len(), 7);
    for msg_id in duplicates {
        assert_eq!(msg_id.as_ref(), Some(&created[0]));
    }
    let messages = store
        .list_messages(
            &application.id,
            &crate::MessageFilter::default(),
            &fixtures::first_page(50),
        )
        .await
        .unwrap();
    assert_eq!(messages.items.len(), 1);
}
