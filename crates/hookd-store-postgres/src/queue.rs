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
//! - A claim is one statement: it leases, and returns each leased delivery with its
//!   message and endpoint, read in the same snapshot.
//! - An outcome is one statement (attempt, delivery, endpoint health together). A batch
//!   of outcomes that all leave their endpoints unchanged is one statement over arrays
//!   (no endpoint row is locked); any other batch is one transaction that takes endpoint
//!   row locks in endpoint order, so concurrent batches cannot deadlock each other.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

use futures::future::join_all;
use hookd_core::model::{Attempt, MessageStatus};
use hookd_core::Timestamp;
use hookd_store::{
    ClaimedDelivery, DeliveryOutcome, EndpointHealth, Lease, OutcomeRecord, StoreResult,
};
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;

use crate::db::{retry_transient, Db, Params};
use crate::rows::{
    delivery_from_row, endpoint_from_row_at, get, message_from_row_at, status_code, trigger_code,
    DELIVERY_COLUMNS, ENDPOINT_COLUMNS, MESSAGE_COLUMNS, MESSAGE_WIDTH,
};

/// The claim: lock up to `$2` due, unfinished, unleased (or lease-expired) deliveries,
/// oldest due first, skipping rows another claim has locked right now, then lease them
/// and return each with its message and endpoint, all in one statement (one round trip,
/// one commit). The CTE is MATERIALIZED so the locking subquery runs exactly once; it
/// walks the `deliveries_due` partial index in order. Columns: [`DELIVERY_COLUMNS`]
/// (0..=9), the new token (10), [`MESSAGE_COLUMNS`] (from 11), [`ENDPOINT_COLUMNS`]
/// (after those). A delivery whose message or endpoint was deleted meanwhile is leased
/// but not returned: there is nothing left to attempt.
pub(crate) static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH due AS MATERIALIZED ( \
            SELECT id FROM deliveries \
            WHERE status IN (1, 3) AND next_attempt_at <= $1 \
              AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
            ORDER BY next_attempt_at, id \
            LIMIT $2 \
            FOR UPDATE SKIP LOCKED \
        ), leased AS ( \
            UPDATE deliveries d SET lease_token = $3 || d.id, lease_expires_at = $4, \
                next_attempt_at = $4 \
            FROM due WHERE d.id = due.id \
            RETURNING {DELIVERY_COLUMNS}, d.lease_token \
        ) \
        SELECT d.*, {MESSAGE_COLUMNS}, {ENDPOINT_COLUMNS} \
        FROM leased d JOIN messages m ON m.id = d.msg_id \
        JOIN endpoints e ON e.id = d.endpoint_id"
    )
});

/// Where the message's columns start in a row of [`CLAIM_SQL`].
const CLAIM_MESSAGE_AT: usize = 11;
/// Where the endpoint's columns start in a row of [`CLAIM_SQL`].
const CLAIM_ENDPOINT_AT: usize = CLAIM_MESSAGE_AT + MESSAGE_WIDTH;

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
    let expires_at = chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Tokens are this claim's random prefix plus the delivery id: unguessable, and
    // distinct per delivery and per claim.
    let token_prefix = new_token_prefix();
    let rows = db
        .query(&CLAIM_SQL, &[&now, &limit, &token_prefix, &expires_at])
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let delivery = delivery_from_row(row)?;
        claimed.push(ClaimedDelivery {
            lease: Lease {
                delivery_id: delivery.id.clone(),
                token: get::<String>(row, 10)?,
            },
            message: message_from_row_at(row, CLAIM_MESSAGE_AT)?,
            endpoint: endpoint_from_row_at(row, CLAIM_ENDPOINT_AT)?,
            delivery,
        });
    }
    // RETURNING has no order; the contract is oldest due first.
    claimed.sort_by(|a, b| {
        (a.delivery.next_attempt_at, a.delivery.id.as_str())
            .cmp(&(b.delivery.next_attempt_at, b.delivery.id.as_str()))
    });
    Ok(claimed)
}

/// Records one outcome; returns whether the lease was still held.
pub(crate) async fn record_outcome(db: &Db, record: &OutcomeRecord) -> StoreResult<bool> {
    let (sql, params) = outcome_statement(record);
    let params = params.refs();
    let rows = retry_transient(db, || db.try_query(&sql, &params)).await?;
    lease_was_held(&rows)
}

/// Records many outcomes in one transaction; returns, per record, whether its lease was
/// still held.
pub(crate) async fn record_outcomes(db: &Db, records: &[OutcomeRecord]) -> StoreResult<Vec<bool>> {
    match records {
        [] => return Ok(Vec::new()),
        [record] => return Ok(vec![record_outcome(db, record).await?]),
        _ => {}
    }
    if records
        .iter()
        .all(|record| matches!(record.endpoint_health, EndpointHealth::Unchanged))
    {
        return record_plain_outcomes(db, records).await;
    }
    // Endpoint rows are the only rows two batches can both lock (each delivery is leased
    // to one worker), so taking them in one global order rules out deadlocks.
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by_key(|&index| endpoint_key(&records[index]));
    let statements: Vec<(String, Params)> = order
        .iter()
        .map(|&index| outcome_statement(&records[index]))
        .collect();

    let held_in_order = retry_transient(db, || run_in_transaction(db, &statements)).await?;
    let mut held = vec![false; records.len()];
    for (position, &index) in order.iter().enumerate() {
        held[index] = held_in_order[position];
    }
    Ok(held)
}

/// Outcomes that leave their endpoints as they are (the common case: successes on a
/// healthy endpoint) in one statement over arrays: every delivery update and attempt
/// insert of the batch at once, one commit, and no endpoint row touched (so no lock
/// order to keep). An attempt is written only for a delivery this statement holds locked:
/// updated by `held`, or, when its lease was lost, locked by `lost` (as in
/// [`outcome_statement`]).
const PLAIN_OUTCOMES_SQL: &str = "WITH input AS ( \
        SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::timestamptz[], \
            $5::integer[], $6::timestamptz[]) \
            AS i (id, token, status, next_attempt_at, tried, updated_at) \
    ), held AS ( \
        UPDATE deliveries d SET status = i.status, next_attempt_at = i.next_attempt_at, \
            n_attempts = d.n_attempts + i.tried, lease_token = NULL, \
            lease_expires_at = NULL, updated_at = i.updated_at \
        FROM input i WHERE d.id = i.id AND d.lease_token = i.token \
        RETURNING d.id \
    ), lost AS ( \
        SELECT d.id FROM deliveries d \
        WHERE d.id = ANY(ARRAY(SELECT unnest($7::text[]) EXCEPT SELECT id FROM held)) \
        FOR KEY SHARE \
    ), attempt AS ( \
        INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, \
            response_status_code, response, response_duration_ms, trigger_type, \
            request_headers, created_at) \
        SELECT a.id, a.app_id, a.msg_id, a.endpoint_id, a.url, a.status, \
            a.response_status_code, a.response, a.response_duration_ms, a.trigger_type, \
            a.request_headers, a.created_at \
        FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
            $12::text[], $13::smallint[], $14::integer[], $15::text[], $16::bigint[], \
            $17::smallint[], $18::jsonb[], $19::timestamptz[]) \
            AS a (delivery_id, id, app_id, msg_id, endpoint_id, url, status, \
                response_status_code, response, response_duration_ms, trigger_type, \
                request_headers, created_at) \
        WHERE a.delivery_id IN (SELECT id FROM held UNION ALL SELECT id FROM lost) \
            AND NOT EXISTS (SELECT 1 FROM attempts x WHERE x.id = a.id) \
    ) \
    SELECT id FROM held";

/// [`PLAIN_OUTCOMES_SQL`] for `records`; returns, per record, whether its lease was held.
async fn record_plain_outcomes(db: &Db, records: &[OutcomeRecord]) -> StoreResult<Vec<bool>> {
    let mut ids = Vec::with_capacity(records.len());
    let mut tokens = Vec::with_capacity(records.len());
    let mut statuses = Vec::with_capacity(records.len());
    let mut next_attempts = Vec::with_capacity(records.len());
    let mut tried = Vec::with_capacity(records.len());
    let mut updated = Vec::with_capacity(records.len());
    let mut attempts = AttemptColumns::default();
    for record in records {
        let (status, next_attempt_at) = delivery_change(&record.delivery);
        ids.push(record.lease.delivery_id.as_str());
        tokens.push(record.lease.token.as_str());
        statuses.push(status_code(status));
        next_attempts.push(next_attempt_at);
        tried.push(i32::from(record.attempt.is_some()));
        updated.push(record.now);
        if let Some(attempt) = &record.attempt {
            attempts.push(record.lease.delivery_id.as_str(), attempt);
        }
    }
    let a = &attempts;
    let params: [&(dyn ToSql + Sync); 19] = [
        &ids,
        &tokens,
        &statuses,
        &next_attempts,
        &tried,
        &updated,
        &a.delivery_ids,
        &a.ids,
        &a.app_ids,
        &a.msg_ids,
        &a.endpoint_ids,
        &a.urls,
        &a.statuses,
        &a.response_status_codes,
        &a.responses,
        &a.response_durations_ms,
        &a.triggers,
        &a.request_headers,
        &a.created,
    ];
    let rows = retry_transient(db, || db.try_query(PLAIN_OUTCOMES_SQL, &params)).await?;
    let mut held_ids = HashSet::with_capacity(rows.len());
    for row in &rows {
        held_ids.insert(get::<String>(row, 0)?);
    }
    Ok(records
        .iter()
        .map(|record| held_ids.contains(record.lease.delivery_id.as_str()))
        .collect())
}

/// The attempts of a batch of outcomes, column by column (the arrays
/// [`PLAIN_OUTCOMES_SQL`] unnests), each with the delivery it belongs to.
#[derive(Default)]
struct AttemptColumns<'a> {
    delivery_ids: Vec<&'a str>,
    ids: Vec<&'a str>,
    app_ids: Vec<&'a str>,
    msg_ids: Vec<&'a str>,
    endpoint_ids: Vec<&'a str>,
    urls: Vec<String>,
    statuses: Vec<i16>,
    response_status_codes: Vec<i32>,
    responses: Vec<String>,
    response_durations_ms: Vec<i64>,
    triggers: Vec<i16>,
    request_headers: Vec<Json<&'a BTreeMap<String, String>>>,
    created: Vec<Timestamp>,
}

impl<'a> AttemptColumns<'a> {
    fn push(&mut self, delivery_id: &'a str, attempt: &'a Attempt) {
        self.delivery_ids.push(delivery_id);
        self.ids.push(attempt.id.as_str());
        self.app_ids.push(attempt.app_id.as_str());
        self.msg_ids.push(attempt.msg_id.as_str());
        self.endpoint_ids.push(attempt.endpoint_id.as_str());
        self.urls.push(without_nul(&attempt.url));
        self.statuses.push(status_code(attempt.status));
        self.response_status_codes
            .push(i32::from(attempt.response_status_code));
        self.responses.push(without_nul(&attempt.response));
        self.response_durations_ms
            .push(i64::try_from(attempt.response_duration_ms).unwrap_or(i64::MAX));
        self.triggers.push(trigger_code(attempt.trigger));
        self.request_headers.push(Json(&attempt.request_headers));
        self.created.push(attempt.created_at);
    }
}

/// The status and next due time an outcome gives its delivery.
fn delivery_change(outcome: &DeliveryOutcome) -> (MessageStatus, Option<Timestamp>) {
    match outcome {
        DeliveryOutcome::Succeeded => (MessageStatus::Success, None),
        DeliveryOutcome::RetryAt(due_at) => (MessageStatus::Sending, Some(*due_at)),
        DeliveryOutcome::Failed => (MessageStatus::Fail, None),
    }
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
/// - `attempt` inserts the attempt if the delivery still exists (whoever holds it),
///   locking it (through `held`'s update, or `lost` when the lease was lost) so that a
///   deletion cannot remove the delivery and its attempts while this one is written (see
///   `applications::delete_endpoints_and_attempts`), and only once: an outcome recorded
///   again (after its batch failed) skips an attempt already there. `NOT EXISTS` rather
///   than `ON CONFLICT`, whose speculative insert writes one more WAL record per row;
///   attempt ids are new per try, so only such a repeat can meet its own id;
/// - `health` updates the endpoint only through `held`, and only if the value changes,
///   so a busy healthy endpoint's row is not rewritten on every success.
fn outcome_statement(record: &OutcomeRecord) -> (String, Params) {
    let mut params = Params::default();
    let (status, next_attempt_at) = delivery_change(&record.delivery);
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
        ", lost AS ( \
             SELECT id FROM deliveries WHERE id = {delivery_id} \
                 AND NOT EXISTS (SELECT 1 FROM held) \
             FOR KEY SHARE \
         ), attempt AS ( \
             INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, \
                 response_status_code, response, response_duration_ms, trigger_type, \
                 request_headers, created_at) \
             SELECT {} \
             WHERE (EXISTS (SELECT 1 FROM held) OR EXISTS (SELECT 1 FROM lost)) \
                 AND NOT EXISTS (SELECT 1 FROM attempts WHERE id = {attempt_id}) \
         )",
        values.join(", "),
        attempt_id = values[0],
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

/// A random prefix for lease tokens: each token is the prefix followed by the delivery id,
/// so a batch needs one random draw and tokens still never repeat.
pub(crate) fn new_token_prefix() -> String {
    format!("{:032x}.", rand::random::<u128>())
}
