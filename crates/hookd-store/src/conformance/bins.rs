//! Conformance: inspector bins and the requests they capture.
//!
//! Invariants checked: a bin reads back as written; deleting it deletes its requests; a
//! capture stores the body byte for byte and numbers the bin's requests 1, 2, 3… in
//! commit order, also when captures race; a full bin refuses with `Full` and writes
//! nothing; an unknown or expired bin is `NotFound`; listings are newest first and
//! paginate; streams resume after a cursor; captures are announced; expiry deletes only
//! expired bins, requests first, at most `limit` rows per call.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::bin::{Bin, BinRequest, BinResponse};
use hookd_core::ids::{BinId, BinRequestId};
use hookd_core::Timestamp;

use super::{expect_conflict, expect_not_found, fixtures};
use crate::{bin_cursor, CaptureOutcome, Ordering, PageRequest, Store, StreamCursor};

const HOUR: Duration = Duration::from_secs(3600);

fn unix_ms(at: Timestamp) -> u64 {
    u64::try_from(at.timestamp_millis()).expect("after 1970")
}

/// A bin created now that expires after `ttl` and takes `max_requests` (a fixture).
pub fn bin(ttl: Duration, max_requests: u64) -> Bin {
    let now = fixtures::now();
    Bin {
        id: BinId::new(unix_ms(now), fixtures::random_bytes()),
        response: BinResponse {
            status: 201,
            headers: vec![
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("x-bin".to_owned(), "yes".to_owned()),
            ],
            body: "recorded".to_owned(),
        },
        max_requests,
        n_requests: 0,
        expires_at: fixtures::later(now, ttl),
        created_at: now,
    }
}

/// A request to `bin_id` received at `received_at` with `body` (a fixture).
pub fn bin_request_at(bin_id: &BinId, body: &[u8], received_at: Timestamp) -> BinRequest {
    BinRequest {
        id: BinRequestId::new(unix_ms(received_at), fixtures::random_bytes()),
        bin_id: bin_id.clone(),
        method: "PUT".to_owned(),
        path: "/deep/path".to_owned(),
        query: Some("a=1&b=%20".to_owned()),
        headers: vec![
            (
                "content-type".to_owned(),
                "application/octet-stream".to_owned(),
            ),
            ("x-repeat".to_owned(), "1".to_owned()),
            ("x-repeat".to_owned(), "2".to_owned()),
        ],
        body: body.to_vec(),
        body_size: body.len() as u64 + 10,
        body_truncated: true,
        content_type: Some("application/octet-stream".to_owned()),
        source_ip: Some("203.0.113.7".to_owned()),
        received_at,
    }
}

async fn capture(store: &dyn Store, request: &BinRequest) -> StreamCursor {
    match store
        .capture_bin_request(request, request.received_at)
        .await
        .expect("capture")
    {
        CaptureOutcome::Captured { cursor } => cursor,
        other => panic!("expected a capture, got {other:?}"),
    }
}

fn newest_first(limit: usize, iterator: Option<String>) -> PageRequest {
    PageRequest {
        limit,
        iterator,
        order: Ordering::Descending,
    }
}

/// Create, read, list and delete a bin; a deleted bin's requests are gone with it.
pub async fn bin_crud(store: Arc<dyn Store>) {
    let first = bin(HOUR, 10);
    let second = bin(HOUR, 5);
    store.create_bin(&first).await.unwrap();
    store.create_bin(&second).await.unwrap();
    expect_conflict(store.create_bin(&first).await);
    assert_eq!(store.bin(&first.id).await.unwrap(), first);
    let listed = store.list_bins(&fixtures::first_page(10)).await.unwrap();
    let ids: Vec<_> = listed.items.iter().map(|bin| bin.id.clone()).collect();
    assert_eq!(ids, vec![first.id.clone(), second.id.clone()]);

    let request = bin_request_at(&first.id, b"body", fixtures::now());
    capture(store.as_ref(), &request).await;
    store.delete_bin(&first.id).await.unwrap();
    expect_not_found(store.bin(&first.id).await, "bin");
    expect_not_found(store.delete_bin(&first.id).await, "bin");
    expect_not_found(
        store.bin_request(&first.id, &request.id).await,
        "bin request",
    );
    assert!(store
        .stream_bin_requests(&first.id, StreamCursor::START, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.bin(&second.id).await.unwrap(), second);
}

/// Every byte value survives a capture; requests are numbered in order, listed newest
/// first with pagination, and streamed oldest first after any cursor.
pub async fn bin_captures_round_trip_in_order(store: Arc<dyn Store>) {
    let target = bin(HOUR, 100);
    let other = bin(HOUR, 100);
    store.create_bin(&target).await.unwrap();
    store.create_bin(&other).await.unwrap();
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let now = fixtures::now();
    let mut captured = Vec::new();
    for index in 0..5u64 {
        let at = fixtures::later(now, Duration::from_millis(index));
        let request = bin_request_at(&target.id, &every_byte, at);
        let cursor = capture(store.as_ref(), &request).await;
        assert_eq!(cursor, bin_cursor(index + 1));
        captured.push(request);
    }
    capture(
        store.as_ref(),
        &bin_request_at(&other.id, b"elsewhere", now),
    )
    .await;

    let read = store
        .bin_request(&target.id, &captured[0].id)
        .await
        .unwrap();
    assert_eq!(read, captured[0]);
    assert_eq!(read.body, every_byte);
    expect_not_found(
        store.bin_request(&other.id, &captured[0].id).await,
        "bin request",
    );
    assert_eq!(store.bin(&target.id).await.unwrap().n_requests, 5);

    let first_page = store
        .list_bin_requests(&target.id, &newest_first(2, None))
        .await
        .unwrap();
    let ids = |page: &crate::Page<BinRequest>| -> Vec<BinRequestId> {
        page.items
            .iter()
            .map(|request| request.id.clone())
            .collect()
    };
    assert_eq!(
        ids(&first_page),
        vec![captured[4].id.clone(), captured[3].id.clone()]
    );
    assert!(!first_page.done);
    let mut seen = ids(&first_page);
    let mut iterator = first_page.iterator;
    loop {
        let page = store
            .list_bin_requests(&target.id, &newest_first(2, iterator.clone()))
            .await
            .unwrap();
        seen.extend(ids(&page));
        if page.done {
            break;
        }
        iterator = page.iterator;
    }
    let mut expected: Vec<_> = captured.iter().map(|request| request.id.clone()).collect();
    expected.reverse();
    assert_eq!(seen, expected);

    let streamed = store
        .stream_bin_requests(&target.id, bin_cursor(2), 2)
        .await
        .unwrap();
    let positions: Vec<_> = streamed.iter().map(|item| item.cursor).collect();
    assert_eq!(positions, vec![bin_cursor(3), bin_cursor(4)]);
    assert_eq!(streamed[0].request, captured[2]);
    assert_eq!(
        store
            .bin_cursor_of(&target.id, &captured[3].id)
            .await
            .unwrap(),
        bin_cursor(4)
    );
    expect_not_found(
        store.bin_cursor_of(&other.id, &captured[3].id).await,
        "bin request",
    );
}

/// A full bin answers `Full` and stores nothing; an expired or unknown one is not found.
pub async fn bin_capture_refuses_full_expired_and_unknown_bins(store: Arc<dyn Store>) {
    let small = bin(HOUR, 2);
    store.create_bin(&small).await.unwrap();
    let now = fixtures::now();
    for _ in 0..2 {
        capture(store.as_ref(), &bin_request_at(&small.id, b"x", now)).await;
    }
    let refused = bin_request_at(&small.id, b"over", now);
    assert_eq!(
        store.capture_bin_request(&refused, now).await.unwrap(),
        CaptureOutcome::Full { max_requests: 2 }
    );
    expect_not_found(
        store.bin_request(&small.id, &refused.id).await,
        "bin request",
    );
    assert_eq!(store.bin(&small.id).await.unwrap().n_requests, 2);

    let expiring = bin(HOUR, 10);
    store.create_bin(&expiring).await.unwrap();
    let request = bin_request_at(&expiring.id, b"late", now);
    expect_not_found(
        store
            .capture_bin_request(&request, expiring.expires_at)
            .await,
        "bin",
    );
    let unknown = bin_request_at(&BinId::new(1, fixtures::random_bytes()), b"?", now);
    expect_not_found(store.capture_bin_request(&unknown, now).await, "bin");
}

/// Captures racing on one bin each get their own position, and the stream holds them all.
pub async fn concurrent_bin_captures_get_distinct_positions(store: Arc<dyn Store>) {
    let target = bin(HOUR, 1000);
    store.create_bin(&target).await.unwrap();
    let now = fixtures::now();
    let mut tasks = Vec::new();
    for index in 0..16u8 {
        let store = Arc::clone(&store);
        let request = bin_request_at(&target.id, &[index], now);
        tasks.push(tokio::spawn(async move {
            capture(store.as_ref(), &request).await
        }));
    }
    let mut positions = Vec::new();
    for task in tasks {
        positions.push(task.await.unwrap().seq);
    }
    positions.sort_unstable();
    assert_eq!(positions, (1..=16).collect::<Vec<u64>>());
    let streamed = store
        .stream_bin_requests(&target.id, StreamCursor::START, 100)
        .await
        .unwrap();
    let mut bodies: Vec<u8> = streamed.iter().map(|item| item.request.body[0]).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, (0..16).collect::<Vec<u8>>());
}

/// Every capture is announced with its bin id.
pub async fn bin_captures_are_announced(store: Arc<dyn Store>) {
    let target = bin(HOUR, 10);
    store.create_bin(&target).await.unwrap();
    let mut captures = store.bin_captures();
    capture(
        store.as_ref(),
        &bin_request_at(&target.id, b"hello", fixtures::now()),
    )
    .await;
    let announced = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match captures.recv().await {
                Ok(bin_id) if bin_id == target.id => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(error) => panic!("announcements ended: {error}"),
            }
        }
    })
    .await;
    assert!(announced.is_ok(), "the capture was never announced");
}

/// Expiry deletes the requests of expired bins, then the bins, `limit` rows at a time, and
/// leaves bins that have not expired alone.
pub async fn expire_bins_in_batches(store: Arc<dyn Store>) {
    let now = fixtures::now();
    let expired = bin(HOUR, 100);
    let live = bin(HOUR * 3, 100);
    store.create_bin(&expired).await.unwrap();
    store.create_bin(&live).await.unwrap();
    for _ in 0..5 {
        capture(store.as_ref(), &bin_request_at(&expired.id, b"old", now)).await;
    }
    let kept = bin_request_at(&live.id, b"kept", now);
    capture(store.as_ref(), &kept).await;

    let later = fixtures::later(now, HOUR * 2);
    assert_eq!(store.expire_bins(later, 3).await.unwrap(), 3);
    assert_eq!(store.bin(&expired.id).await.unwrap().id, expired.id);
    // Two requests, then the bin itself: three rows, a full batch.
    assert_eq!(store.expire_bins(later, 3).await.unwrap(), 3);
    assert_eq!(store.expire_bins(later, 3).await.unwrap(), 0);
    expect_not_found(store.bin(&expired.id).await, "bin");
    assert_eq!(store.bin_request(&live.id, &kept.id).await.unwrap(), kept);
    assert_eq!(store.expire_bins(now, 10).await.unwrap(), 0);
}
