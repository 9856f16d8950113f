//! Live-stream reads: an application's messages in commit order (`message_stream.seq`,
//! filled by a trigger on every insert into `messages`).
//!
//! **Invariant:** the single writer hands out `seq` while it inserts, and a reader sees
//! whole committed batches, so a reader that has seen `seq = n` has seen every message
//! of that application with a lower `seq`: cursors are `{epoch: 0, seq}` and a batch is
//! always settled.

use hookd_core::ids::{ApplicationId, MessageId};
use hookd_store::{StoreError, StoreResult, StreamBatch, StreamCursor, StreamedMessage};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::DbResultExt;
use crate::rows::{message_from_row, MESSAGE_COLUMNS, MESSAGE_WIDTH};

pub(crate) fn stream_messages(
    connection: &Connection,
    app_id: &ApplicationId,
    after: StreamCursor,
    limit: usize,
) -> StoreResult<StreamBatch> {
    // Positions past i64::MAX cannot exist here; such a cursor is past the end.
    let Ok(after_seq) = i64::try_from(after.seq) else {
        return Ok(StreamBatch {
            messages: Vec::new(),
            settled: true,
        });
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, s.seq FROM message_stream s \
         JOIN messages m ON m.id = s.msg_id \
         WHERE s.app_id = ?1 AND s.seq > ?2 ORDER BY s.seq LIMIT ?3"
    );
    let mut statement = connection.prepare_cached(&sql).db()?;
    let rows = statement
        .query_map(
            params![
                app_id.as_str(),
                after_seq,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |row| {
                let message = message_from_row(row, 0)?;
                let seq: i64 = row.get(MESSAGE_WIDTH)?;
                Ok(StreamedMessage {
                    cursor: cursor(seq),
                    message,
                })
            },
        )
        .db()?;
    let messages = rows.collect::<Result<Vec<_>, _>>().db()?;
    Ok(StreamBatch {
        messages,
        settled: true,
    })
}

pub(crate) fn stream_head(
    connection: &Connection,
    app_id: &ApplicationId,
) -> StoreResult<StreamCursor> {
    let seq: Option<i64> = connection
        .prepare_cached("SELECT max(seq) FROM message_stream WHERE app_id = ?1")
        .db()?
        .query_row([app_id.as_str()], |row| row.get(0))
        .db()?;
    Ok(seq.map_or(StreamCursor::START, cursor))
}

pub(crate) fn stream_cursor_of(
    connection: &Connection,
    app_id: &ApplicationId,
    msg_id: &MessageId,
) -> StoreResult<StreamCursor> {
    connection
        .prepare_cached("SELECT seq FROM message_stream WHERE msg_id = ?1 AND app_id = ?2")
        .db()?
        .query_row([msg_id.as_str(), app_id.as_str()], |row| row.get(0))
        .optional()
        .db()?
        .map(cursor)
        .ok_or(StoreError::NotFound("message"))
}

fn cursor(seq: i64) -> StreamCursor {
    StreamCursor {
        epoch: 0,
        seq: u64::try_from(seq).unwrap_or(0),
    }
}
