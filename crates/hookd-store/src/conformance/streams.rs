//! Conformance: the live-stream reads (`stream_messages`, `stream_head`,
//! `stream_cursor_of`) and the `message_commits` announcements.
//!
//! Invariants checked: an application's stream holds exactly its own messages, once each,
//! in commit order with strictly increasing cursors; reading after a cursor resumes
//! exactly there; the head is the last cursor a reader can get; every committed message
//! is announced with its application id.
//!
//! N.B.: unlike the rest of the suite, reads here may wait (briefly, polling): a store may
//! hold committed messages back while an unrelated transaction is open on a shared
//! database server, and says so with `settled`; the tests then read again.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::model::Message;

use super::{expect_not_found, fixtures};
use crate::{Store, StreamCursor};

async fn new_app(store: &dyn Store, name: &str) -> hookd_core::model::Application {
    let application = fixtures::application(name);
    store.create_application(&application).await.unwrap();
    application
}

async fn publish(store: &dyn Store, app_id: &hookd_core::ids::ApplicationId) -> Message {
    let message = fixtures::message(app_id, "invoice.paid", r#"{"n":1}"#);
    store.create_message(&message, &[]).await.unwrap();
    message
}

/// Every message of the application after `after`, read in pages of `page`.
async fn read_all(
    store: &dyn Store,
    app_id: &hookd_core::ids::ApplicationId,
    mut after: StreamCursor,
    page: usize,
) -> Vec<(StreamCursor, Message)> {
    let mut all = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let batch = store.stream_messages(app_id, after, page).await.unwrap();
        let n = batch.messages.len();
        let settled = batch.settled;
        for streamed in batch.messages {
            assert!(streamed.cursor > after, "cursors increase");
            after = streamed.cursor;
            all.push((streamed.cursor, streamed.message));
        }
        if n < page && settled {
            return all;
        }
        if n < page {
            // Held back behind a transaction still open elsewhere on the database server
            // (PostgreSQL): it ends soon, and then the rest is handed out.
            assert!(
                std::time::Instant::now() < deadline,
                "messages stayed held back for 30 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Messages come back in the order they were committed, scoped to their application,
/// and a read after any cursor resumes right after it.
pub async fn stream_reads_in_commit_order_and_resumes(store: Arc<dyn Store>) {
    let acme = new_app(store.as_ref(), "acme").await;
    let other = new_app(store.as_ref(), "other").await;
    assert_eq!(
        store.stream_head(&acme.id).await.unwrap(),
        StreamCursor::START
    );
    assert!(store
        .stream_messages(&acme.id, StreamCursor::START, 10)
        .await
        .unwrap()
        .messages
        .is_empty());

    let mut published = Vec::new();
    for index in 0..5 {
        published.push(publish(store.as_ref(), &acme.id).await);
        if index == 2 {
            publish(store.as_ref(), &other.id).await;
        }
    }
    let read = read_all(store.as_ref(), &acme.id, StreamCursor::START, 2).await;
    let ids: Vec<_> = read.iter().map(|(_, message)| message.id.clone()).collect();
    let expected: Vec<_> = published.iter().map(|message| message.id.clone()).collect();
    assert_eq!(ids, expected, "own messages only, in commit order");
    assert_eq!(read[1].1, published[1], "the message reads back whole");

    assert_eq!(store.stream_head(&acme.id).await.unwrap(), read[4].0);
    let resumed = read_all(store.as_ref(), &acme.id, read[1].0, 10).await;
    assert_eq!(
        resumed,
        read[2..].to_vec(),
        "resumes right after the cursor"
    );
    assert!(read_all(store.as_ref(), &acme.id, read[4].0, 10)
        .await
        .is_empty());

    for (cursor, message) in &read {
        assert_eq!(
            store.stream_cursor_of(&acme.id, &message.id).await.unwrap(),
            *cursor
        );
    }
    expect_not_found(
        store.stream_cursor_of(&other.id, &published[0].id).await,
        "message",
    );
    expect_not_found(
        store
            .stream_cursor_of(&acme.id, &fixtures::message_id_at(fixtures::now()))
            .await,
        "message",
    );
    let other_read = read_all(store.as_ref(), &other.id, StreamCursor::START, 10).await;
    assert_eq!(other_read.len(), 1);
}

/// Messages published concurrently each appear exactly once, cursors strictly rising.
pub async fn stream_has_every_concurrent_message_once(store: Arc<dyn Store>) {
    let acme = new_app(store.as_ref(), "acme").await;
    let head_before = store.stream_head(&acme.id).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let store = Arc::clone(&store);
        let app_id = acme.id.clone();
        tasks.spawn(async move { publish(store.as_ref(), &app_id).await.id });
    }
    let mut published = Vec::new();
    while let Some(id) = tasks.join_next().await {
        published.push(id.unwrap());
    }
    let read = read_all(store.as_ref(), &acme.id, head_before, 7).await;
    let mut ids: Vec<_> = read.iter().map(|(_, message)| message.id.clone()).collect();
    ids.sort();
    published.sort();
    assert_eq!(ids, published);
    assert_eq!(store.stream_head(&acme.id).await.unwrap(), read[39].0);
}

/// Each committed message is announced with its application id.
pub async fn message_commits_are_announced(store: Arc<dyn Store>) {
    let acme = new_app(store.as_ref(), "acme").await;
    let mut commits = store.message_commits();
    publish(store.as_ref(), &acme.id).await;
    let announced = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match commits.recv().await {
                Ok(app_id) if app_id == acme.id => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(error) => panic!("announcements ended: {error}"),
            }
        }
    })
    .await;
    assert!(announced.is_ok(), "the commit was never announced");
}

/// A deleted application's stream is empty rather than an error, and a message that was
/// deleted with it has no cursor any more.
pub async fn stream_of_deleted_application_is_empty(store: Arc<dyn Store>) {
    let acme = new_app(store.as_ref(), "acme").await;
    let message = publish(store.as_ref(), &acme.id).await;
    store.delete_application(&acme.id).await.unwrap();
    assert!(store
        .stream_messages(&acme.id, StreamCursor::START, 10)
        .await
        .unwrap()
        .messages
        .is_empty());
    expect_not_found(
        store.stream_cursor_of(&acme.id, &message.id).await,
        "message",
    );
}
