//! The receive side: sources, the requests they received, and the provider event ids
//! seen (deduplication), including the one-transaction ingest of a verified request.
//!
//! **Invariants:** an ingest is one writer command, so the dedup key, the message with
//! its deliveries (to the endpoints that take it, chosen in that same command) and the
//! stored request commit together or not at all; being the only
//! writer, it needs no locking to make a second sighting of an event id a duplicate. A
//! stored body is the exact bytes received (a BLOB).

use hookd_core::ids::{ApplicationId, InboundRequestId, MessageId, SourceId};
use hookd_core::inbound::Provider;
use hookd_core::source::{InboundRecord, InboundStatus, Source, SourceSettings};
use hookd_store::{
    InboundFilter, InboundIngest, IngestOutcome, Page, PageRequest, PublishLease, Published,
    StoreError, StoreResult,
};
use rusqlite::types::{Type, Value};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::applications::{found_if, require_application};
use crate::error::{map, unique_violation, DbResultExt};
use crate::messages::publish_message;
use crate::pagination::Listing;
use crate::rows::{millis, timestamp, to_json};
use crate::stream_positions::StreamPositions;

const SOURCE_COLUMNS: &str = "s.id, s.uid, s.name, s.app_id, s.provider, s.secrets, s.settings, \
    s.created_at, s.updated_at";

const REQUEST_COLUMNS: &str = "r.id, r.source_id, r.method, r.path, r.query, r.headers, r.body, \
    r.status, r.error_code, r.error_detail, r.event_id, r.msg_id, r.source_ip, r.received_at";

/// Stores one request; the columns are those of [`REQUEST_COLUMNS`], in its order.
const INSERT_REQUEST: &str = "INSERT INTO inbound_requests (id, source_id, method, path, query, \
    headers, body, status, error_code, error_detail, event_id, msg_id, source_ip, received_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

// ---- sources ----

/// The columns both source writes set, bound as ?2 to ?8 after the id (?1); an insert
/// adds `created_at` (?9). [`source_values`] gives the values of all but `created_at`.
const SOURCE_FIELDS: &str = "uid, name, app_id, provider, secrets, settings, updated_at";

pub(crate) fn create_source(connection: &Connection, source: &Source) -> StoreResult<()> {
    require_application(connection, &source.app_id)?;
    let sql = format!(
        "INSERT INTO sources (id, {SOURCE_FIELDS}, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    );
    let mut values = source_values(source)?;
    values.push(Value::Integer(millis(source.created_at)));
    connection
        .prepare_cached(&sql)
        .db()?
        .execute(params_from_iter(values))
        .map_err(|error| source_conflict(error, source))?;
    Ok(())
}

pub(crate) fn source(connection: &Connection, id_or_uid: &str) -> StoreResult<Source> {
    let sql = format!(
        "SELECT {SOURCE_COLUMNS} FROM sources s WHERE s.id = ?1 OR s.uid = ?1 \
         ORDER BY s.id = ?1 DESC LIMIT 1"
    );
    connection
        .prepare_cached(&sql)
        .db()?
        .query_row([id_or_uid], source_from_row)
        .optional()
        .db()?
        .ok_or(StoreError::NotFound("source"))
}

pub(crate) fn list_sources(
    connection: &Connection,
    page: &PageRequest,
) -> StoreResult<Page<Source>> {
    Listing::new(format!("SELECT {SOURCE_COLUMNS} FROM sources s"), "s.id").fetch(
        connection,
        page,
        source_from_row,
        |source| source.id.to_string(),
    )
}

pub(crate) fn update_source(connection: &Connection, source: &Source) -> StoreResult<()> {
    require_application(connection, &source.app_id)?;
    let sql = format!(
        "UPDATE sources SET ({SOURCE_FIELDS}) = (?2, ?3, ?4, ?5, ?6, ?7, ?8) WHERE id = ?1"
    );
    let changed = connection
        .prepare_cached(&sql)
        .db()?
        .execute(params_from_iter(source_values(source)?))
        .map_err(|error| source_conflict(error, source))?;
    found_if(changed, "source")
}

pub(crate) fn delete_source(connection: &Connection, source_id: &SourceId) -> StoreResult<()> {
    let changed = connection
        .prepare_cached("DELETE FROM sources WHERE id = ?1")
        .db()?
        .execute([source_id.as_str()])
        .db()?;
    found_if(changed, "source")
}

// ---- inbound requests ----

/// Stores `request` as given. `NotFound("source")` when its source does not exist.
pub(crate) fn record_inbound_request(
    connection: &Connection,
    request: &InboundRecord,
) -> StoreResult<()> {
    insert_request(connection, request, request.status, request.msg_id.as_ref())
}

/// What [`ingest_inbound`] did, and how many deliveries it wrote (to wake workers only
/// when there is work).
#[derive(Debug)]
pub(crate) struct Ingested {
    pub(crate) outcome: IngestOutcome,
    /// The deliveries written, and those of them leased to the caller.
    pub(crate) published: Published,
}

impl Ingested {
    /// Whether the ingest left deliveries in the queue for the workers.
    pub(crate) fn queued_work(&self) -> bool {
        self.published.deliveries > self.published.leased.len()
    }
}

/// Ingests as [`hookd_store::Store::ingest_inbound_leased`] says.
pub(crate) fn ingest_inbound(
    connection: &Connection,
    ingest: &InboundIngest,
    lease: Option<&PublishLease>,
    positions: &StreamPositions,
) -> StoreResult<Ingested> {
    let request = &ingest.request;
    if let Some(event_id) = &ingest.dedup_event_id {
        if !claim_event_id(connection, ingest, event_id)? {
            let first: Option<String> = connection
                .prepare_cached(
                    "SELECT msg_id FROM inbound_dedup WHERE source_id = ?1 AND event_id = ?2",
                )
                .db()?
                .query_row(params![request.source_id.as_str(), event_id], |row| {
                    row.get(0)
                })
                .db()?;
            let msg_id = first.map(MessageId::from_trusted);
            insert_request(
                connection,
                request,
                InboundStatus::Duplicate,
                msg_id.as_ref(),
            )?;
            return Ok(Ingested {
                outcome: IngestOutcome::Duplicate { msg_id },
                published: Published::default(),
            });
        }
    }
    // The endpoints are chosen here, inside the write, exactly as a publish chooses them.
    let published = publish_message(connection, &ingest.message, lease, positions)?;
    insert_request(
        connection,
        request,
        InboundStatus::Verified,
        Some(&ingest.message.id),
    )?;
    Ok(Ingested {
        outcome: IngestOutcome::Created {
            msg_id: ingest.message.id.clone(),
        },
        published,
    })
}

/// Records the provider event id for `ingest`'s message unless it was seen inside the
/// window. Returns whether it was claimed (`false`: a duplicate).
fn claim_event_id(
    connection: &Connection,
    ingest: &InboundIngest,
    event_id: &str,
) -> StoreResult<bool> {
    // A key seen inside the window stays as it is (the upsert's WHERE fails and changes
    // nothing); a missing or expired one now names this request's message.
    let claimed = connection
        .prepare_cached(
            "INSERT INTO inbound_dedup (source_id, event_id, msg_id, first_seen_at) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (source_id, event_id) DO UPDATE \
             SET msg_id = excluded.msg_id, first_seen_at = excluded.first_seen_at \
             WHERE inbound_dedup.first_seen_at < ?5",
        )
        .db()?
        .execute(params![
            ingest.request.source_id.as_str(),
            event_id,
            ingest.message.id.as_str(),
            millis(ingest.request.received_at),
            millis(ingest.dedup_not_before),
        ])
        .map_err(missing_source)?;
    Ok(claimed > 0)
}

/// Inserts `request` with `status` and `msg_id` in place of its own.
fn insert_request(
    connection: &Connection,
    request: &InboundRecord,
    status: InboundStatus,
    msg_id: Option<&MessageId>,
) -> StoreResult<()> {
    connection
        .prepare_cached(INSERT_REQUEST)
        .db()?
        .execute(params![
            request.id.as_str(),
            request.source_id.as_str(),
            request.method,
            request.path,
            request.query,
            to_json(&request.headers)?,
            request.body,
            status.as_str(),
            request.error_code,
            request.error_detail,
            request.event_id,
            msg_id.map(MessageId::as_str),
            request.source_ip,
            millis(request.received_at),
        ])
        .map_err(missing_source)?;
    Ok(())
}

/// A write whose row names its source by a foreign key failed: a violated foreign key
/// means the source does not exist (or was deleted meanwhile).
fn missing_source(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            StoreError::NotFound("source")
        }
        _ => map(error),
    }
}

pub(crate) fn list_inbound_requests(
    connection: &Connection,
    source_id: &SourceId,
    filter: &InboundFilter,
    page: &PageRequest,
) -> StoreResult<Page<InboundRecord>> {
    let mut listing = Listing::new(
        format!("SELECT {REQUEST_COLUMNS} FROM inbound_requests r"),
        "r.id",
    )
    .filter("r.source_id = ?", vec![Value::Text(source_id.to_string())]);
    if let Some(status) = filter.status {
        listing = listing.filter(
            "r.status = ?",
            vec![Value::Text(status.as_str().to_owned())],
        );
    }
    listing.fetch(connection, page, request_from_row, |request| {
        request.id.to_string()
    })
}

pub(crate) fn inbound_request(
    connection: &Connection,
    source_id: &SourceId,
    request_id: &InboundRequestId,
) -> StoreResult<InboundRecord> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM inbound_requests r WHERE r.id = ?1 AND r.source_id = ?2"
    );
    connection
        .prepare_cached(&sql)
        .db()?
        .query_row([request_id.as_str(), source_id.as_str()], request_from_row)
        .optional()
        .db()?
        .ok_or(StoreError::NotFound("inbound request"))
}

pub(crate) fn inbound_request_of_message(
    connection: &Connection,
    source_id: &SourceId,
    msg_id: &MessageId,
) -> StoreResult<Option<InboundRecord>> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM inbound_requests r \
         WHERE r.msg_id = ?1 AND r.source_id = ?2 AND r.status = ?3"
    );
    connection
        .prepare_cached(&sql)
        .db()?
        .query_row(
            [
                msg_id.as_str(),
                source_id.as_str(),
                InboundStatus::Verified.as_str(),
            ],
            request_from_row,
        )
        .optional()
        .db()
}

// ---- retention ----

pub(crate) fn expire_inbound_requests(
    connection: &Connection,
    before: hookd_core::Timestamp,
    limit: usize,
) -> StoreResult<u64> {
    let deleted = connection
        .prepare_cached(
            "DELETE FROM inbound_requests WHERE id IN (SELECT id FROM inbound_requests \
             WHERE received_at < ?1 ORDER BY received_at, id LIMIT ?2)",
        )
        .db()?
        .execute(params![millis(before), limit_param(limit)])
        .db()?;
    Ok(deleted as u64)
}

pub(crate) fn expire_dedup_keys(
    connection: &Connection,
    before: hookd_core::Timestamp,
    limit: usize,
) -> StoreResult<u64> {
    let deleted = connection
        .prepare_cached(
            "DELETE FROM inbound_dedup WHERE rowid IN (SELECT rowid FROM inbound_dedup \
             WHERE first_seen_at < ?1 ORDER BY first_seen_at LIMIT ?2)",
        )
        .db()?
        .execute(params![millis(before), limit_param(limit)])
        .db()?;
    Ok(deleted as u64)
}

/// The id, then the values of [`SOURCE_FIELDS`] in its order.
fn source_values(source: &Source) -> StoreResult<Vec<Value>> {
    Ok(vec![
        Value::Text(source.id.to_string()),
        source.uid.clone().map_or(Value::Null, Value::Text),
        Value::Text(source.name.clone()),
        Value::Text(source.app_id.to_string()),
        Value::Text(source.provider.as_str().to_owned()),
        Value::Text(to_json(&source.secrets)?),
        Value::Text(to_json(&source.settings)?),
        Value::Integer(millis(source.updated_at)),
    ])
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

// ---- rows ----

fn source_from_row(row: &Row) -> rusqlite::Result<Source> {
    let provider: String = row.get(4)?;
    let provider = Provider::parse(&provider).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            Type::Text,
            format!("unknown provider {provider}").into(),
        )
    })?;
    Ok(Source {
        id: SourceId::from_trusted(row.get(0)?),
        uid: row.get(1)?,
        name: row.get(2)?,
        app_id: ApplicationId::from_trusted(row.get(3)?),
        provider,
        secrets: json_column(row, 5)?,
        settings: json_column::<SourceSettings>(row, 6)?,
        created_at: timestamp(row, 7)?,
        updated_at: timestamp(row, 8)?,
    })
}

fn request_from_row(row: &Row) -> rusqlite::Result<InboundRecord> {
    let status: String = row.get(7)?;
    let status = InboundStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            7,
            Type::Text,
            format!("unknown inbound status {status}").into(),
        )
    })?;
    let msg_id: Option<String> = row.get(11)?;
    Ok(InboundRecord {
        id: InboundRequestId::from_trusted(row.get(0)?),
        source_id: SourceId::from_trusted(row.get(1)?),
        method: row.get(2)?,
        path: row.get(3)?,
        query: row.get(4)?,
        headers: json_column(row, 5)?,
        body: row.get(6)?,
        status,
        error_code: row.get(8)?,
        error_detail: row.get(9)?,
        event_id: row.get(10)?,
        msg_id: msg_id.map(MessageId::from_trusted),
        source_ip: row.get(12)?,
        received_at: timestamp(row, 13)?,
    })
}

fn json_column<T: serde::de::DeserializeOwned>(row: &Row, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
    })
}

fn source_conflict(error: rusqlite::Error, source: &Source) -> StoreError {
    match unique_violation(&error) {
        Some(columns) if columns.contains("uid") => StoreError::Conflict(format!(
            "a source with uid {:?} already exists",
            source.uid.as_deref().unwrap_or_default()
        )),
        Some(_) => StoreError::Conflict(format!("a source with id {} already exists", source.id)),
        None => map(error),
    }
}

#[cfg(test)]
mod tests {
    use super::{INSERT_REQUEST, REQUEST_COLUMNS};

    #[test]
    fn the_request_insert_names_the_columns_reads_return() {
        let columns = REQUEST_COLUMNS.replace("r.", "");
        assert!(
            INSERT_REQUEST.contains(&format!("({columns})")),
            "{INSERT_REQUEST}"
        );
    }
}
