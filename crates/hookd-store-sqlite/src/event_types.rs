//! Event types: the global catalogue of dot-named events and their schemas.
//!
//! **Invariant:** a name identifies one event type; a clash is `Conflict` naming it.
//! Archived types are listed only when asked for.

use hookd_core::model::EventType;
use hookd_store::{Page, PageRequest, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};

use crate::applications::found_if;
use crate::error::{map, unique_violation, DbResultExt};
use crate::pagination::Listing;
use crate::rows::{event_type_from_row, millis, opt_json, EVENT_TYPE_COLUMNS};

pub(crate) fn create_event_type(
    connection: &Connection,
    event_type: &EventType,
) -> StoreResult<()> {
    let sql = "INSERT INTO event_types (name, description, archived, deprecated, schemas, \
        group_name, feature_flags, created_at, updated_at) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    connection
        .prepare_cached(sql)
        .db()?
        .execute(params![
            event_type.name,
            event_type.description,
            event_type.archived,
            event_type.deprecated,
            opt_json(event_type.schemas.as_ref())?,
            event_type.group_name,
            opt_json(event_type.feature_flags.as_ref())?,
            millis(event_type.created_at),
            millis(event_type.updated_at),
        ])
        .map_err(|error| match unique_violation(&error) {
            Some(_) => StoreError::Conflict(format!(
                "an event type named {:?} already exists",
                event_type.name
            )),
            None => map(error),
        })?;
    Ok(())
}

pub(crate) fn event_type(connection: &Connection, name: &str) -> StoreResult<EventType> {
    let sql = format!("SELECT {EVENT_TYPE_COLUMNS} FROM event_types v WHERE v.name = ?1");
    connection
        .prepare_cached(&sql)
        .db()?
        .query_row([name], |row| event_type_from_row(row, 0))
        .optional()
        .db()?
        .ok_or(StoreError::NotFound("event type"))
}

/// The listing of event types by name, archived ones only if `include_archived`.
pub(crate) fn event_types_listing(include_archived: bool) -> Listing {
    let listing = Listing::new(
        format!("SELECT {EVENT_TYPE_COLUMNS} FROM event_types v"),
        "v.name",
    );
    if include_archived {
        listing
    } else {
        listing.filter("v.archived = 0", Vec::new())
    }
}

pub(crate) fn list_event_types(
    connection: &Connection,
    page: &PageRequest,
    include_archived: bool,
) -> StoreResult<Page<EventType>> {
    event_types_listing(include_archived).fetch(
        connection,
        page,
        |row| event_type_from_row(row, 0),
        |event_type| event_type.name.clone(),
    )
}

pub(crate) fn update_event_type(
    connection: &Connection,
    event_type: &EventType,
) -> StoreResult<()> {
    let sql = "UPDATE event_types SET description = ?2, archived = ?3, deprecated = ?4, \
        schemas = ?5, group_name = ?6, feature_flags = ?7, updated_at = ?8 WHERE name = ?1";
    let changed = connection
        .prepare_cached(sql)
        .db()?
        .execute(params![
            event_type.name,
            event_type.description,
            event_type.archived,
            event_type.deprecated,
            opt_json(event_type.schemas.as_ref())?,
            event_type.group_name,
            opt_json(event_type.feature_flags.as_ref())?,
            millis(event_type.updated_at),
        ])
        .db()?;
    found_if(changed, "event type")
}

pub(crate) fn delete_event_type(connection: &Connection, name: &str) -> StoreResult<()> {
    let changed = connection
        .prepare_cached("DELETE FROM event_types WHERE name = ?1")
        .db()?
        .execute([name])
        .db()?;
    found_if(changed, "event type")
}
