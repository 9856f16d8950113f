//! Checks that every listing, the claim and the queue counts are served by an index:
//! no full table scan and no sort in a temporary b-tree, whatever the filters and order.

use hookd_core::ids::{ApplicationId, EndpointId, MessageId};
use hookd_core::model::MessageStatus;
use hookd_store::{AttemptFilter, EndpointMessageFilter, MessageFilter, Ordering, PageRequest};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use crate::pagination::Listing;
use crate::{
    applications, destinations, event_types, messages, queue, setup, stream_positions, streams,
};

fn plan(connection: &Connection, sql: &str, params: Vec<Value>) -> Vec<String> {
    let mut statement = connection
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|error| panic!("{error}: {sql}"));
    statement
        .query_map(params_from_iter(params), |row| row.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[track_caller]
fn assert_indexed(connection: &Connection, sql: &str, params: Vec<Value>) {
    let plan = plan(connection, sql, params);
    for step in &plan {
        let full_scan =
            step.starts_with("SCAN ") && !step.contains(" USING ") && !step.contains("json_each");
        assert!(!full_scan, "full scan in {plan:?}\nfor {sql}");
        assert!(!step.contains("TEMP B-TREE"), "sort in {plan:?}\nfor {sql}");
    }
}

fn pages() -> Vec<PageRequest> {
    let mut pages = Vec::new();
    for order in [Ordering::Ascending, Ordering::Descending] {
        for iterator in [None, Some("k".to_owned()), Some("-k".to_owned())] {
            pages.push(PageRequest {
                limit: 50,
                iterator,
                order,
            });
        }
    }
    pages
}

fn assert_listing_indexed(connection: &Connection, listing: &Listing) {
    for page in pages() {
        let (sql, params) = listing.page_sql(&page);
        assert_indexed(connection, &sql, params);
    }
}

#[test]
fn every_query_that_can_grow_is_index_backed() {
    let dir = tempfile::tempdir().unwrap();
    let connection = setup::open_writer(&dir.path().join("plans.db")).unwrap();
    let app_id = ApplicationId::new(1, [1; 14]);
    let endpoint_id = EndpointId::new(1, [2; 14]);
    let msg_id = MessageId::new(1, [3; 14]);

    assert_listing_indexed(&connection, &applications::applications_listing());
    assert_listing_indexed(&connection, &applications::endpoints_listing(&app_id));
    assert_listing_indexed(&connection, &event_types::event_types_listing(true));
    assert_listing_indexed(&connection, &event_types::event_types_listing(false));

    let message_filters = [
        MessageFilter::default(),
        MessageFilter {
            event_types: Some(vec!["a.b".into(), "c.d".into()]),
            channel: Some("eu".into()),
            tag: Some("vip".into()),
            before: Some(chrono::Utc::now()),
            after: Some(chrono::Utc::now()),
        },
    ];
    for filter in &message_filters {
        assert_listing_indexed(&connection, &messages::messages_listing(&app_id, filter));
        for status in [None, Some(MessageStatus::Fail)] {
            let filter = EndpointMessageFilter {
                message: filter.clone(),
                status,
            };
            let listing = destinations::endpoint_messages_listing(&app_id, &endpoint_id, &filter);
            assert_listing_indexed(&connection, &listing);
        }
    }
    assert_listing_indexed(
        &connection,
        &destinations::destinations_listing(&app_id, &msg_id),
    );

    // N.B.: the application-wide listing (no filter) has no index of its own since
    // migration 0009: no API route lists attempts by application alone, so it walks the
    // id index and skips other applications' attempts instead of costing every attempt
    // insert an index entry.
    let attempt_filters = [
        AttemptFilter::default(),
        AttemptFilter {
            endpoint_id: Some(endpoint_id.clone()),
            ..AttemptFilter::default()
        },
        AttemptFilter {
            msg_id: Some(msg_id.clone()),
            status: Some(MessageStatus::Fail),
            ..AttemptFilter::default()
        },
        AttemptFilter {
            endpoint_id: Some(endpoint_id.clone()),
            msg_id: Some(msg_id),
            status: Some(MessageStatus::Success),
            response_status_codes: Some(200..=299),
            message: MessageFilter {
                event_types: Some(vec!["a.b".into()]),
                channel: Some("eu".into()),
                tag: Some("vip".into()),
                ..MessageFilter::default()
            },
            before: Some(chrono::Utc::now()),
            after: Some(chrono::Utc::now()),
        },
    ];
    for filter in &attempt_filters {
        assert_listing_indexed(&connection, &messages::attempts_listing(&app_id, filter));
    }

    let now = Value::Integer(1);
    assert_indexed(
        &connection,
        &queue::claim_sql(),
        vec![now.clone(), Value::Integer(10)],
    );
    let claim_plan = plan(
        &connection,
        &queue::claim_sql(),
        vec![now.clone(), Value::Integer(10)],
    );
    assert!(
        claim_plan
            .iter()
            .any(|step| step.contains("deliveries_due")),
        "the claim walks the queue index: {claim_plan:?}"
    );
    assert_indexed(&connection, queue::QUEUE_DEPTH_SQL, vec![now.clone()]);
    assert_indexed(
        &connection,
        crate::observability::OLDEST_WAITING_SQL,
        vec![now.clone()],
    );
    assert_indexed(
        &connection,
        queue::ENDPOINT_STATS_SQL,
        vec![
            Value::Text(endpoint_id.to_string()),
            Value::Null,
            Value::Null,
        ],
    );

    let app = Value::Text(app_id.to_string());
    let stream_plan = plan(
        &connection,
        &streams::stream_messages_sql(),
        vec![app.clone(), Value::Integer(0), Value::Integer(100)],
    );
    assert_indexed(
        &connection,
        &streams::stream_messages_sql(),
        vec![app.clone(), Value::Integer(0), Value::Integer(100)],
    );
    assert!(
        stream_plan
            .iter()
            .any(|step| step.contains("messages_by_stream")),
        "a stream reads in position order off its index: {stream_plan:?}"
    );
    assert_indexed(&connection, streams::STREAM_HEAD_SQL, vec![app.clone()]);
    assert_indexed(
        &connection,
        streams::STREAM_CURSOR_OF_SQL,
        vec![Value::Text(msg_id_text()), app],
    );
    // Opening the store reads every application's highest position: one index step per
    // application (the scan of `applications` is that loop), none per message.
    let highest_plan = plan(&connection, stream_positions::HIGHEST_HELD_SQL, vec![]);
    assert!(
        highest_plan
            .iter()
            .all(|step| !step.contains("SCAN m") && !step.contains("TEMP B-TREE")),
        "{highest_plan:?}"
    );
    assert!(
        highest_plan
            .iter()
            .any(|step| step.contains("messages_by_stream")),
        "{highest_plan:?}"
    );
}

fn msg_id_text() -> String {
    MessageId::new(1, [3; 14]).to_string()
}
