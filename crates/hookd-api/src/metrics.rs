//! `GET /metrics`: Prometheus text exposition of everything hookd records, plus the gauges
//! read from the store at scrape time (queue depth, oldest waiting delivery, pool use).
//! Also the API's own metrics: publish latency and the inbound request counter.
//!
//! **Invariants:** the store is read once per scrape, never per request or message; the
//! route is unauthenticated (it carries counts only, no ids, payloads or tenant names);
//! a scrape while the database is down still answers 200 with `hookd_database_up 0`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Renders every recorded metric in the Prometheus text format. The binary passes the
/// exporter's render function; the API does not know which exporter it is.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Histogram: how long the publish handler took to answer, in seconds.
pub const PUBLISH_DURATION_SECONDS: &str = "hookd_publish_duration_seconds";
/// Counter: messages committed by this node's API.
pub const MESSAGES_PUBLISHED_TOTAL: &str = "hookd_messages_published_total";
/// Counter: inbound provider requests at `/in/{source}`, by `result`
/// (`verified`, `rejected`, `duplicate`).
pub const INBOUND_REQUESTS_TOTAL: &str = "hookd_inbound_requests_total";
/// Counter: requests inspector bins recorded on this node.
pub const BIN_REQUESTS_TOTAL: &str = "hookd_bin_requests_total";
/// Gauge: unfinished deliveries (pending or waiting to retry), cluster-wide.
pub const QUEUE_DEPTH: &str = "hookd_queue_depth";
/// Gauge: unfinished deliveries waiting for a worker now (one in flight is due again only
/// when its lease expires).
pub const QUEUE_DUE: &str = "hookd_queue_due";
/// Gauge: age of the oldest due delivery that no worker holds, in seconds (0 when none).
pub const QUEUE_OLDEST_DUE_AGE_SECONDS: &str = "hookd_queue_oldest_due_age_seconds";
/// Gauges: database connections by `pool` and `state` (`in_use`, `idle`), the pool's
/// maximum, and callers waiting for one.
pub const DB_POOL_CONNECTIONS: &str = "hookd_db_pool_connections";
pub const DB_POOL_MAX_CONNECTIONS: &str = "hookd_db_pool_max_connections";
pub const DB_POOL_WAITING: &str = "hookd_db_pool_waiting";
/// Gauge: 1 when the last scrape could read the queue from the database, else 0.
pub const DATABASE_UP: &str = "hookd_database_up";

/// Every `result` label value of [`INBOUND_REQUESTS_TOTAL`].
pub const INBOUND_RESULTS: &[&str] = &["verified", "rejected", "duplicate"];

/// Registers the API's metrics and the scrape-time gauges with their help texts, every
/// labelled counter at zero, so a scrape shows them before the first event.
pub fn describe() {
    metrics::describe_histogram!(
        PUBLISH_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time the publish handler (POST /api/v1/app/{app}/msg) took, answered errors included."
    );
    metrics::describe_counter!(
        MESSAGES_PUBLISHED_TOTAL,
        "Messages this node's API committed (202)."
    );
    metrics::describe_counter!(
        INBOUND_REQUESTS_TOTAL,
        "Inbound provider requests at /in/{source}, by result: verified, rejected, duplicate."
    );
    metrics::describe_counter!(
        BIN_REQUESTS_TOTAL,
        "Requests inspector bins (/b/{bin}) recorded on this node."
    );
    metrics::describe_gauge!(
        QUEUE_DEPTH,
        "Unfinished deliveries in the database (pending or waiting for a retry); read at scrape time."
    );
    metrics::describe_gauge!(
        QUEUE_DUE,
        "Unfinished deliveries waiting for a worker now (an attempt in flight counts again only if its lease expires); read at scrape time."
    );
    metrics::describe_gauge!(
        QUEUE_OLDEST_DUE_AGE_SECONDS,
        metrics::Unit::Seconds,
        "How long the oldest due delivery that no worker holds has been due; 0 when none waits."
    );
    metrics::describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database connections by pool and state (in_use, idle)."
    );
    metrics::describe_gauge!(
        DB_POOL_MAX_CONNECTIONS,
        "Most connections each database pool opens."
    );
    metrics::describe_gauge!(
        DB_POOL_WAITING,
        "Callers waiting for a database connection (sqlite_writer: writes queued for the writer)."
    );
    metrics::describe_gauge!(
        DATABASE_UP,
        "1 when the last scrape could read the queue from the database, else 0."
    );
    metrics::counter!(MESSAGES_PUBLISHED_TOTAL).absolute(0);
    metrics::counter!(BIN_REQUESTS_TOTAL).absolute(0);
    for result in INBOUND_RESULTS {
        metrics::counter!(INBOUND_REQUESTS_TOTAL, "result" => *result).absolute(0);
    }
}

/// Records one publish: its duration, and whether it committed.
pub(crate) fn record_publish(duration: Duration, committed: bool) {
    metrics::histogram!(PUBLISH_DURATION_SECONDS).record(duration.as_secs_f64());
    if committed {
        metrics::counter!(MESSAGES_PUBLISHED_TOTAL).increment(1);
    }
}

/// `GET /metrics`.
pub async fn serve(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(render) = state.metrics.clone() else {
        return Err(ApiError::NotFound("metrics (not enabled)".to_owned()));
    };
    refresh_store_gauges(&state).await;
    let body = render();
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

/// Reads the queue and the pools and sets their gauges.
async fn refresh_store_gauges(state: &AppState) {
    let now = crate::wire::now();
    match state.store.queue_metrics(now).await {
        Ok(queue) => {
            metrics::gauge!(QUEUE_DEPTH).set(queue.depth.pending as f64);
            metrics::gauge!(QUEUE_DUE).set(queue.depth.due as f64);
            let age = queue
                .oldest_waiting_due_at
                .and_then(|due_at| (now - due_at).to_std().ok())
                .map_or(0.0, |age| age.as_secs_f64());
            metrics::gauge!(QUEUE_OLDEST_DUE_AGE_SECONDS).set(age);
            metrics::gauge!(DATABASE_UP).set(1.0);
        }
        Err(error) => {
            tracing::warn!(%error, "metrics scrape could not read the queue");
            metrics::gauge!(DATABASE_UP).set(0.0);
        }
    }
    for pool in state.store.pool_status() {
        let name = pool.pool;
        metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "in_use")
            .set(pool.in_use as f64);
        metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "idle")
            .set(pool.idle as f64);
        metrics::gauge!(DB_POOL_MAX_CONNECTIONS, "pool" => name).set(pool.max as f64);
        metrics::gauge!(DB_POOL_WAITING, "pool" => name).set(pool.waiting as f64);
    }
}
