//! What a `/metrics` scrape reads from PostgreSQL: the queue's depth and its oldest
//! waiting delivery in one statement on the `deliveries_due` index, and the connection
//! pool's use (from deadpool's counters, no round trip).
//!
//! **Invariant:** nothing here writes or locks; the oldest-waiting subquery walks the
//! index claims walk and stops at the first delivery no live lease holds.

use hookd_core::Timestamp;
use hookd_store::{PoolStatus, QueueDepth, QueueMetrics, StoreResult};

use crate::db::Db;
use crate::rows::get;

/// Unfinished deliveries, those due at `$1`, and the oldest due time among those no live
/// lease holds (what the next claim takes first).
pub(crate) const QUEUE_METRICS_SQL: &str = "SELECT \
        count(*) FILTER (WHERE next_attempt_at <= $1), count(*), \
        (SELECT next_attempt_at FROM deliveries \
          WHERE status IN (1, 3) AND next_attempt_at <= $1 \
            AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
          ORDER BY next_attempt_at LIMIT 1) \
     FROM deliveries WHERE status IN (1, 3)";

pub(crate) async fn queue_metrics(db: &Db, now: Timestamp) -> StoreResult<QueueMetrics> {
    let rows = db.query(QUEUE_METRICS_SQL, &[&now]).await?;
    let Some(row) = rows.first() else {
        return Ok(QueueMetrics::default());
    };
    Ok(QueueMetrics {
        depth: QueueDepth {
            due: u64::try_from(get::<i64>(row, 0)?).unwrap_or(0),
            pending: u64::try_from(get::<i64>(row, 1)?).unwrap_or(0),
        },
        oldest_waiting_due_at: get::<Option<Timestamp>>(row, 2)?,
    })
}

/// The pooled connections (the LISTEN connection is not pooled and not counted).
pub(crate) fn pool_status(db: &Db) -> Vec<PoolStatus> {
    let status = db.pool_status();
    let idle = status.available.min(status.size);
    vec![PoolStatus {
        pool: "postgres",
        max: status.max_size as u64,
        in_use: (status.size - idle) as u64,
        idle: idle as u64,
        waiting: status.waiting as u64,
    }]
}
