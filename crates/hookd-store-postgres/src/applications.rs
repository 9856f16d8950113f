//! Applications and endpoints: the tenant records and the URLs they subscribe.
//!
//! **Invariant:** every endpoint statement is scoped by `app_id`, so no call reaches an
//! endpoint through another application. Uniqueness is enforced by the schema alone
//! (no read-then-write race): a clash surfaces as `Conflict` naming the uid, and an
//! endpoint for a missing application as `NotFound("application")` via its foreign key.

use deadpool_postgres::{Client, Transaction};
use hookd_core::ids::{ApplicationId, EndpointId};
use hookd_core::model::{Application, Endpoint};
use hookd_store::{Page, PageRequest, StoreError, StoreResult};
use tokio_postgres::types::Json;

use crate::db::{found_if, retry_transient, Db};
use crate::pagination::Listing;
use crate::rows::{
    application_from_row, endpoint_from_row, rate, APPLICATION_COLUMNS, ENDPOINT_COLUMNS,
};

// ---- applications ----

pub(crate) async fn create_application(db: &Db, application: &Application) -> StoreResult<()> {
    let sql = "INSERT INTO applications \
        (id, uid, name, throttle_rate, metadata, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    db.execute_naming(
        sql,
        &[
            &application.id.as_str(),
            &application.uid,
            &application.name,
            &rate(application.throttle_rate),
            &Json(&application.metadata),
            &application.created_at,
            &application.updated_at,
        ],
        |constraint| application_conflict(constraint, application),
    )
    .await?;
    Ok(())
}

/// An application by id, or else by uid.
pub(crate) async fn application(db: &Db, id_or_uid: &str) -> StoreResult<Application> {
    let sql = format!(
        "SELECT {APPLICATION_COLUMNS} FROM applications a \
         WHERE a.id = $1 OR a.uid = $1 ORDER BY a.id = $1 DESC LIMIT 1"
    );
    match db.query_opt(&sql, &[&id_or_uid]).await? {
        Some(row) => application_from_row(&row),
        None => Err(StoreError::NotFound("application")),
    }
}

/// The listing of every application.
pub(crate) fn applications_listing() -> Listing {
    let select = format!("SELECT {APPLICATION_COLUMNS} FROM applications a");
    Listing::new(select, "a.id")
}

pub(crate) async fn list_applications(
    db: &Db,
    page: &PageRequest,
) -> StoreResult<Page<Application>> {
    applications_listing()
        .fetch(db, page, application_from_row, |application| {
            application.id.to_string()
        })
        .await
}

pub(crate) async fn update_application(db: &Db, application: &Application) -> StoreResult<()> {
    let sql = "UPDATE applications SET uid = $2, name = $3, throttle_rate = $4, metadata = $5, \
        updated_at = $6 WHERE id = $1";
    let changed = db
        .execute_naming(
            sql,
            &[
                &application.id.as_str(),
                &application.uid,
                &application.name,
                &rate(application.throttle_rate),
                &Json(&application.metadata),
                &application.updated_at,
            ],
            |constraint| application_conflict(constraint, application),
        )
        .await?;
    found_if(changed, "application")
}

/// Deletes the application; its endpoints, messages, deliveries and attempts go with it.
///
/// The application row is locked first, so no endpoint or message can be added to it
/// meanwhile (their foreign-key checks wait on the lock); then its endpoints go with their
/// attempts as in [`delete_endpoint`], and the application's cascade takes the rest.
pub(crate) async fn delete_application(db: &Db, app_id: &ApplicationId) -> StoreResult<()> {
    retry_transient(db, || async {
        let mut client = db.client().await?;
        Ok(delete_application_once(&mut client, app_id).await)
    })
    .await
    .and_then(|found| found_if(found, "application"))
}

async fn delete_application_once(
    client: &mut Client,
    app_id: &ApplicationId,
) -> Result<u64, tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    let found = transaction
        .execute(
            "SELECT 1 FROM applications WHERE id = $1 FOR UPDATE",
            &[&app_id.as_str()],
        )
        .await?;
    if found == 0 {
        return Ok(0);
    }
    delete_endpoints_and_attempts(&transaction, app_id, None).await?;
    let deleted = transaction
        .execute(
            "DELETE FROM applications WHERE id = $1",
            &[&app_id.as_str()],
        )
        .await?;
    transaction.commit().await?;
    Ok(deleted)
}

fn application_conflict(constraint: &str, application: &Application) -> StoreError {
    if constraint == "applications_uid_key" {
        StoreError::Conflict(format!(
            "an application with uid {:?} already exists",
            application.uid.as_deref().unwrap_or_default()
        ))
    } else {
        StoreError::Conflict(format!(
            "an application with id {} already exists",
            application.id
        ))
    }
}

// ---- endpoints ----

pub(crate) async fn create_endpoint(db: &Db, endpoint: &Endpoint) -> StoreResult<()> {
    let sql = "INSERT INTO endpoints (id, app_id, uid, url, description, disabled, event_types, \
        channels, throttle_rate, metadata, headers, secret, retired_secrets, signature_scheme, \
        signature_header, failing_since, created_at, updated_at, forward_source_headers) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
        $19)";
    db.execute_naming(
        sql,
        &[
            &endpoint.id.as_str(),
            &endpoint.app_id.as_str(),
            &endpoint.uid,
            &endpoint.url,
            &endpoint.description,
            &endpoint.disabled,
            &endpoint.event_types.as_ref().map(Json),
            &endpoint.channels.as_ref().map(Json),
            &rate(endpoint.throttle_rate),
            &Json(&endpoint.metadata),
            &Json(&endpoint.headers),
            &endpoint.secret,
            &Json(&endpoint.retired_secrets),
            &endpoint.signature_scheme.as_str(),
            &endpoint.signature_header,
            &endpoint.failing_since,
            &endpoint.created_at,
            &endpoint.updated_at,
            &endpoint.forward_source_headers,
        ],
        |constraint| endpoint_conflict(constraint, endpoint),
    )
    .await?;
    Ok(())
}

/// An endpoint of the application by id, or else by uid.
pub(crate) async fn endpoint(
    db: &Db,
    app_id: &ApplicationId,
    id_or_uid: &str,
) -> StoreResult<Endpoint> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoints e \
         WHERE e.app_id = $1 AND (e.id = $2 OR e.uid = $2) ORDER BY e.id = $2 DESC LIMIT 1"
    );
    match db.query_opt(&sql, &[&app_id.as_str(), &id_or_uid]).await? {
        Some(row) => endpoint_from_row(&row),
        None => Err(StoreError::NotFound("endpoint")),
    }
}

/// The listing of one application's endpoints.
pub(crate) fn endpoints_listing(app_id: &ApplicationId) -> Listing {
    let select = format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints e");
    let mut listing = Listing::new(select, "e.id");
    let app = listing.bind(app_id.to_string());
    listing.filter(format!("e.app_id = {app}"));
    listing
}

pub(crate) async fn list_endpoints(
    db: &Db,
    app_id: &ApplicationId,
    page: &PageRequest,
) -> StoreResult<Page<Endpoint>> {
    endpoints_listing(app_id)
        .fetch(db, page, endpoint_from_row, |endpoint| {
            endpoint.id.to_string()
        })
        .await
}

pub(crate) async fn update_endpoint(db: &Db, endpoint: &Endpoint) -> StoreResult<()> {
    let sql = "UPDATE endpoints SET uid = $3, url = $4, description = $5, disabled = $6, \
        event_types = $7, channels = $8, throttle_rate = $9, metadata = $10, headers = $11, \
        secret = $12, retired_secrets = $13, signature_scheme = $14, signature_header = $15, \
        failing_since = $16, updated_at = $17, forward_source_headers = $18 \
        WHERE app_id = $1 AND id = $2";
    let changed = db
        .execute_naming(
            sql,
            &[
                &endpoint.app_id.as_str(),
                &endpoint.id.as_str(),
                &endpoint.uid,
                &endpoint.url,
                &endpoint.description,
                &endpoint.disabled,
                &endpoint.event_types.as_ref().map(Json),
                &endpoint.channels.as_ref().map(Json),
                &rate(endpoint.throttle_rate),
                &Json(&endpoint.metadata),
                &Json(&endpoint.headers),
                &endpoint.secret,
                &Json(&endpoint.retired_secrets),
                &endpoint.signature_scheme.as_str(),
                &endpoint.signature_header,
                &endpoint.failing_since,
                &endpoint.updated_at,
                &endpoint.forward_source_headers,
            ],
            |constraint| endpoint_conflict(constraint, endpoint),
        )
        .await?;
    found_if(changed, "endpoint")
}

/// Deletes the endpoint with its deliveries and attempts, in one transaction.
pub(crate) async fn delete_endpoint(
    db: &Db,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
) -> StoreResult<()> {
    retry_transient(db, || async {
        let mut client = db.client().await?;
        Ok(delete_endpoint_once(&mut client, app_id, endpoint_id).await)
    })
    .await
    .and_then(|found| found_if(found, "endpoint"))
}

async fn delete_endpoint_once(
    client: &mut Client,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
) -> Result<u64, tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    let deleted = delete_endpoints_and_attempts(&transaction, app_id, Some(endpoint_id)).await?;
    transaction.commit().await?;
    Ok(deleted)
}

/// Deletes the application's endpoints (only `endpoint_id`, when given), which cascades
/// to their deliveries, then their attempts; returns how many endpoints went.
///
/// N.B.: the order is what keeps attempts from outliving their endpoint (attempts have no
/// foreign keys, see migration 0010). An outcome inserts its attempt only while it holds
/// a lock on the delivery, so the cascade waits for every outcome in flight to commit;
/// the attempts statement runs after, with a snapshot that sees those attempts. An
/// outcome that comes later finds its delivery gone and writes none.
async fn delete_endpoints_and_attempts(
    transaction: &Transaction<'_>,
    app_id: &ApplicationId,
    endpoint_id: Option<&EndpointId>,
) -> Result<u64, tokio_postgres::Error> {
    let gone = transaction
        .query(
            "DELETE FROM endpoints WHERE app_id = $1 AND ($2::text IS NULL OR id = $2) \
             RETURNING id",
            &[&app_id.as_str(), &endpoint_id.map(EndpointId::as_str)],
        )
        .await?;
    let ids: Vec<&str> = gone.iter().map(|row| row.get(0)).collect();
    if !ids.is_empty() {
        transaction
            .execute("DELETE FROM attempts WHERE endpoint_id = ANY($1)", &[&ids])
            .await?;
    }
    Ok(u64::try_from(ids.len()).unwrap_or(u64::MAX))
}

fn endpoint_conflict(constraint: &str, endpoint: &Endpoint) -> StoreError {
    if constraint == "endpoints_uid_key" {
        StoreError::Conflict(format!(
            "an endpoint with uid {:?} already exists in this application",
            endpoint.uid.as_deref().unwrap_or_default()
        ))
    } else {
        StoreError::Conflict(format!(
            "an endpoint with id {} already exists",
            endpoint.id
        ))
    }
}
