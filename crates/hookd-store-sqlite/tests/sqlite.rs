//! Behaviour only the SQLite backend has: files, URLs, migrations, and many concurrent
//! writers sharing group-committed transactions.

use std::sync::Arc;
use std::time::Duration;

use hookd_store::conformance::fixtures;
use hookd_store::{MessageFilter, Store, StoreError, StreamCursor};
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

/// Migration 0009 moves stream positions from `message_stream` into `messages`: cursors
/// handed out before the upgrade still point at the same messages, and new messages are
/// numbered above every position ever used, including those of deleted messages.
#[tokio::test]
async fn stream_cursors_survive_the_upgrade_that_moves_positions_into_messages() {
    const BEFORE_POSITIONS_MOVED: &[&str] = &[
        include_str!("../migrations/0001_initial.sql"),
        include_str!("../migrations/0002_retention.sql"),
        include_str!("../migrations/0003_sources.sql"),
        include_str!("../migrations/0004_send_slots.sql"),
        include_str!("../migrations/0005_streams.sql"),
        include_str!("../migrations/0006_bins.sql"),
        include_str!("../migrations/0007_inbound_by_message.sql"),
        include_str!("../migrations/0008_forwarded_headers.sql"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookd.db");
    let kept = fixtures::application("kept");
    let deleted = fixtures::application("deleted");
    let old_messages: Vec<_> = (0..3)
        .map(|_| fixtures::message(&kept.id, "a.b", r#"{"n":1}"#))
        .collect();
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch("PRAGMA foreign_keys = ON")
            .unwrap();
        for sql in BEFORE_POSITIONS_MOVED {
            connection.execute_batch(sql).unwrap();
        }
        connection
            .execute_batch(&format!(
                "PRAGMA user_version = {}",
                BEFORE_POSITIONS_MOVED.len()
            ))
            .unwrap();
        let insert_application = "INSERT INTO applications \
            (id, uid, name, throttle_rate, metadata, created_at, updated_at) \
            VALUES (?1, NULL, ?2, NULL, '{}', 0, 0)";
        let insert_message = "INSERT INTO messages \
            (id, app_id, event_id, event_type, payload, channels, tags, created_at) \
            VALUES (?1, ?2, NULL, 'a.b', '{\"n\":1}', '[]', '[]', 0)";
        for application in [&kept, &deleted] {
            connection
                .execute(
                    insert_application,
                    [application.id.as_str(), application.name.as_str()],
                )
                .unwrap();
        }
        // Positions 1 to 3 for the kept application, 4 for the one deleted below: the
        // highest position ever handed out then belongs to no message.
        for message in &old_messages {
            connection
                .execute(insert_message, [message.id.as_str(), kept.id.as_str()])
                .unwrap();
        }
        let doomed = fixtures::message(&deleted.id, "a.b", r#"{"n":1}"#);
        connection
            .execute(insert_message, [doomed.id.as_str(), deleted.id.as_str()])
            .unwrap();
        connection
            .execute(
                "DELETE FROM applications WHERE id = ?1",
                [deleted.id.as_str()],
            )
            .unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();
    for (message, seq) in old_messages.iter().zip(1..) {
        let cursor = store.stream_cursor_of(&kept.id, &message.id).await.unwrap();
        assert_eq!(cursor, StreamCursor { epoch: 0, seq });
    }
    let after_first = StreamCursor { epoch: 0, seq: 1 };
    let batch = store
        .stream_messages(&kept.id, after_first, 10)
        .await
        .unwrap();
    let streamed: Vec<_> = batch
        .messages
        .iter()
        .map(|m| m.message.id.clone())
        .collect();
    assert_eq!(
        streamed,
        [old_messages[1].id.clone(), old_messages[2].id.clone()]
    );

    let new_message = fixtures::message(&kept.id, "a.b", r#"{"n":2}"#);
    store.publish_message(&new_message, None).await.unwrap();
    let new_cursor = store
        .stream_cursor_of(&kept.id, &new_message.id)
        .await
        .unwrap();
    assert!(new_cursor.seq > 4, "{new_cursor:?} reuses a position");
    assert_eq!(store.stream_head(&kept.id).await.unwrap(), new_cursor);
    let latest = store
        .stream_messages(&kept.id, StreamCursor { epoch: 0, seq: 3 }, 10)
        .await
        .unwrap();
    let streamed: Vec<_> = latest
        .messages
        .iter()
        .map(|m| m.message.id.clone())
        .collect();
    assert_eq!(streamed, std::slice::from_ref(&new_message.id));
}

/// Positions keep growing across reopening, also when the newest messages are gone with
/// their application.
#[tokio::test]
async fn stream_positions_never_repeat_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookd.db");
    let kept = fixtures::application("kept");
    let deleted = fixtures::application("deleted");
    let (first, newest) = {
        let store = SqliteStore::open(&path).unwrap();
        store.create_application(&kept).await.unwrap();
        store.create_application(&deleted).await.unwrap();
        let first = fixtures::message(&kept.id, "a.b", "{}");
        store.publish_message(&first, None).await.unwrap();
        let first = store.stream_cursor_of(&kept.id, &first.id).await.unwrap();
        let doomed = fixtures::message(&deleted.id, "a.b", "{}");
        store.publish_message(&doomed, None).await.unwrap();
        let newest = store.stream_head(&deleted.id).await.unwrap();
        store.delete_application(&deleted.id).await.unwrap();
        (first, newest)
    };
    assert!(first.seq < newest.seq);
    let store = SqliteStore::open(&path).unwrap();
    let message = fixtures::message(&kept.id, "a.b", "{}");
    store.publish_message(&message, None).await.unwrap();
    let cursor = store.stream_cursor_of(&kept.id, &message.id).await.unwrap();
    assert!(cursor.seq > newest.seq, "{cursor:?} after {newest:?}");
}
