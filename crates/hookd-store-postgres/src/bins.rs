//! Inspector bins and the requests they capture.
//!
//! **Invariants:** a capture is one statement: it increments the bin's `n_requests`
//! (only while the bin is live and below its cap) and inserts the request with the new
//! value as its `seq`. The increment holds the bin's row lock until commit, so captures
//! of one bin on any node commit in `seq` order and a full bin never takes one request
//! too many. Expiry deletes in small batches and skips rows another node is deleting.

use hookd_core::bin::{Bin, BinRequest, BinResponse};
use hookd_core::ids::{BinId, BinRequestId};
use hookd_core::Timestamp;
use hookd_store::{
    bin_cursor, CaptureOutcome, Page, PageRequest, StoreError, StoreResult, StreamCursor,
    StreamedBinRequest,
};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

use crate::db::Db;
use crate::pagination::Listing;
use crate::rows::get;

const BIN_COLUMNS: &str =
    "b.id, b.response, b.max_requests, b.n_requests, b.expires_at, b.created_at";

const REQUEST_COLUMNS: &str = "r.id, r.bin_id, r.method, r.path, r.query, r.headers, r.body, \
    r.body_size, r.body_truncated, r.content_type, r.source_ip, r.received_at, r.seq";

pub(crate) async fn create_bin(db: &Db, bin: &Bin) -> StoreResult<()> {
    db.execute_naming(
        "INSERT INTO bins (id, response, max_requests, n_requests, expires_at, created_at) \
         VALUES ($1, $2, $3, 0, $4, $5)",
        &[
            &bin.id.as_str(),
            &Json(&bin.response),
            &count_param(bin.max_requests),
            &bin.expires_at,
            &bin.created_at,
        ],
        |_| StoreError::Conflict(format!("a bin with id {} already exists", bin.id)),
    )
    .await?;
    Ok(())
}

pub(crate) async fn bin(db: &Db, bin_id: &BinId) -> StoreResult<Bin> {
    let sql = format!("SELECT {BIN_COLUMNS} FROM bins b WHERE b.id = $1");
    match db.query_opt(&sql, &[&bin_id.as_str()]).await? {
        Some(row) => bin_from_row(&row),
        None => Err(StoreError::NotFound("bin")),
    }
}

pub(crate) async fn list_bins(db: &Db, page: &PageRequest) -> StoreResult<Page<Bin>> {
    Listing::new(format!("SELECT {BIN_COLUMNS} FROM bins b"), "b.id")
        .fetch(db, page, bin_from_row, |bin| bin.id.to_string())
        .await
}

pub(crate) async fn delete_bin(db: &Db, bin_id: &BinId) -> StoreResult<()> {
    let changed = db
        .execute("DELETE FROM bins WHERE id = $1", &[&bin_id.as_str()])
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound("bin"));
    }
    Ok(())
}

pub(crate) async fn capture_bin_request(
    db: &Db,
    request: &BinRequest,
    now: Timestamp,
) -> StoreResult<CaptureOutcome> {
    let rows = db
        .query(
            "WITH counted AS ( \
                 UPDATE bins SET n_requests = n_requests + 1 \
                 WHERE id = $2 AND expires_at > $13 AND n_requests < max_requests \
                 RETURNING n_requests \
             ) \
             INSERT INTO bin_requests (id, bin_id, method, path, query, headers, body, \
                 body_size, body_truncated, content_type, source_ip, received_at, seq) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, counted.n_requests \
             FROM counted \
             RETURNING seq",
            &[
                &request.id.as_str(),
                &request.bin_id.as_str(),
                &request.method,
                &request.path,
                &request.query,
                &Json(&request.headers),
                &request.body,
                &count_param(request.body_size),
                &request.body_truncated,
                &request.content_type,
                &request.source_ip,
                &request.received_at,
                &now,
            ],
        )
        .await?;
    if let Some(row) = rows.first() {
        let seq: i64 = get(row, 0)?;
        return Ok(CaptureOutcome::Captured {
            cursor: bin_cursor(u64::try_from(seq).unwrap_or_default()),
        });
    }
    // Nothing was written: the bin is full, or it is missing or expired.
    let found = db
        .query_opt(
            "SELECT max_requests FROM bins WHERE id = $1 AND expires_at > $2",
            &[&request.bin_id.as_str(), &now],
        )
        .await?;
    match found {
        Some(row) => {
            let max_requests: i64 = get(&row, 0)?;
            Ok(CaptureOutcome::Full {
                max_requests: u64::try_from(max_requests).unwrap_or_default(),
            })
        }
        None => Err(StoreError::NotFound("bin")),
    }
}

pub(crate) async fn list_bin_requests(
    db: &Db,
    bin_id: &BinId,
    page: &PageRequest,
) -> StoreResult<Page<BinRequest>> {
    let mut listing = Listing::new(
        format!("SELECT {REQUEST_COLUMNS} FROM bin_requests r"),
        "r.id",
    );
    let bin = listing.bind(bin_id.to_string());
    listing.filter(format!("r.bin_id = {bin}"));
    listing
        .fetch(
            db,
            page,
            |row| Ok(request_from_row(row)?.request),
            |request| request.id.to_string(),
        )
        .await
}

pub(crate) async fn bin_request(
    db: &Db,
    bin_id: &BinId,
    request_id: &BinRequestId,
) -> StoreResult<BinRequest> {
    let sql =
        format!("SELECT {REQUEST_COLUMNS} FROM bin_requests r WHERE r.id = $1 AND r.bin_id = $2");
    match db
        .query_opt(&sql, &[&request_id.as_str(), &bin_id.as_str()])
        .await?
    {
        Some(row) => Ok(request_from_row(&row)?.request),
        None => Err(StoreError::NotFound("bin request")),
    }
}

pub(crate) async fn stream_bin_requests(
    db: &Db,
    bin_id: &BinId,
    after: StreamCursor,
    limit: usize,
) -> StoreResult<Vec<StreamedBinRequest>> {
    // Bins number their requests with `seq` alone; a cursor past i64::MAX is past the end.
    let Ok(after_seq) = i64::try_from(after.seq) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM bin_requests r \
         WHERE r.bin_id = $1 AND r.seq > $2 ORDER BY r.seq LIMIT $3"
    );
    let rows = db
        .query(
            &sql,
            &[&bin_id.as_str(), &after_seq, &count_param(limit as u64)],
        )
        .await?;
    rows.iter().map(request_from_row).collect()
}

pub(crate) async fn bin_cursor_of(
    db: &Db,
    bin_id: &BinId,
    request_id: &BinRequestId,
) -> StoreResult<StreamCursor> {
    match db
        .query_opt(
            "SELECT seq FROM bin_requests WHERE id = $1 AND bin_id = $2",
            &[&request_id.as_str(), &bin_id.as_str()],
        )
        .await?
    {
        Some(row) => {
            let seq: i64 = get(&row, 0)?;
            Ok(bin_cursor(u64::try_from(seq).unwrap_or_default()))
        }
        None => Err(StoreError::NotFound("bin request")),
    }
}

pub(crate) async fn expire_bins(db: &Db, now: Timestamp, limit: usize) -> StoreResult<u64> {
    let limit = count_param(limit as u64);
    let requests = db
        .execute(
            "DELETE FROM bin_requests WHERE id IN (SELECT r.id FROM bins b \
             JOIN bin_requests r ON r.bin_id = b.id WHERE b.expires_at <= $1 \
             LIMIT $2 FOR UPDATE OF r SKIP LOCKED)",
            &[&now, &limit],
        )
        .await?;
    let requests = i64::try_from(requests).unwrap_or(i64::MAX);
    if requests >= limit {
        return Ok(requests as u64);
    }
    let bins = db
        .execute(
            "DELETE FROM bins WHERE id IN (SELECT b.id FROM bins b WHERE b.expires_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM bin_requests r WHERE r.bin_id = b.id) \
             LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&now, &(limit - requests)],
        )
        .await?;
    Ok(requests as u64 + bins)
}

fn count_param(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn bin_from_row(row: &Row) -> StoreResult<Bin> {
    let Json(response) = get::<Json<BinResponse>>(row, 1)?;
    let max_requests: i64 = get(row, 2)?;
    let n_requests: i64 = get(row, 3)?;
    Ok(Bin {
        id: BinId::from_trusted(get(row, 0)?),
        response,
        max_requests: u64::try_from(max_requests).unwrap_or_default(),
        n_requests: u64::try_from(n_requests).unwrap_or_default(),
        expires_at: get(row, 4)?,
        created_at: get(row, 5)?,
    })
}

fn request_from_row(row: &Row) -> StoreResult<StreamedBinRequest> {
    let Json(headers) = get::<Json<Vec<(String, String)>>>(row, 5)?;
    let body_size: i64 = get(row, 7)?;
    let seq: i64 = get(row, 12)?;
    Ok(StreamedBinRequest {
        cursor: bin_cursor(u64::try_from(seq).unwrap_or_default()),
        request: BinRequest {
            id: BinRequestId::from_trusted(get(row, 0)?),
            bin_id: BinId::from_trusted(get(row, 1)?),
            method: get(row, 2)?,
            path: get(row, 3)?,
            query: get(row, 4)?,
            headers,
            body: get(row, 6)?,
            body_size: u64::try_from(body_size).unwrap_or_default(),
            body_truncated: get(row, 8)?,
            content_type: get(row, 9)?,
            source_ip: get(row, 10)?,
            received_at: get(row, 11)?,
        },
    })
}
