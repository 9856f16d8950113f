//! Live-stream reads: an application's messages in commit order, as
//! `(stream_xid, stream_seq)` pairs (see `migrations/0006_streams.sql`).
//!
//! **Invariant:** a read hands out only rows whose writing transaction id is below the
//! reading snapshot's `xmin`, the oldest transaction then still running. Every
//! transaction below that line has ended, and every later one gets a larger id, so no
//! row can ever appear below a cursor already handed out, on any node. The price: a
//! committed message waits until every transaction that began writing before it has
//! ended; `StreamBatch::settled` says when that is the case, so the caller reads again.

use hookd_core::ids::{ApplicationId, MessageId};
use hookd_store::{StoreError, StoreResult, StreamBatch, StreamCursor, StreamedMessage};
use tokio_postgres::Row;

use crate::db::Db;
use crate::rows::{message_from_row, MESSAGE_COLUMNS};

/// Column of the epoch and the sequence in the page rows (after the message columns).
const EPOCH_COLUMN: usize = 9;
const SEQ_COLUMN: usize = 10;
const HELD_BACK_COLUMN: usize = 11;

pub(crate) async fn stream_messages(
    db: &Db,
    app_id: &ApplicationId,
    after: StreamCursor,
    limit: usize,
) -> StoreResult<StreamBatch> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // No sequence number reaches past i64::MAX: such a cursor is past the end.
    let Ok(seq) = i64::try_from(after.seq) else {
        return Ok(StreamBatch {
            messages: Vec::new(),
            settled: true,
        });
    };
    // One statement, so the page and the held-back check share one snapshot. The outer
    // LEFT JOIN returns one row even when the page is empty, to carry `held_back`.
    let sql = format!(
        "WITH horizon AS MATERIALIZED ( \
             SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin \
         ), page AS ( \
             SELECT {MESSAGE_COLUMNS}, m.stream_xid::text::bigint AS epoch, \
                 m.stream_seq AS seq \
             FROM messages m, horizon h \
             WHERE m.app_id = $1 AND (m.stream_xid, m.stream_seq) > ($2::text::xid8, $3) \
                 AND m.stream_xid < h.xmin \
             ORDER BY m.stream_xid, m.stream_seq LIMIT $4 \
         ) \
         SELECT p.id, p.app_id, p.event_id, p.event_type, p.payload, p.channels, p.tags, \
             p.created_at, p.source_headers, p.epoch, p.seq, \
             EXISTS (SELECT 1 FROM messages w, horizon h WHERE w.app_id = $1 \
                 AND w.stream_xid >= h.xmin \
                 AND (w.stream_xid, w.stream_seq) > ($2::text::xid8, $3)) AS held_back \
         FROM (SELECT 1) AS one LEFT JOIN page p ON true \
         ORDER BY p.epoch, p.seq"
    );
    let rows = db
        .query(
            &sql,
            &[&app_id.as_str(), &after.epoch.to_string(), &seq, &limit],
        )
        .await?;
    let mut messages = Vec::with_capacity(rows.len());
    let mut settled = true;
    for row in &rows {
        let held_back: bool = row
            .try_get(HELD_BACK_COLUMN)
            .map_err(StoreError::internal)?;
        settled = !held_back;
        let id: Option<String> = row.try_get(0).map_err(StoreError::internal)?;
        if id.is_some() {
            messages.push(StreamedMessage {
                cursor: cursor(row, EPOCH_COLUMN, SEQ_COLUMN)?,
                message: message_from_row(row)?,
            });
        }
    }
    Ok(StreamBatch { messages, settled })
}

pub(crate) async fn stream_head(db: &Db, app_id: &ApplicationId) -> StoreResult<StreamCursor> {
    let sql = "SELECT m.stream_xid::text::bigint, m.stream_seq FROM messages m \
         WHERE m.app_id = $1 AND m.stream_xid < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY m.stream_xid DESC, m.stream_seq DESC LIMIT 1";
    match db.query_opt(sql, &[&app_id.as_str()]).await? {
        Some(row) => cursor(&row, 0, 1),
        None => Ok(StreamCursor::START),
    }
}

pub(crate) async fn stream_cursor_of(
    db: &Db,
    app_id: &ApplicationId,
    msg_id: &MessageId,
) -> StoreResult<StreamCursor> {
    let sql = "SELECT m.stream_xid::text::bigint, m.stream_seq FROM messages m \
         WHERE m.app_id = $1 AND m.id = $2";
    match db
        .query_opt(sql, &[&app_id.as_str(), &msg_id.as_str()])
        .await?
    {
        Some(row) => cursor(&row, 0, 1),
        None => Err(StoreError::NotFound("message")),
    }
}

fn cursor(row: &Row, epoch_column: usize, seq_column: usize) -> StoreResult<StreamCursor> {
    let epoch: i64 = row.try_get(epoch_column).map_err(StoreError::internal)?;
    let seq: i64 = row.try_get(seq_column).map_err(StoreError::internal)?;
    Ok(StreamCursor {
        epoch: u64::try_from(epoch).unwrap_or(0),
        seq: u64::try_from(seq).unwrap_or(0),
    })
}
