//! `/api/v1/app`: applications (tenants), with Svix's `get_if_exists` and upsert.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hookd_core::ids::ApplicationId;
use hookd_core::model::Application;
use hookd_store::{Ordering, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Path, Query};
use crate::pagination::{page_request, ListResponse};
use crate::state::AppState;
use crate::validate;
use crate::wire::{self, patch_field};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    #[schema(value_type = validate::Name)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<validate::AppUid>)]
    pub uid: Option<String>,
    #[serde(
        default,
        alias = "rateLimit",
        deserialize_with = "wire::integral::option"
    )]
    #[schema(maximum = 65535)]
    pub throttle_rate: Option<u16>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    #[serde(default)]
    #[schema(value_type = Option<validate::Name>)]
    pub name: Option<String>,
    #[schema(value_type = Option<validate::AppUid>)]
    #[serde(default, deserialize_with = "patch_field")]
    pub uid: Option<Option<String>>,
    #[schema(value_type = Option<u16>, maximum = 65535)]
    #[serde(
        default,
        deserialize_with = "wire::integral::patch",
        alias = "rateLimit"
    )]
    pub throttle_rate: Option<Option<u16>>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    pub id: String,
    pub uid: Option<String>,
    pub name: String,
    pub throttle_rate: Option<u16>,
    pub metadata: BTreeMap<String, String>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: hookd_core::Timestamp,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: hookd_core::Timestamp,
}

impl From<Application> for ApplicationOut {
    fn from(app: Application) -> Self {
        Self {
            id: app.id.to_string(),
            uid: app.uid,
            name: app.name,
            throttle_rate: app.throttle_rate,
            metadata: app.metadata,
            created_at: app.created_at,
            updated_at: app.updated_at,
        }
    }
}

impl ApplicationIn {
    pub(crate) fn validate(&self) -> Result<(), ApiError> {
        validate::not_blank("name", &self.name)?;
        if let Some(uid) = &self.uid {
            check_uid(uid)?;
        }
        Ok(())
    }

    pub(crate) fn into_application(self) -> Application {
        let now = wire::now();
        let (ms, random) = wire::id_parts(now);
        Application {
            id: ApplicationId::new(ms, random),
            uid: self.uid,
            name: self.name,
            throttle_rate: self.throttle_rate,
            metadata: self.metadata,
            created_at: now,
            updated_at: now,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/app",
    tag = "application",
    params(("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query)),
    responses((status = 200, body = ListResponse<ApplicationOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    query: Query,
) -> ApiResult<Json<ListResponse<ApplicationOut>>> {
    let page = page_request(&query, Ordering::Ascending)?;
    let found = state.store.list_applications(&page).await?;
    Ok(Json(ListResponse::from_page(found, ApplicationOut::from)))
}

#[utoipa::path(
    post,
    path = "/api/v1/app",
    tag = "application",
    params(("get_if_exists" = Option<bool>, Query)),
    request_body = ApplicationIn,
    responses((status = 201, body = ApplicationOut), (status = 200, description = "get_if_exists found it", body = ApplicationOut), (status = 409, body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    query: Query,
    ApiJson(input): ApiJson<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    input.validate()?;
    if query.flag("get_if_exists")? {
        if let Some(uid) = &input.uid {
            match state.store.application(uid).await {
                Ok(existing) => return Ok((StatusCode::OK, Json(existing.into()))),
                Err(StoreError::NotFound(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    let app = input.into_application();
    state.store.create_application(&app).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}",
    tag = "application",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid")),
    responses((status = 200, body = ApplicationOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(state.store.application(&app_id).await?.into()))
}

/// PUT: replaces an application, or creates it (201) with the path as its uid.
#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}",
    tag = "application",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid")),
    request_body = ApplicationIn,
    responses((status = 200, body = ApplicationOut), (status = 201, body = ApplicationOut), (status = 409, description = "uid taken", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn upsert(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(input): ApiJson<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    input.validate()?;
    match state.store.application(&app_id).await {
        Ok(mut app) => {
            app.name = input.name;
            app.uid = input.uid.or(app.uid);
            app.throttle_rate = input.throttle_rate;
            app.metadata = input.metadata;
            app.updated_at = wire::now();
            state.store.update_application(&app).await?;
            state.applications.clear();
            Ok((StatusCode::OK, Json(app.into())))
        }
        Err(StoreError::NotFound(_)) => {
            // The path names what is created, even when the body gives the uid.
            validate::name_like("app_id", &app_id)?;
            let mut input = input;
            if input.uid.is_none() && !ApplicationId::looks_like(&app_id) {
                check_uid(&app_id)?;
                input.uid = Some(app_id);
            }
            let app = input.into_application();
            state.store.create_application(&app).await?;
            Ok((StatusCode::CREATED, Json(app.into())))
        }
        Err(error) => Err(error.into()),
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}",
    tag = "application",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid")),
    request_body = ApplicationPatch,
    responses((status = 200, body = ApplicationOut), (status = 409, description = "uid taken", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn patch(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(input): ApiJson<ApplicationPatch>,
) -> ApiResult<Json<ApplicationOut>> {
    let mut app = state.store.application(&app_id).await?;
    if let Some(name) = input.name {
        validate::not_blank("name", &name)?;
        app.name = name;
    }
    if let Some(uid) = input.uid {
        if let Some(uid) = &uid {
            // The uid it already has stays acceptable (the operational webhooks'
            // application keeps its reserved one).
            if app.uid.as_deref() != Some(uid.as_str()) {
                check_uid(uid)?;
            }
        }
        app.uid = uid;
    }
    if let Some(rate) = input.throttle_rate {
        app.throttle_rate = rate;
    }
    if let Some(metadata) = input.metadata {
        app.metadata = metadata;
    }
    app.updated_at = wire::now();
    state.store.update_application(&app).await?;
    state.applications.clear();
    Ok(Json(app.into()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}",
    tag = "application",
    params(("app_id" = validate::IdOrUid, Path, description = "Application id or uid")),
    responses((status = 204, description = "Deleted with everything it owned"), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = state.store.application(&app_id).await?;
    state.store.delete_application(&app.id).await?;
    state.applications.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// A uid is [`validate::name_like`], not shaped like an application id (which would make
/// lookups ambiguous), and not the operational webhooks' application's, which no other
/// may take ([`validate::AppUid`] states the same).
fn check_uid(uid: &str) -> Result<(), ApiError> {
    validate::name_like("uid", uid)?;
    if ApplicationId::looks_like(uid) {
        return Err(ApiError::field(
            "uid",
            "must not look like an application id (app_…)",
        ));
    }
    if uid == hookd_core::operational::OPERATIONAL_APP_UID {
        return Err(ApiError::field(
            "uid",
            "is reserved for hookd's operational webhooks application",
        ));
    }
    Ok(())
}
