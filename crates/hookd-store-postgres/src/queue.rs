//! The delivery queue across nodes: claiming due deliveries under a lease, recording
//! outcomes, and giving leases back.
//!
//! **Invariants:**
//! - A claim locks the rows it picks with `FOR UPDATE SKIP LOCKED` and leases them in the
//!   same statement, so two nodes claiming at once never get the same delivery; a row
//!   leased by a claim that committed meanwhile is re-checked and skipped.
//! - A delivery changes only under its current lease token: an outcome or release
//!   carrying any other token touches nothing but the attempt log. Each claim issues a
//!   fresh random token per delivery.
//! - An outcome is one statement (attempt, delivery, endpoint health together); a batch
//!   of outcomes is one transaction that takes endpoint row locks in endpoint order, so
//!   concurrent batches cannot deadlock each other.

use std::collections::HashMap;
use std::time::Duration;

use deadpool_postgres::Client;
use futures::future::join_all;
use hookd_core::model::{Attempt, Delivery, Endpoint, Message, MessageStatus};
use hookd_core::Timestamp;
use hookd_store::{
    ClaimedDelivery, DeliveryOutcome, EndpointHealth, Lease, OutcomeRecord, StoreResult,
};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

use crate::db::{Db, Params};
use crate::error::is_transient;
use crate::rows::{
    delivery_from_row, endpoint_from_row, get, message_from_row, status_code, trigger_code,
    ENDPOINT_COLUMNS, MESSAGE_COLUMNS,
};

/// How often a statement that lost a deadlock (or raced a delete) is run again before
/// the error is returned.
const MAX_TRIES: u32 = 3;

/// The claim: lock up to `$2` due, unfinished, unleased (or lease-expired) deliveries,
/// oldest due first, skipping rows another claim has locked right now, then lease them.
/// The CTE is MATERIALIZED so the locking subquery runs exactly once; it walks the
/// `deliveries_due` partial index in order. RETURNING lists the columns
/// `delivery_from_row` reads, then the new token (column 10).
pub(crate) const CLAIM_SQL: &str = "WITH due AS MATERIALIZED ( \
        SELECT id FROM deliveries \
        WHERE status IN (1, 3) AND next_attempt_at <= $1 \
          AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
        ORDER BY next_attempt_at, id \
        LIMIT $2 \
        FOR UPDATE SKIP LOCKED \
    ) \
    UPDATE deliveries d SET lease_token = $3 || d.id, lease_expires_at = $4 \
    FROM due WHERE d.id = due.id \
    RETURNING d.id, d.app_id, d.msg_id, d.endpoint_id, d.status, d.n_attempts, \
        d.trigger_type, d.next_attempt_at, d.created_at, d.updated_at, d.lease_token";

/// Leases up to `limit` due deliveries until `now + lease` and returns them, oldest due
/// first, each with its message and endpoint.
pub(crate) async fn claim_due_deliveries(
    db: &Db,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> StoreResult<Vec<ClaimedDelivery>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let client = db.client().await?;
    let leased = lease_due(db, &client, now, lease, limit).await?;
    if leased.is_empty() {
        return Ok(Vec::new());
    }
    with_records(db, &client, leased).await
}

/// The claim statement: leases due deliveries; returns each with its token, oldest due
/// first.
async fn lease_due(
    db: &Db,
    client: &Client,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> StoreResult<Vec<(Delivery, String)>> {
    let expires_at = chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Tokens are this claim's random prefix plus the delivery id: unguessable, and
    // distinct per delivery and per claim.
    let token_prefix = new_token_prefix();
    let claim = db.prepare(client, CLAIM_SQL).await?;
    let rows = client
        .query(&claim, &[&now, &limit, &token_prefix, &expires_at])
        .await
        .map_err(|error| db.error(error))?;
    let mut leased = Vec::with_capacity(rows.len());
    for row in &rows {
        leased.push((delivery_from_row(row)?, get::<String>(row, 10)?));
    }
    // RETURNING has no order; the contract is oldest due first.
    leased.sort_by(|(a, _), (b, _)| {
        (a.next_attempt_at, a.id.as_str()).cmp(&(b.next_attempt_at, b.id.as_str()))
    });
    Ok(leased)
}

/// Fetches the messages and endpoints of leased deliveries, one query for each.
async fn with_records(
    db: &Db,
    client: &Client,
    leased: Vec<(Delivery, String)>,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let msg_ids: Vec<&str> = leased.iter().map(|(d, _)| d.msg_id.as_str()).collect();
    let endpoint_ids: Vec<&str> = leased.iter().map(|(d, _)| d.endpoint_id.as_str()).collect();
    let messages_sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = ANY($1)");
    let endpoints_sql = format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints e WHERE e.id = ANY($1)");
    let messages_statement = db.prepare(client, &messages_sql).await?;
    let endpoints_statement = db.prepare(client, &endpoints_sql).await?;
    // Both lookups are sent before either answer is awaited (tokio-postgres pipelines
    // concurrent queries on one connection): one round trip for the two.
    let (message_params, endpoint_params) = ([&msg_ids as _], [&endpoint_ids as _]);
    let (message_rows, endpoint_rows) = futures::try_join!(
        client.query(&messages_statement, &message_params),
        client.query(&endpoints_statement, &endpoint_params),
    )
    .map_err(|error| db.error(error))?;
    let messages = by_id(&message_rows, message_from_row, |m: &Message| {
        m.id.to_string()
    })?;
    let endpoints = by_id(&endpoint_rows, endpoint_from_row, |e: &Endpoint| {
        e.id.to_string()
    })?;

    let mut claimed = Vec::with_capacity(leased.len());
    for (delivery, token) in leased {
        // A message or endpoint deleted since the claim took its deliveries with it:
        // there is nothing left to attempt.
        let (Some(message), Some(endpoint)) = (
            messages.get(delivery.msg_id.as_str()),
            endpoints.get(delivery.endpoint_id.as_str()),
        ) else {
            continue;
        };
        claimed.push(ClaimedDelivery {
            lease: Lease {
                delivery_id: delivery.id.clone(),
                token,
            },
            message: message.clone(),
            endpoint: endpoint.clone(),
            delivery,
        });
    }
    Ok(claimed)
}

/// Records one outcome; returns whether the lease was still held.
pub(crate) async fn record_outcome(db: &Db, record: &OutcomeRecord) -> StoreResult<bool> {
    let (sql, params) = outcome_statement(record);
    let mut tries = 0;
    loop {
        tries += 1;
        match db.try_query(&sql, &params.refs()).await? {
            Ok(rows) => return lease_was_held(&rows),
            Err(error) if is_transient(&error) && tries < MAX_TRIES => continue,
            Err(error) => return Err(db.error(error)),
        }
    }
}

/// Records many outcomes in one transaction; returns, per record, whether its lease was
/// still held.
pub(crate) async fn record_outcomes(db: &Db, records: &[OutcomeRecord]) -> StoreResult<Vec<bool>> {
    match records {
        [] => return Ok(Vec::new()),
        [record] => return Ok(vec![record_outcome(db, record).await?]),
        _ => {}
    }
    // Endpoint rows are the only rows two batches can both lock (each delivery is leased
    // to one worker), so taking them in one global order rules out deadlocks.
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by_key(|&index| endpoint_key(&records[index]));
    let statements: Vec<(String, Params)> = order
        .iter()
        .map(|&index| outcome_statement(&records[index]))
        .collect();

    let mut tries = 0;
    let held_in_order = loop {
        tries += 1;
        match run_in_transaction(db, &statements).await? {
            Ok(held) => break held,
            Err(error) if is_transient(&error) && tries < MAX_TRIES => continue,
            Err(error) => return Err(db.error(error)),
        }
    };
    let mut held = vec![false; records.len()];
    for (position, &index) in order.iter().enumerate() {
        held[index] = held_in_order[position];
    }
    Ok(held)
}

/// Gives a leased delivery back, due at `due_at`; returns whether the lease was current
/// (otherwise nothing changed).
pub(crate) async fn release_delivery(
    db: &Db,
    lease: &Lease,
    due_at: Timestamp,
) -> StoreResult<bool> {
    let changed = db
        .execute(
            "UPDATE deliveries SET next_attempt_at = $3, lease_token = NULL, \
             lease_expires_at = NULL \
             WHERE id = $1 AND lease_token = $2 AND status IN (1, 3)",
            &[&lease.delivery_id.as_str(), &lease.token, &due_at],
        )
        .await?;
    Ok(changed > 0)
}

/// Runs each statement (one per outcome) in one transaction, pipelined; the outer
/// `Result` is a failure to get or prepare a connection, the inner one the first
/// statement error (the caller decides whether to try again).
async fn run_in_transaction(
    db: &Db,
    statements: &[(String, Params)],
) -> StoreResult<Result<Vec<bool>, tokio_postgres::Error>> {
    let mut client = db.client().await?;
    let mut prepared = Vec::with_capacity(statements.len());
    for (sql, _) in statements {
        prepared.push(db.prepare(&client, sql).await?);
    }
    let transaction = match client.transaction().await {
        Ok(transaction) => transaction,
        Err(error) => return Ok(Err(error)),
    };
    let params: Vec<_> = statements.iter().map(|(_, params)| params.refs()).collect();
    let results = join_all(
        prepared
            .iter()
            .zip(&params)
            .map(|(statement, params)| transaction.query(statement, params)),
    )
    .await;
    let mut held = Vec::with_capacity(results.len());
    for result in results {
        // After the first failure the rest fail as "transaction aborted"; the first is
        // the one that says why. Dropping the transaction rolls it back.
        match result {
            Ok(rows) => held.push(lease_was_held(&rows)?),
            Err(error) => return Ok(Err(error)),
        }
    }
    Ok(transaction.commit().await.map(|()| held))
}

/// The statement that applies one outcome, and its parameters:
/// - `held` updates the delivery only if the lease token still matches;
/// - `attempt` inserts the attempt if the delivery still exists (whoever holds it);
/// - `health` updates the endpoint only through `held`, and only if the value changes,
///   so a busy healthy endpoint's row is not rewritten on every success.
fn outcome_statement(record: &OutcomeRecord) -> (String, Params) {
    let mut params = Params::default();
    let (status, next_attempt_at) = match &record.delivery {
        DeliveryOutcome::Succeeded => (MessageStatus::Success, None),
        DeliveryOutcome::RetryAt(due_at) => (MessageStatus::Sending, Some(*due_at)),
        DeliveryOutcome::Failed => (MessageStatus::Fail, None),
    };
    let id = params.bind(record.lease.delivery_id.to_string());
    let token = params.bind(record.lease.token.clone());
    let status = params.bind(status_code(status));
    let next_attempt_at = params.bind(next_attempt_at);
    let tried = params.bind(i32::from(record.attempt.is_some()));
    let now = params.bind(record.now);
    let mut sql = format!(
        "WITH held AS ( \
             UPDATE deliveries SET status = {status}, next_attempt_at = {next_attempt_at}, \
                 n_attempts = n_attempts + {tried}, lease_token = NULL, \
                 lease_expires_at = NULL, updated_at = {now} \
             WHERE id = {id} AND lease_token = {token} \
             RETURNING app_id, endpoint_id \
         )"
    );
    if let Some(attempt) = &record.attempt {
        sql.push_str(&attempt_insert(&mut params, attempt, &id));
    }
    if let Some(health) = health_update(&mut params, &record.endpoint_health) {
        sql.push_str(&health);
    }
    sql.push_str(" SELECT count(*) FROM held");
    (sql, params)
}

fn attempt_insert(params: &mut Params, attempt: &Attempt, delivery_id: &str) -> String {
    let values = [
        params.bind(attempt.id.to_string()) + "::text",
        params.bind(attempt.app_id.to_string()) + "::text",
        params.bind(attempt.msg_id.to_string()) + "::text",
        params.bind(attempt.endpoint_id.to_string()) + "::text",
        params.bind(without_nul(&attempt.url)) + "::text",
        params.bind(status_code(attempt.status)) + "::smallint",
        params.bind(i32::from(attempt.response_status_code)) + "::integer",
        params.bind(without_nul(&attempt.response)) + "::text",
        params.bind(i64::try_from(attempt.response_duration_ms).unwrap_or(i64::MAX)) + "::bigint",
        params.bind(trigger_code(attempt.trigger)) + "::smallint",
        params.bind(Json(attempt.request_headers.clone())) + "::jsonb",
        params.bind(attempt.created_at) + "::timestamptz",
    ];
    format!(
        ", attempt AS ( \
             INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, \
                 response_status_code, response, response_duration_ms, trigger_type, \
                 request_headers, created_at) \
             SELECT {} \
             WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = {delivery_id}) \
             ON CONFLICT (id) DO NOTHING \
         )",
        values.join(", ")
    )
}

fn health_update(params: &mut Params, health: &EndpointHealth) -> Option<String> {
    let (set, unless) = match health {
        EndpointHealth::Unchanged => return None,
        EndpointHealth::Healthy => (
            "failing_since = NULL".to_owned(),
            "e.failing_since IS NOT NULL",
        ),
        EndpointHealth::Failing(at) => {
            let at = params.bind(*at);
            (format!("failing_since = {at}"), "e.failing_since IS NULL")
        }
        EndpointHealth::Disable => ("disabled = true".to_owned(), "NOT e.disabled"),
    };
    Some(format!(
        ", health AS ( \
             UPDATE endpoints e SET {set} FROM held \
             WHERE e.id = held.endpoint_id AND e.app_id = held.app_id AND {unless} \
         )"
    ))
}

/// Whether the `SELECT count(*) FROM held` of an outcome statement counted the delivery.
fn lease_was_held(rows: &[Row]) -> StoreResult<bool> {
    match rows.first() {
        Some(row) => Ok(get::<i64>(row, 0)? > 0),
        None => Ok(false),
    }
}

/// The endpoint an outcome may lock, for ordering a batch.
fn endpoint_key(record: &OutcomeRecord) -> &str {
    record
        .attempt
        .as_ref()
        .map_or("", |attempt| attempt.endpoint_id.as_str())
}

/// PostgreSQL text cannot hold U+0000. A response body or URL comes from outside and may
/// contain it; recording the attempt matters more than that one character, which
/// becomes U+FFFD (SQLite keeps it as is).
fn without_nul(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
}

fn by_id<T>(
    rows: &[Row],
    map: impl Fn(&Row) -> StoreResult<T>,
    key_of: impl Fn(&T) -> String,
) -> StoreResult<HashMap<String, T>> {
    rows.iter()
        .map(|row| map(row).map(|item| (key_of(&item), item)))
        .collect()
}

/// A random prefix for lease tokens: each token is the prefix followed by the delivery id,
/// so a batch needs one random draw and tokens still never repeat.
pub(crate) fn new_token_prefix() -> String {
    format!("{:032x}.", rand::random::<u128>())
}
