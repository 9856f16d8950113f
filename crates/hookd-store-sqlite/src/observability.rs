//! What a `/metrics` scrape reads from the SQLite store: the queue's depth and its oldest
//! waiting delivery (one read on the `deliveries_due` index), and the read pool's and the
//! writer queue's use (from memory).
//!
//! **Invariant:** nothing here writes, and the queue read walks the partial index that
//! claims walk, stopping at the first delivery no live lease holds.

use hookd_core::Timestamp;
use hookd_store::{PoolStatus, QueueMetrics, StoreResult};
use rusqlite::{Connection, OptionalExtension};

use crate::error::DbResultExt;
use crate::queue::queue_depth;
use crate::readers::Readers;
use crate::rows::{millis, opt_timestamp};
use crate::writer::Writer;

/// The oldest due delivery that no live lease holds (what the next claim would take
/// first), through the `deliveries_due` index.
pub(crate) const OLDEST_WAITING_SQL: &str = "SELECT next_attempt_at FROM deliveries \
     WHERE next_attempt_at <= ?1 AND (lease_expires_at IS NULL OR lease_expires_at <= ?1) \
     ORDER BY next_attempt_at LIMIT 1";

pub(crate) fn queue_metrics(connection: &Connection, now: Timestamp) -> StoreResult<QueueMetrics> {
    let depth = queue_depth(connection, now)?;
    let oldest_waiting_due_at = connection
        .prepare_cached(OLDEST_WAITING_SQL)
        .db()?
        .query_row([millis(now)], |row| opt_timestamp(row, 0))
        .optional()
        .db()?
        .flatten();
    Ok(QueueMetrics {
        depth,
        oldest_waiting_due_at,
    })
}

/// The read pool, and the single writer with the writes queued for it.
pub(crate) fn pool_status(readers: &Readers, writer: &Writer) -> Vec<PoolStatus> {
    let (size, in_use) = readers.usage();
    let queued = writer.queued() as u64;
    vec![
        PoolStatus {
            pool: "sqlite_readers",
            max: size as u64,
            in_use: in_use as u64,
            idle: (size - in_use) as u64,
            waiting: 0,
        },
        PoolStatus {
            pool: "sqlite_writer",
            max: 1,
            in_use: u64::from(queued > 0),
            idle: u64::from(queued == 0),
            waiting: queued,
        },
    ]
}
