//! Behaviour only the SQLite backend has: files, URLs, migrations, and many concurrent
//! writers sharing group-committed transactions.

use std::sync::Arc;
use std::time::Duration;

use hookd_store::conformance::fixtures;
use hookd_store::{MessageFilter, Store, StoreError};
use hookd_store_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test]
async fn data_survives_reopening_and_the_schema_is_not_reapplied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookd.db");
    let application = fixtures::application_with_uid("Acme", "acme");
    let message = fixtures::message(&application.id, "a.b", r#"{"b":1,"a":2}"#);
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create_application(&application).await.unwrap();
        store.create_message(&message, &[]).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.application("acme").await.unwrap(), application);
    let stored = store
        .message(&application.id, message.id.as_str())
        .await
        .unwrap();
    assert_eq!(stored.payload, r#"{"b":1,"a":2}"#);

    let connection = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    // Every migration file was applied once, and reopening applied none again.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.path().extension().is_some_and(|ext| ext == "sql"))
        })
        .count();
    assert_eq!(version, i64::try_from(migrations).unwrap());
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn open_url_accepts_absolute_urls_and_bare_paths() {
    let dir = tempfile::tempdir().unwrap();
    let absolute = dir.path().join("by-url.db");
    let url = format!("sqlite://{}", absolute.display());
    assert!(url.starts_with("sqlite:///"), "{url}");
    let store = SqliteStore::open_url(&url).unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.path(), absolute);
    assert!(absolute.exists());

    let bare = dir.path().join("bare.db");
    let store = SqliteStore::open_url(bare.to_str().unwrap()).unwrap();
    store.ping().await.unwrap();
    assert!(bare.exists());

    match SqliteStore::open_url("postgres://localhost/hookd") {
        Err(StoreError::Unavailable { detail, .. }) => assert!(detail.contains("postgres://")),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_directory_is_unavailable_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("hookd.db");
    match SqliteStore::open(&path) {
        Err(StoreError::Unavailable { detail, source }) => {
            assert!(detail.contains("cannot open"), "{detail}");
            assert!(detail.contains("no-such-dir"), "{detail}");
            assert!(source.is_some());
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    drop(connection);
    match SqliteStore::open(&path) {
        Err(StoreError::Unavailable { detail, .. }) => assert!(detail.contains("99"), "{detail}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![0x42; 8192]).unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::Unavailable { detail, .. }) => {
            assert!(detail.contains("not a SQLite database"), "{detail}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Hundreds of concurrent publishes, some clashing on `eventId`: each clash fails alone,
/// every other message commits with its deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_commit_independently() {
    concurrent_publishes(SqliteOptions::default()).await;
}

/// The same without group commit (`max_batch: 1`, the benchmark's "before"): the
/// outcome must not depend on how writes are batched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_commit_independently_without_group_commit() {
    concurrent_publishes(SqliteOptions {
        max_batch: 1,
        ..SqliteOptions::default()
    })
    .await;
}

async fn concurrent_publishes(options: SqliteOptions) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_with(&dir.path().join("hookd.db"), options).unwrap());
    let application = fixtures::application("load");
    store.create_application(&application).await.unwrap();
    let endpoint = fixtures::endpoint(&application.id, "https://example.com/hook");
    store.create_endpoint(&endpoint).await.unwrap();

    const PUBLISHES: usize = 400;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..PUBLISHES {
        let store = Arc::clone(&store);
        let app_id = application.id.clone();
        let endpoint_ids = vec![endpoint.id.clone()];
        // Every fourth publish reuses the eventId of the one before it.
        let event_id = format!("evt-{}", index - usize::from(index % 4 == 3));
        tasks.spawn(async move {
            let message = fixtures::message_with_event_id(&app_id, "load.test", &event_id);
            store.create_message(&message, &endpoint_ids).await
        });
    }
    let (mut committed, mut conflicts) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(()) => committed += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(conflicts, PUBLISHES / 4);
    assert_eq!(committed, PUBLISHES - PUBLISHES / 4);

    let page = hookd_store::PageRequest {
        limit: PUBLISHES,
        iterator: None,
        order: hookd_store::Ordering::Ascending,
    };
    let listed = store
        .list_messages(&application.id, &MessageFilter::default(), &page)
        .await;
    assert_eq!(listed.unwrap().items.len(), committed);
    let now = fixtures::later(fixtures::now(), Duration::from_secs(1));
    let depth = store.queue_depth(now).await.unwrap();
    assert_eq!(depth.pending, committed as u64);
}
