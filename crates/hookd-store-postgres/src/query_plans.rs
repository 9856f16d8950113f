//! Query plans: every listing, queue and statistics query has an index that serves it in
//! key order, so none of them scans a table or sorts it as data grows.
//!
//! **Invariant checked:** with sequential scans and sorts priced out
//! (`enable_seqscan = off`, `enable_sort = off`), no plan still contains either; a
//! missing index would force one back in. Runs only with `HOOKD_TEST_PG_URL` set.

use hookd_core::ids::{ApplicationId, EndpointId, MessageId};
use hookd_core::model::MessageStatus;
use hookd_core::Timestamp;
use hookd_store::conformance::fixtures;
use hookd_store::{
    AttemptFilter, EndpointMessageFilter, MessageFilter, Ordering, PageRequest, TimeWindow,
};
use tokio_postgres::types::ToSql;

use crate::applications::{applications_listing, endpoints_listing};
use crate::db::Params;
use crate::destinations::{destinations_listing, endpoint_messages_listing};
use crate::event_types::event_types_listing;
use crate::messages::{attempts_listing, messages_listing};
use crate::pagination::Listing;
use crate::queue::CLAIM_SQL;
use crate::runs::{endpoint_stats_query, recover_query, QUEUE_DEPTH_SQL};
use crate::testing;

/// The plan of `sql`, one line per node.
async fn plan(
    client: &deadpool_postgres::Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> String {
    let rows = client
        .query(&format!("EXPLAIN {sql}"), params)
        .await
        .unwrap_or_else(|error| panic!("EXPLAIN {sql}: {error:?}"));
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_indexed(plan: &str, sql: &str, index: Option<&str>) {
    assert!(
        !plan.contains("Seq Scan") && !plan.contains("Sort"),
        "{sql}\nis not served by an index in order:\n{plan}"
    );
    if let Some(index) = index {
        assert!(plan.contains(index), "{sql}\ndoes not use {index}:\n{plan}");
    }
}

/// Every listing, with each filter it supports, and the index expected to serve it.
fn listings(
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    t0: Timestamp,
) -> Vec<(Listing, &'static str)> {
    let every_message_filter = MessageFilter {
        event_types: Some(vec!["a.b".into()]),
        channel: Some("eu".into()),
        tag: Some("vip".into()),
        before: Some(t0),
        after: Some(t0),
    };
    let every_attempt_filter = AttemptFilter {
        endpoint_id: Some(endpoint_id.clone()),
        msg_id: Some(MessageId::from_trusted("msg_1".into())),
        status: Some(MessageStatus::Fail),
        response_status_codes: Some(500..=599),
        message: every_message_filter.clone(),
        before: Some(t0),
        after: Some(t0),
    };
    let by_endpoint = AttemptFilter {
        endpoint_id: Some(endpoint_id.clone()),
        ..AttemptFilter::default()
    };
    let by_message = AttemptFilter {
        msg_id: Some(MessageId::from_trusted("msg_1".into())),
        ..AttemptFilter::default()
    };
    vec![
        (applications_listing(), "applications_pkey"),
        (endpoints_listing(app_id), "endpoints_by_app"),
        (event_types_listing(false), "event_types_pkey"),
        (event_types_listing(true), "event_types_pkey"),
        (
            messages_listing(app_id, &MessageFilter::default()),
            "messages_by_app",
        ),
        (
            messages_listing(app_id, &every_message_filter),
            "messages_by_app",
        ),
        (
            attempts_listing(app_id, &by_endpoint),
            "attempts_by_endpoint",
        ),
        (attempts_listing(app_id, &by_message), "attempts_by_msg"),
        (
            attempts_listing(app_id, &every_attempt_filter),
            "attempts_by_",
        ),
        (
            destinations_listing(app_id, &MessageId::from_trusted("msg_1".into())),
            "deliveries_msg_endpoint_key",
        ),
        (
            endpoint_messages_listing(app_id, endpoint_id, &EndpointMessageFilter::default()),
            "messages_by_app",
        ),
        (
            endpoint_messages_listing(
                app_id,
                endpoint_id,
                &EndpointMessageFilter {
                    message: every_message_filter.clone(),
                    status: Some(MessageStatus::Fail),
                },
            ),
            "messages_by_app",
        ),
    ]
}

/// First pages both ways, and pages after and before a cursor.
fn pages() -> [PageRequest; 3] {
    [
        PageRequest {
            limit: 50,
            iterator: None,
            order: Ordering::Ascending,
        },
        PageRequest {
            limit: 50,
            iterator: Some("x_2".into()),
            order: Ordering::Descending,
        },
        PageRequest {
            limit: 50,
            iterator: Some("-x_2".into()),
            order: Ordering::Ascending,
        },
    ]
}

#[tokio::test]
async fn every_listing_and_queue_query_uses_an_index() {
    let Some((store, _database)) = testing::fresh_store().await else {
        return;
    };
    let client = store.db.client().await.unwrap();
    client
        .batch_execute("SET enable_seqscan = off; SET enable_sort = off")
        .await
        .unwrap();

    let app_id = ApplicationId::from_trusted("app_1".into());
    let endpoint_id = EndpointId::from_trusted("ep_1".into());
    let t0 = fixtures::now();
    for page in pages() {
        for (listing, index) in listings(&app_id, &endpoint_id, t0) {
            let (sql, params) = listing.page_query(&page);
            let plan = plan(&client, &sql, &params.refs()).await;
            assert_indexed(&plan, &sql, Some(index));
        }
    }

    let limit: i64 = 10;
    let prefix = "token.".to_owned();
    let claim = plan(&client, &CLAIM_SQL, &[&t0, &limit, &prefix, &t0]).await;
    assert_indexed(&claim, &CLAIM_SQL, Some("deliveries_due"));
    let depth = plan(&client, QUEUE_DEPTH_SQL, &[&t0]).await;
    assert_indexed(&depth, QUEUE_DEPTH_SQL, Some("deliveries_due"));
    let metrics_sql = crate::observability::QUEUE_METRICS_SQL;
    let metrics = plan(&client, metrics_sql, &[&t0]).await;
    assert_indexed(&metrics, metrics_sql, Some("deliveries_due"));

    let window = TimeWindow {
        since: Some(t0),
        until: Some(t0),
    };
    let queries: [(String, Params); 2] = [
        endpoint_stats_query(&app_id, &endpoint_id, &window),
        recover_query(&app_id, &endpoint_id, &window, t0),
    ];
    for (sql, params) in &queries {
        let plan = plan(&client, sql, &params.refs()).await;
        // Grouping by status may hash instead of sort; only the scan matters here.
        assert!(!plan.contains("Seq Scan"), "{sql}\n{plan}");
        assert!(plan.contains("deliveries_by_endpoint"), "{sql}\n{plan}");
    }
}
