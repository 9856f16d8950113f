//! The receive side: sources, the requests they received, and the provider event ids
//! seen (deduplication), including the one-transaction ingest of a verified request.
//!
//! **Invariants:** an ingest is one transaction: the dedup key, the message with its
//! deliveries (to the endpoints that take it, read in that transaction) and the stored
//! request commit together or not at all. Two nodes ingesting
//! the same event id at once serialise on the dedup key's row (`INSERT … ON CONFLICT`
//! waits for the other transaction), so exactly one of them makes a message. A stored
//! body is the exact bytes received (`bytea`).

use std::collections::HashSet;

use hookd_core::ids::{ApplicationId, InboundRequestId, MessageId, SourceId};
use hookd_core::inbound::Provider;
use hookd_core::model::{Endpoint, Message};
use hookd_core::source::{InboundRecord, InboundStatus, Source, SourceSettings};
use hookd_core::Timestamp;
use hookd_store::{
    endpoint_accepts_message, InboundFilter, InboundIngest, IngestOutcome, Page, PageRequest,
    PublishLease, Published, StoreError, StoreResult,
};
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;

use crate::db::{found_if, Db, Param};
use crate::error::{internal, MachineryError};
use crate::messages::{create_message_params, create_message_sql, refs};
use crate::pagination::Listing;
use crate::publisher::{handed_over, targets_for};
use crate::rows::{endpoint_from_row, get, ENDPOINT_COLUMNS};

const SOURCE_COLUMNS: &str = "s.id, s.uid, s.name, s.app_id, s.provider, s.secrets, s.settings, \
    s.created_at, s.updated_at";

const REQUEST_COLUMNS: &str = "r.id, r.source_id, r.method, r.path, r.query, r.headers, r.body, \
    r.status, r.error_code, r.error_detail, r.event_id, r.msg_id, r.source_ip, r.received_at";

const INSERT_REQUEST: &str = "INSERT INTO inbound_requests (id, source_id, method, path, query, \
    headers, body, status, error_code, error_detail, event_id, msg_id, source_ip, received_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

// ---- sources ----

/// The columns both source writes set, bound as $2 to $8 after the id ($1); an insert
/// adds `created_at` ($9). [`source_values`] gives the values of all but `created_at`.
const SOURCE_FIELDS: &str = "uid, name, app_id, provider, secrets, settings, updated_at";

pub(crate) async fn create_source(db: &Db, source: &Source) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO sources (id, {SOURCE_FIELDS}, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    let mut params = source_values(source);
    params.push(Box::new(source.created_at));
    db.execute_naming(&sql, &refs(&params), |constraint| {
        source_conflict(constraint, source)
    })
    .await?;
    Ok(())
}

pub(crate) async fn source(db: &Db, id_or_uid: &str) -> StoreResult<Source> {
    let sql = format!(
        "SELECT {SOURCE_COLUMNS} FROM sources s WHERE s.id = $1 OR s.uid = $1 \
         ORDER BY s.id = $1 DESC LIMIT 1"
    );
    match db.query_opt(&sql, &[&id_or_uid]).await? {
        Some(row) => source_from_row(&row),
        None => Err(StoreError::NotFound("source")),
    }
}

pub(crate) async fn list_sources(db: &Db, page: &PageRequest) -> StoreResult<Page<Source>> {
    Listing::new(format!("SELECT {SOURCE_COLUMNS} FROM sources s"), "s.id")
        .fetch(db, page, source_from_row, |source| source.id.to_string())
        .await
}

pub(crate) async fn update_source(db: &Db, source: &Source) -> StoreResult<()> {
    let sql = format!(
        "UPDATE sources SET ({SOURCE_FIELDS}) = ($2, $3, $4, $5, $6, $7, $8) WHERE id = $1"
    );
    let params = source_values(source);
    let changed = db
        .execute_naming(&sql, &refs(&params), |constraint| {
            source_conflict(constraint, source)
        })
        .await?;
    found_if(changed, "source")
}

pub(crate) async fn delete_source(db: &Db, source_id: &SourceId) -> StoreResult<()> {
    let changed = db
        .execute("DELETE FROM sources WHERE id = $1", &[&source_id.as_str()])
        .await?;
    found_if(changed, "source")
}

// ---- inbound requests ----

pub(crate) async fn record_inbound_request(db: &Db, request: &InboundRecord) -> StoreResult<()> {
    let values = RequestValues::new(request, request.status, request.msg_id.as_ref());
    db.execute(INSERT_REQUEST, &values.refs()).await?;
    Ok(())
}

/// Ingests one verified request in one transaction; returns the outcome and what its
/// message's publish wrote: how many deliveries, and those leased to this node under
/// `lease` (at most `lease.max_deliveries`), for its worker to attempt.
///
/// The message's endpoints are read inside the transaction, sent together with the
/// dedup claim (tokio-postgres pipelines the two statements: one round trip), and
/// filtered as a publish filters them.
pub(crate) async fn ingest_inbound(
    db: &Db,
    ingest: &InboundIngest,
    lease: Option<PublishLease>,
) -> StoreResult<(IngestOutcome, Published)> {
    let mut client = db.client().await?;
    let claim = db
        .prepare(
            &client,
            "INSERT INTO inbound_dedup (source_id, event_id, msg_id, first_seen_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (source_id, event_id) DO UPDATE \
             SET msg_id = excluded.msg_id, first_seen_at = excluded.first_seen_at \
             WHERE inbound_dedup.first_seen_at < $5 \
             RETURNING 1",
        )
        .await?;
    let first_sighting = db
        .prepare(
            &client,
            "SELECT msg_id FROM inbound_dedup WHERE source_id = $1 AND event_id = $2",
        )
        .await?;
    let endpoints = db
        .prepare(
            &client,
            &format!(
                "SELECT {ENDPOINT_COLUMNS} FROM endpoints e \
                 WHERE e.app_id = $1 AND NOT e.disabled ORDER BY e.id"
            ),
        )
        .await?;
    let insert_message = db.prepare(&client, &create_message_sql()).await?;
    let insert_request = db.prepare(&client, INSERT_REQUEST).await?;
    let transaction = client
        .transaction()
        .await
        .map_err(|error| db.error(error))?;
    let request = &ingest.request;
    let message = &ingest.message;
    let (app_id, source_id, msg_id) = (
        message.app_id.as_str(),
        request.source_id.as_str(),
        message.id.as_str(),
    );
    let endpoint_params: [&(dyn ToSql + Sync); 1] = [&app_id];
    let read_endpoints = transaction.query(&endpoints, &endpoint_params);
    let (claimed, endpoint_rows) = match &ingest.dedup_event_id {
        Some(event_id) => {
            let claim_params: [&(dyn ToSql + Sync); 5] = [
                &source_id,
                event_id,
                &msg_id,
                &request.received_at,
                &ingest.dedup_not_before,
            ];
            let claim = transaction.query(&claim, &claim_params);
            let (claimed, endpoint_rows) = futures::join!(claim, read_endpoints);
            // The claim's error first: a failed claim aborts the pipelined read too.
            let claimed = claimed.map_err(|error| db.error(error))?;
            (!claimed.is_empty(), endpoint_rows)
        }
        None => (true, read_endpoints.await),
    };
    let endpoint_rows = endpoint_rows.map_err(|error| db.error(error))?;
    // The message, unless the event id was seen: then the first sighting's message.
    let (outcome, handed) = if claimed {
        let endpoints = accepting_endpoints(&endpoint_rows, message)?;
        let targets = targets_for(message, &endpoints, lease);
        let params = create_message_params(message, &targets);
        let written: HashSet<String> = transaction
            .query(&insert_message, &refs(&params))
            .await
            .map_err(|error| db.error(error))?
            .iter()
            .map(|row| get::<String>(row, 0))
            .collect::<StoreResult<_>>()?;
        let created = IngestOutcome::Created {
            msg_id: message.id.clone(),
        };
        (created, Some((targets, endpoints, written)))
    } else {
        let event_id = ingest.dedup_event_id.as_deref().unwrap_or_default();
        let row = transaction
            .query_one(&first_sighting, &[&source_id, &event_id])
            .await
            .map_err(|error| db.error(error))?;
        let msg_id: Option<String> = get(&row, 0)?;
        let msg_id = msg_id.map(MessageId::from_trusted);
        (IngestOutcome::Duplicate { msg_id }, None)
    };
    let values = match &outcome {
        IngestOutcome::Created { msg_id } => {
            RequestValues::new(request, InboundStatus::Verified, Some(msg_id))
        }
        IngestOutcome::Duplicate { msg_id } => {
            RequestValues::new(request, InboundStatus::Duplicate, msg_id.as_ref())
        }
    };
    transaction
        .execute(&insert_request, &values.refs())
        .await
        .map_err(|error| db.error(error))?;
    transaction
        .commit()
        .await
        .map_err(|error| db.error(error))?;
    let published = match handed {
        Some((targets, endpoints, written)) => Published {
            deliveries: written.len(),
            leased: handed_over(message, targets, endpoints, &written),
        },
        None => Published::default(),
    };
    Ok((outcome, published))
}

/// The endpoints among `rows` (endpoint rows) whose filters take `message`.
fn accepting_endpoints(rows: &[Row], message: &Message) -> StoreResult<Vec<Endpoint>> {
    let mut endpoints = Vec::new();
    for row in rows {
        let endpoint = endpoint_from_row(row)?;
        if endpoint_accepts_message(&endpoint, message) {
            endpoints.push(endpoint);
        }
    }
    Ok(endpoints)
}

pub(crate) async fn list_inbound_requests(
    db: &Db,
    source_id: &SourceId,
    filter: &InboundFilter,
    page: &PageRequest,
) -> StoreResult<Page<InboundRecord>> {
    let mut listing = Listing::new(
        format!("SELECT {REQUEST_COLUMNS} FROM inbound_requests r"),
        "r.id",
    );
    let source = listing.bind(source_id.to_string());
    listing.filter(format!("r.source_id = {source}"));
    if let Some(status) = filter.status {
        let status = listing.bind(status.as_str().to_owned());
        listing.filter(format!("r.status = {status}"));
    }
    listing
        .fetch(db, page, request_from_row, |request| request.id.to_string())
        .await
}

pub(crate) async fn inbound_request(
    db: &Db,
    source_id: &SourceId,
    request_id: &InboundRequestId,
) -> StoreResult<InboundRecord> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM inbound_requests r WHERE r.id = $1 AND r.source_id = $2"
    );
    match db
        .query_opt(&sql, &[&request_id.as_str(), &source_id.as_str()])
        .await?
    {
        Some(row) => request_from_row(&row),
        None => Err(StoreError::NotFound("inbound request")),
    }
}

pub(crate) async fn inbound_request_of_message(
    db: &Db,
    source_id: &SourceId,
    msg_id: &MessageId,
) -> StoreResult<Option<InboundRecord>> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM inbound_requests r \
         WHERE r.msg_id = $1 AND r.source_id = $2 AND r.status = $3"
    );
    db.query_opt(
        &sql,
        &[
            &msg_id.as_str(),
            &source_id.as_str(),
            &InboundStatus::Verified.as_str(),
        ],
    )
    .await?
    .map(|row| request_from_row(&row))
    .transpose()
}

// ---- retention ----

pub(crate) async fn expire_inbound_requests(
    db: &Db,
    before: Timestamp,
    limit: usize,
) -> StoreResult<u64> {
    db.execute(
        "DELETE FROM inbound_requests WHERE id IN (SELECT id FROM inbound_requests \
         WHERE received_at < $1 ORDER BY received_at, id LIMIT $2)",
        &[&before, &limit_param(limit)],
    )
    .await
}

pub(crate) async fn expire_dedup_keys(
    db: &Db,
    before: Timestamp,
    limit: usize,
) -> StoreResult<u64> {
    db.execute(
        "DELETE FROM inbound_dedup WHERE (source_id, event_id) IN (SELECT source_id, event_id \
         FROM inbound_dedup WHERE first_seen_at < $1 ORDER BY first_seen_at LIMIT $2)",
        &[&before, &limit_param(limit)],
    )
    .await
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

// ---- statements and rows ----

/// The values of one stored request in [`INSERT_REQUEST`]'s order, borrowed from it,
/// with `status` and `msg_id` in place of its own.
struct RequestValues<'a> {
    request: &'a InboundRecord,
    id: &'a str,
    source_id: &'a str,
    headers: Json<&'a [(String, String)]>,
    status: &'static str,
    msg_id: Option<&'a str>,
}

impl<'a> RequestValues<'a> {
    fn new(
        request: &'a InboundRecord,
        status: InboundStatus,
        msg_id: Option<&'a MessageId>,
    ) -> Self {
        Self {
            request,
            id: request.id.as_str(),
            source_id: request.source_id.as_str(),
            headers: Json(&request.headers),
            status: status.as_str(),
            msg_id: msg_id.map(MessageId::as_str),
        }
    }

    fn refs(&self) -> [&(dyn ToSql + Sync); 14] {
        let request = self.request;
        [
            &self.id,
            &self.source_id,
            &request.method,
            &request.path,
            &request.query,
            &self.headers,
            &request.body,
            &self.status,
            &request.error_code,
            &request.error_detail,
            &request.event_id,
            &self.msg_id,
            &request.source_ip,
            &request.received_at,
        ]
    }
}

/// The id, then the values of [`SOURCE_FIELDS`] in its order.
fn source_values(source: &Source) -> Vec<Param> {
    vec![
        Box::new(source.id.to_string()),
        Box::new(source.uid.clone()),
        Box::new(source.name.clone()),
        Box::new(source.app_id.to_string()),
        Box::new(source.provider.as_str()),
        Box::new(Json(source.secrets.clone())),
        Box::new(Json(source.settings.clone())),
        Box::new(source.updated_at),
    ]
}

fn source_from_row(row: &Row) -> StoreResult<Source> {
    let provider: String = get(row, 4)?;
    let provider = Provider::parse(&provider).ok_or_else(|| {
        internal(MachineryError::UnknownValue {
            column: "sources.provider",
            value: provider.clone(),
        })
    })?;
    let Json(secrets) = get::<Json<Vec<String>>>(row, 5)?;
    let Json(settings) = get::<Json<SourceSettings>>(row, 6)?;
    Ok(Source {
        id: SourceId::from_trusted(get(row, 0)?),
        uid: get(row, 1)?,
        name: get(row, 2)?,
        app_id: ApplicationId::from_trusted(get(row, 3)?),
        provider,
        secrets,
        settings,
        created_at: get(row, 7)?,
        updated_at: get(row, 8)?,
    })
}

fn request_from_row(row: &Row) -> StoreResult<InboundRecord> {
    let status: String = get(row, 7)?;
    let status = InboundStatus::parse(&status).ok_or_else(|| {
        internal(MachineryError::UnknownValue {
            column: "inbound_requests.status",
            value: status.clone(),
        })
    })?;
    let Json(headers) = get::<Json<Vec<(String, String)>>>(row, 5)?;
    let msg_id: Option<String> = get(row, 11)?;
    Ok(InboundRecord {
        id: InboundRequestId::from_trusted(get(row, 0)?),
        source_id: SourceId::from_trusted(get(row, 1)?),
        method: get(row, 2)?,
        path: get(row, 3)?,
        query: get(row, 4)?,
        headers,
        body: get(row, 6)?,
        status,
        error_code: get(row, 8)?,
        error_detail: get(row, 9)?,
        event_id: get(row, 10)?,
        msg_id: msg_id.map(MessageId::from_trusted),
        source_ip: get(row, 12)?,
        received_at: get(row, 13)?,
    })
}

fn source_conflict(constraint: &str, source: &Source) -> StoreError {
    if constraint == "sources_uid_key" {
        StoreError::Conflict(format!(
            "a source with uid {:?} already exists",
            source.uid.as_deref().unwrap_or_default()
        ))
    } else {
        StoreError::Conflict(format!("a source with id {} already exists", source.id))
    }
}
