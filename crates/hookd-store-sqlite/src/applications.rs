//! Applications and endpoints: the tenant records and the URLs they subscribe.
//!
//! **Invariant:** every endpoint query is scoped by `app_id`, so no call reaches an
//! endpoint through another application; uid clashes surface as `Conflict` naming the uid.

use hookd_core::ids::{ApplicationId, EndpointId};
use hookd_core::model::{Application, Endpoint};
use hookd_store::{Page, PageRequest, StoreError, StoreResult};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{map, unique_violation, DbResultExt};
use crate::pagination::Listing;
use crate::rows::{
    application_from_row, endpoint_from_row, millis, opt_json, opt_millis, to_json,
    APPLICATION_COLUMNS, ENDPOINT_COLUMNS,
};

// ---- applications ----

pub(crate) fn create_application(
    connection: &Connection,
    application: &Application,
) -> StoreResult<()> {
    let sql = "INSERT INTO applications \
        (id, uid, name, throttle_rate, metadata, created_at, updated_at) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    connection
        .prepare_cached(sql)
        .db()?
        .execute(params![
            application.id.as_str(),
            application.uid,
            application.name,
            application.throttle_rate,
            to_json(&application.metadata)?,
            millis(application.created_at),
            millis(application.updated_at),
        ])
        .map_err(|error| application_conflict(error, application))?;
    Ok(())
}

pub(crate) fn application(connection: &Connection, id_or_uid: &str) -> StoreResult<Application> {
    let by_id = format!("SELECT {APPLICATION_COLUMNS} FROM applications a WHERE a.id = ?1");
    let by_uid = format!("SELECT {APPLICATION_COLUMNS} FROM applications a WHERE a.uid = ?1");
    for sql in [by_id, by_uid] {
        let found = connection
            .prepare_cached(&sql)
            .db()?
            .query_row([id_or_uid], |row| application_from_row(row, 0))
            .optional()
            .db()?;
        if let Some(application) = found {
            return Ok(application);
        }
    }
    Err(StoreError::NotFound("application"))
}

/// The listing of every application.
pub(crate) fn applications_listing() -> Listing {
    Listing::new(
        format!("SELECT {APPLICATION_COLUMNS} FROM applications a"),
        "a.id",
    )
}

pub(crate) fn list_applications(
    connection: &Connection,
    page: &PageRequest,
) -> StoreResult<Page<Application>> {
    applications_listing().fetch(
        connection,
        page,
        |row| application_from_row(row, 0),
        |application| application.id.to_string(),
    )
}

pub(crate) fn update_application(
    connection: &Connection,
    application: &Application,
) -> StoreResult<()> {
    let sql = "UPDATE applications SET uid = ?2, name = ?3, throttle_rate = ?4, metadata = ?5, \
        updated_at = ?6 WHERE id = ?1";
    let changed = connection
        .prepare_cached(sql)
        .db()?
        .execute(params![
            application.id.as_str(),
            application.uid,
            application.name,
            application.throttle_rate,
            to_json(&application.metadata)?,
            millis(application.updated_at),
        ])
        .map_err(|error| application_conflict(error, application))?;
    found_if(changed, "application")
}

pub(crate) fn delete_application(
    connection: &Connection,
    app_id: &ApplicationId,
) -> StoreResult<()> {
    let changed = connection
        .prepare_cached("DELETE FROM applications WHERE id = ?1")
        .db()?
        .execute([app_id.as_str()])
        .db()?;
    found_if(changed, "application")
}

/// Fails with `NotFound("application")` unless the application exists.
pub(crate) fn require_application(
    connection: &Connection,
    app_id: &ApplicationId,
) -> StoreResult<()> {
    let exists = connection
        .prepare_cached("SELECT 1 FROM applications WHERE id = ?1")
        .db()?
        .exists([app_id.as_str()])
        .db()?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound("application"))
    }
}

fn application_conflict(error: rusqlite::Error, application: &Application) -> StoreError {
    match unique_violation(&error) {
        Some(columns) if columns.contains("uid") => StoreError::Conflict(format!(
            "an application with uid {:?} already exists",
            application.uid.as_deref().unwrap_or_default()
        )),
        Some(_) => StoreError::Conflict(format!(
            "an application with id {} already exists",
            application.id
        )),
        None => map(error),
    }
}

// ---- endpoints ----

pub(crate) fn create_endpoint(connection: &Connection, endpoint: &Endpoint) -> StoreResult<()> {
    require_application(connection, &endpoint.app_id)?;
    let sql = "INSERT INTO endpoints (id, app_id, uid, url, description, disabled, event_types, \
        channels, throttle_rate, metadata, headers, secret, retired_secrets, signature_scheme, \
        signature_header, failing_since, created_at, updated_at, forward_source_headers) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
        ?19)";
    connection
        .prepare_cached(sql)
        .db()?
        .execute(params![
            endpoint.id.as_str(),
            endpoint.app_id.as_str(),
            endpoint.uid,
            endpoint.url,
            endpoint.description,
            endpoint.disabled,
            opt_json(endpoint.event_types.as_ref())?,
            opt_json(endpoint.channels.as_ref())?,
            endpoint.throttle_rate,
            to_json(&endpoint.metadata)?,
            to_json(&endpoint.headers)?,
            endpoint.secret,
            to_json(&endpoint.retired_secrets)?,
            endpoint.signature_scheme.as_str(),
            endpoint.signature_header,
            opt_millis(endpoint.failing_since),
            millis(endpoint.created_at),
            millis(endpoint.updated_at),
            endpoint.forward_source_headers,
        ])
        .map_err(|error| endpoint_conflict(error, endpoint))?;
    Ok(())
}

pub(crate) fn endpoint(
    connection: &Connection,
    app_id: &ApplicationId,
    id_or_uid: &str,
) -> StoreResult<Endpoint> {
    let by_id =
        format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints e WHERE e.app_id = ?1 AND e.id = ?2");
    let by_uid =
        format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints e WHERE e.app_id = ?1 AND e.uid = ?2");
    for sql in [by_id, by_uid] {
        let found = connection
            .prepare_cached(&sql)
            .db()?
            .query_row([app_id.as_str(), id_or_uid], |row| {
                endpoint_from_row(row, 0)
            })
            .optional()
            .db()?;
        if let Some(endpoint) = found {
            return Ok(endpoint);
        }
    }
    Err(StoreError::NotFound("endpoint"))
}

/// The listing of one application's endpoints.
pub(crate) fn endpoints_listing(app_id: &ApplicationId) -> Listing {
    Listing::new(
        format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints e"),
        "e.id",
    )
    .filter("e.app_id = ?", vec![Value::Text(app_id.to_string())])
}

pub(crate) fn list_endpoints(
    connection: &Connection,
    app_id: &ApplicationId,
    page: &PageRequest,
) -> StoreResult<Page<Endpoint>> {
    endpoints_listing(app_id).fetch(
        connection,
        page,
        |row| endpoint_from_row(row, 0),
        |endpoint| endpoint.id.to_string(),
    )
}

pub(crate) fn active_endpoints(
    connection: &Connection,
    app_id: &ApplicationId,
) -> StoreResult<Vec<Endpoint>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoints e \
         WHERE e.app_id = ?1 AND e.disabled = 0 ORDER BY e.id"
    );
    let mut statement = connection.prepare_cached(&sql).db()?;
    let endpoints = statement
        .query_map([app_id.as_str()], |row| endpoint_from_row(row, 0))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    Ok(endpoints)
}

pub(crate) fn update_endpoint(connection: &Connection, endpoint: &Endpoint) -> StoreResult<()> {
    let sql = "UPDATE endpoints SET uid = ?3, url = ?4, description = ?5, disabled = ?6, \
        event_types = ?7, channels = ?8, throttle_rate = ?9, metadata = ?10, headers = ?11, \
        secret = ?12, retired_secrets = ?13, signature_scheme = ?14, signature_header = ?15, \
        failing_since = ?16, updated_at = ?17, forward_source_headers = ?18 \
        WHERE app_id = ?1 AND id = ?2";
    let changed = connection
        .prepare_cached(sql)
        .db()?
        .execute(params![
            endpoint.app_id.as_str(),
            endpoint.id.as_str(),
            endpoint.uid,
            endpoint.url,
            endpoint.description,
            endpoint.disabled,
            opt_json(endpoint.event_types.as_ref())?,
            opt_json(endpoint.channels.as_ref())?,
            endpoint.throttle_rate,
            to_json(&endpoint.metadata)?,
            to_json(&endpoint.headers)?,
            endpoint.secret,
            to_json(&endpoint.retired_secrets)?,
            endpoint.signature_scheme.as_str(),
            endpoint.signature_header,
            opt_millis(endpoint.failing_since),
            millis(endpoint.updated_at),
            endpoint.forward_source_headers,
        ])
        .map_err(|error| endpoint_conflict(error, endpoint))?;
    found_if(changed, "endpoint")
}

pub(crate) fn delete_endpoint(
    connection: &Connection,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
) -> StoreResult<()> {
    let changed = connection
        .prepare_cached("DELETE FROM endpoints WHERE app_id = ?1 AND id = ?2")
        .db()?
        .execute([app_id.as_str(), endpoint_id.as_str()])
        .db()?;
    found_if(changed, "endpoint")
}

/// Fails with `NotFound("endpoint")` unless the endpoint exists in the application.
pub(crate) fn require_endpoint(
    connection: &Connection,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
) -> StoreResult<()> {
    let exists = connection
        .prepare_cached("SELECT 1 FROM endpoints WHERE app_id = ?1 AND id = ?2")
        .db()?
        .exists([app_id.as_str(), endpoint_id.as_str()])
        .db()?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound("endpoint"))
    }
}

fn endpoint_conflict(error: rusqlite::Error, endpoint: &Endpoint) -> StoreError {
    match unique_violation(&error) {
        Some(columns) if columns.contains("uid") => StoreError::Conflict(format!(
            "an endpoint with uid {:?} already exists in this application",
            endpoint.uid.as_deref().unwrap_or_default()
        )),
        Some(_) => StoreError::Conflict(format!(
            "an endpoint with id {} already exists",
            endpoint.id
        )),
        None => map(error),
    }
}

/// `Ok` when a statement changed a row, `NotFound(what)` when it matched none.
pub(crate) fn found_if(changed: usize, what: &'static str) -> StoreResult<()> {
    if changed == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}
