//! Inspector bins and the requests they capture.
//!
//! **Invariant:** a capture is one writer command: it increments the bin's `n_requests`
//! (only while the bin is live and below its cap) and inserts the request with the new
//! value as its `seq`. The single writer runs commands one at a time, so `seq` follows
//! commit order and a full bin can never take one request too many.

use hookd_core::bin::{Bin, BinRequest, BinResponse};
use hookd_core::ids::{BinId, BinRequestId};
use hookd_core::Timestamp;
use hookd_store::{
    bin_cursor, CaptureOutcome, Page, PageRequest, StoreError, StoreResult, StreamCursor,
    StreamedBinRequest,
};
use rusqlite::types::{Type, Value};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::{map, unique_violation, DbResultExt};
use crate::pagination::Listing;
use crate::rows::{millis, timestamp, to_json};

const BIN_COLUMNS: &str =
    "b.id, b.response, b.max_requests, b.n_requests, b.expires_at, b.created_at";

const REQUEST_COLUMNS: &str = "r.id, r.bin_id, r.method, r.path, r.query, r.headers, r.body, \
    r.body_size, r.body_truncated, r.content_type, r.source_ip, r.received_at, r.seq";

pub(crate) fn create_bin(connection: &Connection, bin: &Bin) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO bins (id, response, max_requests, n_requests, expires_at, created_at) \
             VALUES (?1, ?2, ?3, 0, ?4, ?5)",
        )
        .db()?
        .execute(params![
            bin.id.as_str(),
            to_json(&bin.response)?,
            count_param(bin.max_requests),
            millis(bin.expires_at),
            millis(bin.created_at),
        ])
        .map_err(|error| match unique_violation(&error) {
            Some(_) => StoreError::Conflict(format!("a bin with id {} already exists", bin.id)),
            None => map(error),
        })?;
    Ok(())
}

pub(crate) fn bin(connection: &Connection, bin_id: &BinId) -> StoreResult<Bin> {
    let sql = format!("SELECT {BIN_COLUMNS} FROM bins b WHERE b.id = ?1");
    connection
        .prepare_cached(&sql)
        .db()?
        .query_row([bin_id.as_str()], bin_from_row)
        .optional()
        .db()?
        .ok_or(StoreError::NotFound("bin"))
}

pub(crate) fn list_bins(connection: &Connection, page: &PageRequest) -> StoreResult<Page<Bin>> {
    Listing::new(format!("SELECT {BIN_COLUMNS} FROM bins b"), "b.id").fetch(
        connection,
        page,
        bin_from_row,
        |bin| bin.id.to_string(),
    )
}

pub(crate) fn delete_bin(connection: &Connection, bin_id: &BinId) -> StoreResult<()> {
    let changed = connection
        .prepare_cached("DELETE FROM bins WHERE id = ?1")
        .db()?
        .execute([bin_id.as_str()])
        .db()?;
    if changed == 0 {
        return Err(StoreError::NotFound("bin"));
    }
    Ok(())
}

pub(crate) fn capture_bin_request(
    connection: &Connection,
    request: &BinRequest,
    now: Timestamp,
) -> StoreResult<CaptureOutcome> {
    let counted: Option<i64> = connection
        .prepare_cached(
            "UPDATE bins SET n_requests = n_requests + 1 \
             WHERE id = ?1 AND expires_at > ?2 AND n_requests < max_requests \
             RETURNING n_requests",
        )
        .db()?
        .query_row(params![request.bin_id.as_str(), millis(now)], |row| {
            row.get(0)
        })
        .optional()
        .db()?;
    let Some(seq) = counted else {
        return refusal(connection, &request.bin_id, now);
    };
    let sql = format!(
        "INSERT INTO bin_requests ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
         ?12, ?13)",
        REQUEST_COLUMNS.replace("r.", "")
    );
    connection
        .prepare_cached(&sql)
        .db()?
        .execute(params![
            request.id.as_str(),
            request.bin_id.as_str(),
            request.method,
            request.path,
            request.query,
            to_json(&request.headers)?,
            request.body,
            count_param(request.body_size),
            request.body_truncated,
            request.content_type,
            request.source_ip,
            millis(request.received_at),
            seq,
        ])
        .db()?;
    Ok(CaptureOutcome::Captured {
        cursor: bin_cursor(u64::try_from(seq).unwrap_or_default()),
    })
}

/// Why a capture changed nothing: the bin is full, or it is missing or expired.
fn refusal(connection: &Connection, bin_id: &BinId, now: Timestamp) -> StoreResult<CaptureOutcome> {
    let found: Option<(i64, i64)> = connection
        .prepare_cached("SELECT max_requests, expires_at FROM bins WHERE id = ?1")
        .db()?
        .query_row([bin_id.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .db()?;
    match found {
        Some((max_requests, expires_at)) if expires_at > millis(now) => Ok(CaptureOutcome::Full {
            max_requests: u64::try_from(max_requests).unwrap_or_default(),
        }),
        _ => Err(StoreError::NotFound("bin")),
    }
}

pub(crate) fn list_bin_requests(
    connection: &Connection,
    bin_id: &BinId,
    page: &PageRequest,
) -> StoreResult<Page<BinRequest>> {
    Listing::new(
        format!("SELECT {REQUEST_COLUMNS} FROM bin_requests r"),
        "r.id",
    )
    .filter("r.bin_id = ?", vec![Value::Text(bin_id.to_string())])
    .fetch(
        connection,
        page,
        |row| Ok(request_from_row(row)?.request),
        |request| request.id.to_string(),
    )
}

pub(crate) fn bin_request(
    connection: &Connection,
    bin_id: &BinId,
    request_id: &BinRequestId,
) -> StoreResult<BinRequest> {
    let sql =
        format!("SELECT {REQUEST_COLUMNS} FROM bin_requests r WHERE r.id = ?1 AND r.bin_id = ?2");
    connection
        .prepare_cached(&sql)
        .db()?
        .query_row([request_id.as_str(), bin_id.as_str()], request_from_row)
        .optional()
        .db()?
        .map(|streamed| streamed.request)
        .ok_or(StoreError::NotFound("bin request"))
}

pub(crate) fn stream_bin_requests(
    connection: &Connection,
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
         WHERE r.bin_id = ?1 AND r.seq > ?2 ORDER BY r.seq LIMIT ?3"
    );
    let mut statement = connection.prepare_cached(&sql).db()?;
    let rows = statement
        .query_map(
            params![bin_id.as_str(), after_seq, count_param(limit as u64)],
            request_from_row,
        )
        .db()?;
    rows.collect::<Result<Vec<_>, _>>().db()
}

pub(crate) fn bin_cursor_of(
    connection: &Connection,
    bin_id: &BinId,
    request_id: &BinRequestId,
) -> StoreResult<StreamCursor> {
    let seq: Option<i64> = connection
        .prepare_cached("SELECT seq FROM bin_requests WHERE id = ?1 AND bin_id = ?2")
        .db()?
        .query_row([request_id.as_str(), bin_id.as_str()], |row| row.get(0))
        .optional()
        .db()?;
    seq.map(|seq| bin_cursor(u64::try_from(seq).unwrap_or_default()))
        .ok_or(StoreError::NotFound("bin request"))
}

pub(crate) fn expire_bins(
    connection: &Connection,
    now: Timestamp,
    limit: usize,
) -> StoreResult<u64> {
    let limit = count_param(limit as u64);
    let requests = connection
        .prepare_cached(
            "DELETE FROM bin_requests WHERE rowid IN (SELECT r.rowid FROM bins b \
             JOIN bin_requests r ON r.bin_id = b.id WHERE b.expires_at <= ?1 LIMIT ?2)",
        )
        .db()?
        .execute(params![millis(now), limit])
        .db()? as i64;
    if requests >= limit {
        return Ok(requests as u64);
    }
    let bins = connection
        .prepare_cached(
            "DELETE FROM bins WHERE id IN (SELECT b.id FROM bins b WHERE b.expires_at <= ?1 \
             AND NOT EXISTS (SELECT 1 FROM bin_requests r WHERE r.bin_id = b.id) LIMIT ?2)",
        )
        .db()?
        .execute(params![millis(now), limit - requests])
        .db()? as i64;
    Ok((requests + bins) as u64)
}

fn count_param(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn bin_from_row(row: &Row) -> rusqlite::Result<Bin> {
    let max_requests: i64 = row.get(2)?;
    let n_requests: i64 = row.get(3)?;
    Ok(Bin {
        id: BinId::from_trusted(row.get(0)?),
        response: json_column::<BinResponse>(row, 1)?,
        max_requests: u64::try_from(max_requests).unwrap_or_default(),
        n_requests: u64::try_from(n_requests).unwrap_or_default(),
        expires_at: timestamp(row, 4)?,
        created_at: timestamp(row, 5)?,
    })
}

fn request_from_row(row: &Row) -> rusqlite::Result<StreamedBinRequest> {
    let body_size: i64 = row.get(7)?;
    let seq: i64 = row.get(12)?;
    Ok(StreamedBinRequest {
        cursor: bin_cursor(u64::try_from(seq).unwrap_or_default()),
        request: BinRequest {
            id: BinRequestId::from_trusted(row.get(0)?),
            bin_id: BinId::from_trusted(row.get(1)?),
            method: row.get(2)?,
            path: row.get(3)?,
            query: row.get(4)?,
            headers: json_column(row, 5)?,
            body: row.get(6)?,
            body_size: u64::try_from(body_size).unwrap_or_default(),
            body_truncated: row.get(8)?,
            content_type: row.get(9)?,
            source_ip: row.get(10)?,
            received_at: timestamp(row, 11)?,
        },
    })
}

fn json_column<T: serde::de::DeserializeOwned>(row: &Row, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
    })
}
