//! Event types: the global catalogue of dot-named events and their schemas.
//!
//! **Invariant:** a name identifies one event type (its primary key); a clash is
//! `Conflict` naming it. Archived types are listed only when asked for.

use hookd_core::model::EventType;
use hookd_store::{Page, PageRequest, StoreError, StoreResult};
use tokio_postgres::types::Json;

use crate::db::{found_if, Db};
use crate::pagination::Listing;
use crate::rows::{event_type_from_row, EVENT_TYPE_COLUMNS};

pub(crate) async fn create_event_type(db: &Db, event_type: &EventType) -> StoreResult<()> {
    let sql = "INSERT INTO event_types (name, description, archived, deprecated, schemas, \
        group_name, feature_flags, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    db.execute_naming(
        sql,
        &[
            &event_type.name,
            &event_type.description,
            &event_type.archived,
            &event_type.deprecated,
            &event_type.schemas.as_ref().map(Json),
            &event_type.group_name,
            &event_type.feature_flags.as_ref().map(Json),
            &event_type.created_at,
            &event_type.updated_at,
        ],
        |_| {
            StoreError::Conflict(format!(
                "an event type named {:?} already exists",
                event_type.name
            ))
        },
    )
    .await?;
    Ok(())
}

pub(crate) async fn event_type(db: &Db, name: &str) -> StoreResult<EventType> {
    let sql = format!("SELECT {EVENT_TYPE_COLUMNS} FROM event_types v WHERE v.name = $1");
    match db.query_opt(&sql, &[&name]).await? {
        Some(row) => event_type_from_row(&row),
        None => Err(StoreError::NotFound("event type")),
    }
}

/// The listing of event types by name, archived ones only if `include_archived`.
pub(crate) fn event_types_listing(include_archived: bool) -> Listing {
    let select = format!("SELECT {EVENT_TYPE_COLUMNS} FROM event_types v");
    let mut listing = Listing::new(select, "v.name");
    if !include_archived {
        listing.filter("NOT v.archived");
    }
    listing
}

pub(crate) async fn list_event_types(
    db: &Db,
    page: &PageRequest,
    include_archived: bool,
) -> StoreResult<Page<EventType>> {
    event_types_listing(include_archived)
        .fetch(db, page, event_type_from_row, |event_type| {
            event_type.name.clone()
        })
        .await
}

pub(crate) async fn update_event_type(db: &Db, event_type: &EventType) -> StoreResult<()> {
    let sql = "UPDATE event_types SET description = $2, archived = $3, deprecated = $4, \
        schemas = $5, group_name = $6, feature_flags = $7, updated_at = $8 WHERE name = $1";
    let changed = db
        .execute(
            sql,
            &[
                &event_type.name,
                &event_type.description,
                &event_type.archived,
                &event_type.deprecated,
                &event_type.schemas.as_ref().map(Json),
                &event_type.group_name,
                &event_type.feature_flags.as_ref().map(Json),
                &event_type.updated_at,
            ],
        )
        .await?;
    found_if(changed, "event type")
}

pub(crate) async fn delete_event_type(db: &Db, name: &str) -> StoreResult<()> {
    let changed = db
        .execute("DELETE FROM event_types WHERE name = $1", &[&name])
        .await?;
    found_if(changed, "event type")
}
