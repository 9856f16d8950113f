//! The same send path with `--database postgres://…`: a real PostgreSQL, a fresh database
//! per test (`HOOKD_TEST_PG_URL`; skipped locally when unset, mandatory under `CI`).

use hookd_core::signature;
use hookd_store_postgres::testing::{server_url, TestDatabase};
use hookd_test_support::TestSink;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{lookup, now_secs, Options, TestServer, WAIT};

#[tokio::test]
async fn publish_retry_and_deliver_on_postgres() {
    let Some(server_url) = server_url() else {
        return;
    };
    let database = TestDatabase::create(&server_url).await;
    let server = TestServer::start_with(Options {
        database: Some(database.url().to_owned()),
        ..Options::default()
    })
    .await;
    let mut sink = TestSink::start(&[500, 200]).await;
    let app = server.app("Postgres").await;
    let endpoint = server.endpoint(&app, json!({"url": sink.url("/pg")})).await;
    let secret = server.secret(&app, &endpoint).await;
    let msg_id = server
        .publish(
            &app,
            json!({"eventType": "order.paid", "eventId": "pg-1", "payload": {"z": 1, "a": "ß"}}),
        )
        .await;
    let (status, repeat) = server
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "order.paid", "eventId": "pg-1", "payload": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{repeat}");

    sink.next(WAIT).await.expect("first attempt (answered 500)");
    let received = sink.next(WAIT).await.expect("the retry");
    assert_eq!(received.header("webhook-id"), Some(msg_id.as_str()));
    assert_eq!(&received.body[..], r#"{"z":1,"a":"ß"}"#.as_bytes());
    signature::verify(
        &[&secret],
        &lookup(&received),
        &received.body,
        now_secs(),
        300,
    )
    .unwrap();
    let attempts = server
        .eventually(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}"), |body| {
            body["data"].as_array().is_some_and(|data| data.len() == 2)
        })
        .await;
    assert_eq!(attempts["data"][0]["responseStatusCode"], 200);
    assert_eq!(attempts["data"][1]["responseStatusCode"], 500);
    // The rows are in PostgreSQL, not in some local file.
    let (client, connection) = tokio_postgres::connect(database.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FROM attempts WHERE msg_id = $1",
            &[&msg_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    server.stop().await;
    drop(database);
}
