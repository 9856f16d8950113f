//! Behaviour only the PostgreSQL backend has: several nodes sharing one database (claims
//! that never overlap, wake-ups across nodes, a LISTEN connection that comes back,
//! outcomes racing a deletion), migrations racing at startup, and what a caller sees when
//! the server is gone.
//!
//! Tests that need a server skip (printing "skipping postgres") without
//! `HOOKD_TEST_PG_URL`, and fail without it under `CI`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use hookd_store::conformance::fixtures;
use hookd_store::{DeliveryOutcome, EndpointHealth, Store, StoreError};
use hookd_store_postgres::testing::{self, TestDatabase};
use hookd_store_postgres::{PostgresOptions, PostgresStore};
use tokio::sync::Notify;
use tokio_postgres::NoTls;

const WAIT: Duration = Duration::from_secs(10);

/// A second store ("node") on the database of `database`, with its own pool and LISTEN
/// connection, its sessions named `application_name`.
async fn another_node(database: &TestDatabase, application_name: &str) -> PostgresStore {
    let separator = if database.url().contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!(
        "{}{separator}application_name={application_name}",
        database.url()
    );
    PostgresStore::connect_with(&url, testing::test_options())
        .await
        .expect("connect a second node")
}

/// A plain connection to the test database, for looking behind the store's back.
async fn admin(database: &TestDatabase) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(database.url(), NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    client
}

/// Waits (bounded) for a wake-up that was enabled before the action that causes it.
async fn woke(notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>) -> bool {
    tokio::time::timeout(WAIT, notified).await.is_ok()
}

/// Consumes a permit a `notify_one` may have left, so the next wait means something.
async fn drain(notify: &Notify) {
    let _ = tokio::time::timeout(Duration::from_millis(50), notify.notified()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_claiming_at_once_never_claim_the_same_delivery() {
    let Some(server_url) = testing::server_url() else {
        return;
    };
    let options = PostgresOptions {
        pool_size: 8,
        ..PostgresOptions::default()
    };
    let (node_a, database) = testing::store_in_new_database_with(&server_url, options).await;
    let node_b = PostgresStore::connect_with(database.url(), options)
        .await
        .unwrap();
    let nodes: [Arc<dyn Store>; 2] = [Arc::new(node_a), Arc::new(node_b)];

    let application = fixtures::application("acme");
    nodes[0].create_application(&application).await.unwrap();
    let mut endpoint_ids = Vec::new();
    for index in 0..4 {
        let endpoint = fixtures::endpoint(&application.id, &format!("https://e.example/{index}"));
        nodes[0].create_endpoint(&endpoint).await.unwrap();
        endpoint_ids.push(endpoint.id);
    }
    let t0 = fixtures::now();
    for index in 0..50 {
        let created_at = fixtures::earlier(t0, Duration::from_millis(index));
        let message = fixtures::message_at(&application.id, "a.b", "{}", created_at);
        nodes[index as usize % 2]
            .create_message(&message, &endpoint_ids)
            .await
            .unwrap();
    }

    // Four claimers per node, each taking small batches until the queue is empty.
    let mut claimers = tokio::task::JoinSet::new();
    for claimer in 0..8 {
        let node = Arc::clone(&nodes[claimer % 2]);
        claimers.spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let batch = node
                    .claim_due_deliveries(t0, Duration::from_secs(60), 7)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return claimed;
                }
                claimed.extend(batch.into_iter().map(|claim| claim.delivery.id));
            }
        });
    }
    let mut all = Vec::new();
    while let Some(claimed) = claimers.join_next().await {
        all.extend(claimed.unwrap());
    }
    let distinct: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(distinct.len(), all.len(), "a delivery was claimed twice");
    assert_eq!(all.len(), 200, "every due delivery is claimed once");
    let depth = nodes[1].queue_depth(t0).await.unwrap();
    assert_eq!(
        (depth.due, depth.pending),
        (0, 200),
        "every delivery is leased, none waits"
    );
}

/// Attempts have no foreign keys (migration 0010): what keeps an attempt from outliving
/// its endpoint is that an outcome writes it only while holding its delivery locked. Here
/// a deletion of the endpoint is under way (uncommitted, in another session) while a
/// single outcome and a batch of outcomes arrive for its deliveries: they wait for it,
/// find their deliveries gone, report the leases lost and write no attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outcomes_racing_the_deletion_of_their_endpoint_leave_no_attempt_behind() {
    let Some(server_url) = testing::server_url() else {
        return;
    };
    let (store, database) = testing::store_in_new_database(&server_url).await;
    let store: Arc<dyn Store> = Arc::new(store);
    let application = fixtures::application("acme");
    store.create_application(&application).await.unwrap();
    let endpoint = fixtures::endpoint(&application.id, "https://e.example/hook");
    store.create_endpoint(&endpoint).await.unwrap();
    let t0 = fixtures::now();
    for index in 0..3 {
        let created_at = fixtures::earlier(t0, Duration::from_millis(index));
        let message = fixtures::message_at(&application.id, "a.b", "{}", created_at);
        store
            .create_message(&message, std::slice::from_ref(&endpoint.id))
            .await
            .unwrap();
    }
    let claims = store
        .claim_due_deliveries(t0, Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claims.len(), 3);
    let records: Vec<_> = claims
        .iter()
        .map(|claim| {
            fixtures::outcome(
                claim,
                Some(fixtures::attempt(claim, 200, t0)),
                DeliveryOutcome::Succeeded,
                EndpointHealth::Unchanged,
                t0,
            )
        })
        .collect();

    let mut deleting = admin(&database).await;
    let deletion = deleting.transaction().await.unwrap();
    deletion
        .execute(
            "DELETE FROM endpoints WHERE id = $1",
            &[&endpoint.id.as_str()],
        )
        .await
        .unwrap();
    let single = tokio::spawn({
        let (store, record) = (Arc::clone(&store), records[0].clone());
        async move { store.record_outcome(&record).await }
    });
    let batch = tokio::spawn({
        let (store, records) = (Arc::clone(&store), records[1..].to_vec());
        async move { store.record_outcomes(&records).await }
    });
    let watcher = admin(&database).await;
    let waiting_for_locks = async {
        loop {
            let row = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap();
            if row.get::<_, i64>(0) >= 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, waiting_for_locks)
        .await
        .expect("both outcomes wait for the deletion");
    deletion.commit().await.unwrap();

    assert!(
        !single.await.unwrap().unwrap(),
        "the lease is reported lost"
    );
    assert_eq!(batch.await.unwrap().unwrap(), vec![false, false]);
    let attempts: i64 = watcher
        .query_one("SELECT count(*) FROM attempts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 0, "no attempt outlives its endpoint");
}

#[tokio::test]
async fn a_publish_on_one_node_wakes_the_workers_of_another() {
    let Some((node_a, database)) = testing::fresh_store().await else {
        return;
    };
    let node_b = another_node(&database, "node-b").await;
    let application = fixtures::application("acme");
    node_a.create_application(&application).await.unwrap();
    let endpoint = fixtures::endpoint(&application.id, "https://e.example/");
    node_a.create_endpoint(&endpoint).await.unwrap();

    let notifier_b = node_b.work_notifier();
    let notified = notifier_b.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let message = fixtures::message(&application.id, "a.b", "{}");
    node_a
        .create_message(&message, std::slice::from_ref(&endpoint.id))
        .await
        .unwrap();
    assert!(
        woke(notified).await,
        "node B was not woken by node A's publish"
    );
}

#[tokio::test]
async fn the_listen_connection_comes_back_after_it_is_killed() {
    let Some((node_a, database)) = testing::fresh_store().await else {
        return;
    };
    let node_b = another_node(&database, "node-b").await;
    let application = fixtures::application("acme");
    node_a.create_application(&application).await.unwrap();
    let endpoint = fixtures::endpoint(&application.id, "https://e.example/");
    node_a.create_endpoint(&endpoint).await.unwrap();
    let notifier_b = node_b.work_notifier();

    // Kill node B's LISTEN session. Once it is back it wakes its workers once (whatever
    // was announced meanwhile is lost), which tells us it is listening again.
    let reconnected = notifier_b.notified();
    tokio::pin!(reconnected);
    reconnected.as_mut().enable();
    let killed = admin(&database)
        .await
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'node-b-listener'",
            &[&database.name()],
        )
        .await
        .unwrap();
    assert_eq!(killed.len(), 1, "node B has one LISTEN session");
    assert!(woke(reconnected).await, "node B did not reconnect");
    drain(&notifier_b).await;

    let notified = notifier_b.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let message = fixtures::message(&application.id, "a.b", "{}");
    node_a
        .create_message(&message, std::slice::from_ref(&endpoint.id))
        .await
        .unwrap();
    assert!(
        woke(notified).await,
        "node B was not woken through its new LISTEN connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_apply_each_migration_once() {
    let Some(server_url) = testing::server_url() else {
        return;
    };
    let database = TestDatabase::create(&server_url).await;
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let url = database.url().to_owned();
        starts
            .spawn(async move { PostgresStore::connect_with(&url, testing::test_options()).await });
    }
    while let Some(started) = starts.join_next().await {
        started.unwrap().expect("every node starts");
    }
    let versions: Vec<i32> = admin(&database)
        .await
        .query(
            "SELECT version FROM hookd_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    // One row per migration file, with the file's NNNN (the primary key forbids repeats).
    let mut expected: Vec<i32> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .map(|path| {
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                name[..4]
                    .parse()
                    .expect("migrations are named NNNN_name.sql")
            })
            .collect();
    expected.sort_unstable();
    assert_eq!(versions, expected);
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let Some((store, database)) = testing::fresh_store().await else {
        return;
    };
    drop(store);
    admin(&database)
        .await
        .execute(
            "INSERT INTO hookd_schema_migrations (version, name) VALUES (999, 'future')",
            &[],
        )
        .await
        .unwrap();
    match PostgresStore::connect(database.url()).await {
        Err(StoreError::Unavailable { detail, .. }) => {
            assert!(
                detail.contains("999") && detail.contains("upgrade hookd"),
                "{detail}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_named_without_the_password() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let url = "postgres://hookd:hunter2@127.0.0.1:1/hookd";
    match PostgresStore::connect(url).await {
        Err(StoreError::Unavailable { detail, source }) => {
            assert!(
                detail.starts_with("PostgreSQL at 127.0.0.1:1 is unreachable: "),
                "{detail}"
            );
            assert!(!detail.contains("hunter2"), "{detail}");
            assert!(source.is_some(), "the driver's error is kept as the source");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_url_that_does_not_parse_is_unavailable_without_the_password() {
    let url = "postgres://hookd:hunter2@127.0.0.1:5432/hookd?sslmode=sometimes";
    match PostgresStore::connect(url).await {
        Err(StoreError::Unavailable { detail, .. }) => {
            assert!(detail.starts_with("invalid PostgreSQL URL"), "{detail}");
            assert!(detail.contains("sslmode"), "{detail}");
            assert!(!detail.contains("hunter2"), "{detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    match PostgresStore::connect("postgres://127.0.0.1/hookd?sslmode=require").await {
        Err(StoreError::Unavailable { detail, .. }) => assert!(detail.contains("TLS"), "{detail}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn debug_output_never_shows_the_password() {
    let Some(server_url) = testing::server_url() else {
        return;
    };
    let database = TestDatabase::create(&server_url).await;
    let mut url = url::Url::parse(database.url()).expect("HOOKD_TEST_PG_URL is a URL");
    url.set_password(Some("hunter2")).unwrap();
    // The test server trusts local connections, so any password gets in.
    let store = PostgresStore::connect(url.as_str()).await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains(store.server()), "{debug}");
    assert_eq!(
        hookd_store_postgres::redact_url(url.as_str()),
        url.as_str().replace("hunter2", "***")
    );
}

#[tokio::test]
async fn the_pool_recovers_after_the_server_ends_its_sessions() {
    let Some((store, database)) = testing::fresh_store().await else {
        return;
    };
    store.ping().await.unwrap();
    let application = fixtures::application("acme");
    store.create_application(&application).await.unwrap();
    admin(&database)
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database.name()],
        )
        .await
        .unwrap();
    // A pooled connection the server ended may fail one call, as unavailable (never as
    // an internal error); the pool then replaces it.
    for _ in 0..4 {
        match store.application(application.id.as_str()).await {
            Ok(found) => assert_eq!(found, application),
            Err(StoreError::Unavailable { detail, .. }) => {
                assert!(detail.contains("PostgreSQL at"), "{detail}");
            }
            Err(other) => panic!("expected success or Unavailable, got {other:?}"),
        }
    }
    assert_eq!(
        store.application(application.id.as_str()).await.unwrap(),
        application
    );
}
