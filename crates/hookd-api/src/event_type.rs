//! `/api/v1/event-type`: event types and their versioned JSON Schemas.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hookd_core::model::EventType;
use hookd_store::{Ordering, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Path, Query};
use crate::pagination::{page_request, ListResponse};
use crate::schema::check_schemas;
use crate::state::AppState;
use crate::validate;
use crate::wire::{self, patch_field};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeIn {
    #[schema(value_type = validate::NameLike)]
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::EventTypeSchemas>)]
    pub schemas: Option<Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = Option<validate::NameLike>)]
    pub group_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<validate::NameLike>>)]
    pub feature_flags: Option<Vec<String>>,
}

/// PUT body: like [`EventTypeIn`] without the name (it is in the path).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeUpsertIn {
    pub description: String,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::EventTypeSchemas>)]
    pub schemas: Option<Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = Option<validate::NameLike>)]
    pub group_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<validate::NameLike>>)]
    pub feature_flags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypePatch {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub deprecated: Option<bool>,
    #[schema(value_type = Option<crate::schema::EventTypeSchemas>)]
    #[serde(default, deserialize_with = "patch_field")]
    pub schemas: Option<Option<Map<String, Value>>>,
    #[schema(value_type = Option<validate::NameLike>)]
    #[serde(default, deserialize_with = "patch_field")]
    pub group_name: Option<Option<String>>,
    #[schema(value_type = Option<Vec<validate::NameLike>>)]
    #[serde(default, deserialize_with = "patch_field")]
    pub feature_flags: Option<Option<Vec<String>>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Map<String, Value>>,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: hookd_core::Timestamp,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: hookd_core::Timestamp,
}

impl From<EventType> for EventTypeOut {
    fn from(event_type: EventType) -> Self {
        Self {
            name: event_type.name,
            description: event_type.description,
            archived: event_type.archived,
            deprecated: event_type.deprecated,
            schemas: event_type.schemas,
            group_name: event_type.group_name,
            feature_flags: event_type.feature_flags,
            created_at: event_type.created_at,
            updated_at: event_type.updated_at,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/event-type",
    tag = "event-type",
    params(("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query), ("include_archived" = Option<bool>, Query), ("with_content" = Option<bool>, Query, description = "Whether to include the schemas; default true")),
    responses((status = 200, body = ListResponse<EventTypeOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    query: Query,
) -> ApiResult<Json<ListResponse<EventTypeOut>>> {
    let page = page_request(&query, Ordering::Ascending)?;
    let include_archived = query.flag("include_archived")?;
    let with_content = query.flag_or("with_content", true)?;
    let found = state
        .store
        .list_event_types(&page, include_archived)
        .await?;
    Ok(Json(ListResponse::from_page(found, |event_type| {
        let mut out = EventTypeOut::from(event_type);
        if !with_content {
            out.schemas = None;
        }
        out
    })))
}

#[utoipa::path(
    post,
    path = "/api/v1/event-type",
    tag = "event-type",
    request_body = EventTypeIn,
    responses((status = 201, body = EventTypeOut), (status = 409, body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    validate::name_like("name", &input.name)?;
    let event_type = build(
        input.name,
        EventTypeUpsertIn {
            description: input.description,
            archived: input.archived,
            deprecated: input.deprecated,
            schemas: input.schemas,
            group_name: input.group_name,
            feature_flags: input.feature_flags,
        },
    )?;
    state.store.create_event_type(&event_type).await?;
    state.schemas.invalidate(&event_type.name);
    Ok((StatusCode::CREATED, Json(event_type.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/event-type/{name}",
    tag = "event-type",
    params(("name" = validate::NameLike, Path)),
    responses((status = 200, body = EventTypeOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    Ok(Json(state.store.event_type(&name).await?.into()))
}

#[utoipa::path(
    put,
    path = "/api/v1/event-type/{name}",
    tag = "event-type",
    params(("name" = validate::NameLike, Path)),
    request_body = EventTypeUpsertIn,
    responses((status = 200, body = EventTypeOut), (status = 201, body = EventTypeOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn upsert(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<EventTypeUpsertIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    validate::name_like("name", &name)?;
    let mut event_type = build(name, input)?;
    let status = match state.store.event_type(&event_type.name).await {
        Ok(existing) => {
            event_type.created_at = existing.created_at;
            state.store.update_event_type(&event_type).await?;
            StatusCode::OK
        }
        Err(StoreError::NotFound(_)) => {
            state.store.create_event_type(&event_type).await?;
            StatusCode::CREATED
        }
        Err(error) => return Err(error.into()),
    };
    state.schemas.invalidate(&event_type.name);
    Ok((status, Json(event_type.into())))
}

#[utoipa::path(
    patch,
    path = "/api/v1/event-type/{name}",
    tag = "event-type",
    params(("name" = validate::NameLike, Path)),
    request_body = EventTypePatch,
    responses((status = 200, body = EventTypeOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn patch(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<EventTypePatch>,
) -> ApiResult<Json<EventTypeOut>> {
    let mut event_type = state.store.event_type(&name).await?;
    if let Some(description) = input.description {
        event_type.description = description;
    }
    if let Some(archived) = input.archived {
        event_type.archived = archived;
    }
    if let Some(deprecated) = input.deprecated {
        event_type.deprecated = deprecated;
    }
    if let Some(schemas) = input.schemas {
        if let Some(schemas) = &schemas {
            check_schemas(schemas)?;
        }
        event_type.schemas = schemas;
    }
    if let Some(group_name) = input.group_name {
        if let Some(group) = &group_name {
            validate::name_like("groupName", group)?;
        }
        event_type.group_name = group_name;
    }
    if let Some(flags) = input.feature_flags {
        if let Some(flags) = &flags {
            validate::each("featureFlags", flags, validate::name_like)?;
        }
        event_type.feature_flags = flags;
    }
    event_type.updated_at = wire::now();
    state.store.update_event_type(&event_type).await?;
    state.schemas.invalidate(&event_type.name);
    Ok(Json(event_type.into()))
}

/// DELETE archives the event type, as Svix does; `?expunge=true` removes it for good.
#[utoipa::path(
    delete,
    path = "/api/v1/event-type/{name}",
    tag = "event-type",
    params(("name" = validate::NameLike, Path), ("expunge" = Option<bool>, Query)),
    responses((status = 204, description = "Archived, or removed with expunge=true"), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Query,
) -> ApiResult<StatusCode> {
    let mut event_type = state.store.event_type(&name).await?;
    if query.flag("expunge")? {
        state.store.delete_event_type(&name).await?;
    } else {
        event_type.archived = true;
        event_type.updated_at = wire::now();
        state.store.update_event_type(&event_type).await?;
    }
    state.schemas.invalidate(&name);
    Ok(StatusCode::NO_CONTENT)
}

fn build(name: String, input: EventTypeUpsertIn) -> Result<EventType, ApiError> {
    if let Some(schemas) = &input.schemas {
        check_schemas(schemas)?;
    }
    if let Some(group) = &input.group_name {
        validate::name_like("groupName", group)?;
    }
    if let Some(flags) = &input.feature_flags {
        validate::each("featureFlags", flags, validate::name_like)?;
    }
    let now = wire::now();
    Ok(EventType {
        name,
        description: input.description,
        archived: input.archived,
        deprecated: input.deprecated,
        schemas: input.schemas,
        group_name: input.group_name,
        feature_flags: input.feature_flags,
        created_at: now,
        updated_at: now,
    })
}
