//! Values the store reports for `/metrics`: the queue as a scrape sees it, and the state of
//! the backend's connection pools.
//!
//! **Invariant:** these are read-only views. `queue_metrics` is one indexed read per
//! scrape (never per message); `pool_status` reads counters in memory and never touches
//! the database.

use hookd_core::Timestamp;

use crate::QueueDepth;

/// The delivery queue at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueMetrics {
    /// Unfinished deliveries, and those of them due now.
    pub depth: QueueDepth,
    /// The earliest `next_attempt_at` among deliveries that are due and that no live
    /// lease holds: how far behind the workers are. `None` when nothing waits.
    pub oldest_waiting_due_at: Option<Timestamp>,
}

/// One connection pool of a backend (or the SQLite writer's queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStatus {
    /// The pool's name as metrics label it: `postgres`, `sqlite_readers`, `sqlite_writer`.
    pub pool: &'static str,
    /// Most connections the pool opens.
    pub max: u64,
    /// Connections handed out now.
    pub in_use: u64,
    /// Connections open and free.
    pub idle: u64,
    /// Callers waiting for a connection (for the SQLite writer: writes queued for it).
    pub waiting: u64,
}
