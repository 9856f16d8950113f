//! Live-stream reads: an application's messages in commit order (`messages.stream_seq`,
//! set by the writer as it inserts each message, see `stream_positions`).
//!
//! **Invariant:** the single writer hands out `stream_seq` while it inserts, and a reader
//! sees whole committed batches, so a reader that has seen `stream_seq = n` has seen every
//! message of that application with a lower one: cursors are `{epoch: 0, seq}` and a
//! batch is always settled. Every read walks `messages_by_stream (app_id, stream_seq)`.

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
    let mut statement = connection.prepare_cached(&stream_messages_sql()).db()?;
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
        .prepare_cached(STREAM_HEAD_SQL)
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
    let seq: Option<Option<i64>> = connection
        .prepare_cached(STREAM_CURSOR_OF_SQL)
        .db()?
        .query_row([msg_id.as_str(), app_id.as_str()], |row| row.get(0))
        .optional()
        .db()?;
    seq.flatten()
        .map(cursor)
        .ok_or(StoreError::NotFound("message"))
}

/// An application's messages after a position, in position order (`?1` the application,
/// `?2` the position, `?3` the limit).
pub(crate) fn stream_messages_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS}, m.stream_seq FROM messages m \
         WHERE m.app_id = ?1 AND m.stream_seq > ?2 ORDER BY m.stream_seq LIMIT ?3"
    )
}

/// An application's highest position (`?1` the application).
pub(crate) const STREAM_HEAD_SQL: &str = "SELECT max(stream_seq) FROM messages WHERE app_id = ?1";

/// One message's position (`?1` the message, `?2` its application).
pub(crate) const STREAM_CURSOR_OF_SQL: &str =
    "SELECT stream_seq FROM messages WHERE id = ?1 AND app_id = ?2";

fn cursor(seq: i64) -> StreamCursor {
    StreamCursor {
        epoch: 0,
        seq: u64::try_from(seq).unwrap_or(0),
    }
}
