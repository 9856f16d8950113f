//! `/api/v1/source`: sources, the receive side's provider connections (admin auth).
//!
//! A source names a provider, the secrets that verify its requests and the application
//! its events become messages in; providers call `POST /in/{id or uid}` (see `ingest`).
//! As Svix does for endpoint secrets, the source views never show secrets: they are read
//! with `GET /api/v1/source/{source}/secret`, so that a listing can be shown or logged.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hookd_core::ids::SourceId;
use hookd_core::inbound::{discord, GenericKind, GenericScheme, Provider};
use hookd_core::signature::validate_verifying_secret;
use hookd_core::source::{Source, SourceSettings};
use hookd_store::{Ordering, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Path, Query};
use crate::pagination::{page_request, ListResponse};
use crate::state::AppState;
use crate::validate;
use crate::wire;

/// Largest per-source body limit, in bytes (64 MiB).
pub const MAX_SOURCE_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// A source as created or replaced.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceIn {
    #[schema(value_type = validate::Name)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<validate::SourceUid>)]
    pub uid: Option<String>,
    /// `stripe`, `github`, `shopify`, `razorpay`, `slack`, `twilio`, `standard-webhooks`,
    /// `svix`, `paddle`, `square`, `discord`, `meta`, `gitlab` or `generic`.
    #[schema(value_type = ProviderName)]
    pub provider: String,
    /// The current secret (a signing secret, or the token for token providers). On PUT,
    /// leaving out both `secret` and `secrets` keeps the secrets in force; on POST one of
    /// them is needed.
    #[serde(default)]
    #[schema(value_type = Option<SourceSecret>)]
    pub secret: Option<String>,
    /// More secrets valid at the same time, for rotation.
    #[serde(default)]
    #[schema(value_type = Option<Vec<SourceSecret>>)]
    pub secrets: Option<Vec<String>>,
    /// The application (id or uid) the source's events become messages in; an unknown
    /// one answers 404.
    pub app_id: String,
    /// Seconds a signed timestamp may be from now, 1 to 604800 (7 days). Default: 300.
    #[serde(default, deserialize_with = "wire::integral::option")]
    #[schema(minimum = 1, maximum = 604800)]
    pub tolerance_secs: Option<i64>,
    /// The scheme of a `generic` source (and of no other).
    #[serde(default)]
    #[schema(value_type = Option<GenericSchemeIn>)]
    pub generic: Option<GenericScheme>,
    /// Largest body accepted, in bytes (at most 64 MiB). Default: the server's body limit.
    #[serde(default, deserialize_with = "wire::integral::option")]
    #[schema(minimum = 1, maximum = 67108864)]
    pub body_limit: Option<usize>,
    /// Requests per second accepted (bursts of as many). Default: no per-source limit.
    #[serde(default, deserialize_with = "wire::integral::option")]
    #[schema(minimum = 1, maximum = 4294967295_u64)]
    pub rate_limit: Option<u32>,
    /// `meta` sources: the verify token of Meta's `hub.challenge` subscription handshake.
    #[serde(default)]
    pub verify_token: Option<String>,
}

/// A source as shown (never with its secrets).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceOut {
    pub id: String,
    pub uid: Option<String>,
    pub name: String,
    pub provider: String,
    pub app_id: String,
    /// The path providers call: `/in/{id}` (the uid works too).
    pub ingest_path: String,
    /// How many secrets are in force.
    pub secret_count: usize,
    pub tolerance_secs: i64,
    #[schema(value_type = Option<Object>)]
    pub generic: Option<GenericScheme>,
    pub body_limit: Option<usize>,
    pub rate_limit: Option<u32>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: hookd_core::Timestamp,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: hookd_core::Timestamp,
}

/// A source's secrets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceSecretOut {
    /// The current secret.
    pub secret: String,
    /// Every secret in force, the current one first.
    pub secrets: Vec<String>,
}

impl From<Source> for SourceOut {
    fn from(source: Source) -> Self {
        let tolerance_secs = source.verifier_config().tolerance_secs;
        Self {
            ingest_path: format!("/in/{}", source.id),
            id: source.id.to_string(),
            uid: source.uid,
            name: source.name,
            provider: source.provider.as_str().to_owned(),
            app_id: source.app_id.to_string(),
            secret_count: source.secrets.len(),
            tolerance_secs,
            generic: source.settings.generic,
            body_limit: source.settings.body_limit,
            rate_limit: source.settings.rate_limit,
            created_at: source.created_at,
            updated_at: source.updated_at,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/source",
    tag = "source",
    params(("limit" = Option<usize>, Query, minimum = 1, maximum = 250, description = "1 to 250, default 50"), ("iterator" = Option<String>, Query), ("order" = Option<crate::pagination::Order>, Query)),
    responses((status = 200, body = ListResponse<SourceOut>), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    query: Query,
) -> ApiResult<Json<ListResponse<SourceOut>>> {
    let page = page_request(&query, Ordering::Ascending)?;
    let found = state.store.list_sources(&page).await?;
    Ok(Json(ListResponse::from_page(found, SourceOut::from)))
}

#[utoipa::path(
    post,
    path = "/api/v1/source",
    tag = "source",
    request_body = SourceIn,
    responses((status = 201, body = SourceOut), (status = 409, description = "uid taken", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "No application `appId`", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SourceIn>,
) -> ApiResult<(StatusCode, Json<SourceOut>)> {
    let now = wire::now();
    let (ms, random) = wire::id_parts(now);
    let source = build(&state, input, SourceId::new(ms, random), None, now).await?;
    state.store.create_source(&source).await?;
    state.inbound.forget_sources();
    Ok((StatusCode::CREATED, Json(source.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/source/{source_id}",
    tag = "source",
    params(("source_id" = validate::IdOrUid, Path, description = "Source id or uid")),
    responses((status = 200, body = SourceOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
) -> ApiResult<Json<SourceOut>> {
    Ok(Json(state.store.source(&source_id).await?.into()))
}

#[utoipa::path(
    put,
    path = "/api/v1/source/{source_id}",
    tag = "source",
    params(("source_id" = validate::IdOrUid, Path, description = "Source id or uid")),
    request_body = SourceIn,
    responses((status = 200, body = SourceOut), (status = 409, description = "uid taken, or the secrets the source keeps (the body gives none) do not suit the provider asked for", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "No such source, or no application `appId`", body = ErrorBody), (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
    ApiJson(input): ApiJson<SourceIn>,
) -> ApiResult<Json<SourceOut>> {
    let existing = state.store.source(&source_id).await?;
    let mut source = build(
        &state,
        input,
        existing.id.clone(),
        Some(existing.secrets),
        wire::now(),
    )
    .await?;
    source.created_at = existing.created_at;
    state.store.update_source(&source).await?;
    state.inbound.forget_sources();
    Ok(Json(source.into()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/source/{source_id}",
    tag = "source",
    params(("source_id" = validate::IdOrUid, Path, description = "Source id or uid")),
    responses((status = 204, description = "Deleted with its stored requests"), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
) -> ApiResult<StatusCode> {
    let source = state.store.source(&source_id).await?;
    state.store.delete_source(&source.id).await?;
    state.inbound.forget_sources();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/source/{source_id}/secret",
    tag = "source",
    params(("source_id" = validate::IdOrUid, Path, description = "Source id or uid")),
    responses((status = 200, body = SourceSecretOut), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_secret(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
) -> ApiResult<Json<SourceSecretOut>> {
    let source = state.store.source(&source_id).await?;
    Ok(Json(SourceSecretOut {
        secret: source.secrets.first().cloned().unwrap_or_default(),
        secrets: source.secrets,
    }))
}

/// Validates `input` into a source record; `kept_secrets` are used when the input names
/// none (a PUT that does not rotate).
async fn build(
    state: &AppState,
    input: SourceIn,
    id: SourceId,
    kept_secrets: Option<Vec<String>>,
    now: hookd_core::Timestamp,
) -> Result<Source, ApiError> {
    validate::not_blank("name", &input.name)?;
    if let Some(uid) = &input.uid {
        validate::name_like("uid", uid)?;
        if SourceId::looks_like(uid) {
            return Err(ApiError::field(
                "uid",
                "must not look like a source id (src_…)",
            ));
        }
    }
    let provider = Provider::parse(&input.provider).ok_or_else(|| {
        let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        ApiError::field(
            "provider",
            format!(
                "unknown provider {:?}; expected one of {}",
                input.provider,
                known.join(", ")
            ),
        )
    })?;
    let mut secrets: Vec<String> = input.secret.into_iter().collect();
    for secret in input.secrets.unwrap_or_default() {
        if !secrets.contains(&secret) {
            secrets.push(secret);
        }
    }
    let keeps_secrets = secrets.is_empty();
    if keeps_secrets {
        secrets = kept_secrets.unwrap_or_default();
    }
    if secrets.is_empty() {
        return Err(ApiError::field(
            "secret",
            format!("provider {provider} needs a secret to verify requests"),
        ));
    }
    for (index, secret) in secrets.iter().enumerate() {
        let field = if index == 0 {
            "secret".to_owned()
        } else {
            format!("secrets[{}]", index - 1)
        };
        if secret.is_empty() {
            return Err(ApiError::field(&field, "must not be empty"));
        }
        check_secret(provider, secret).map_err(|error| {
            if keeps_secrets {
                // The request is well formed: what it asks for conflicts with the
                // secrets the source has, as for an endpoint moved to a scheme its
                // secret does not suit.
                ApiError::Conflict(format!(
                    "provider: the source's {field} does not fit the {provider} provider ({error}); send suitable secrets with the PUT"
                ))
            } else {
                ApiError::field(&field, error)
            }
        })?;
    }
    if let Some(tolerance) = input.tolerance_secs {
        if !(1..=7 * 24 * 3600).contains(&tolerance) {
            return Err(ApiError::field(
                "toleranceSecs",
                "must be between 1 and 604800 seconds",
            ));
        }
    }
    if let Some(limit) = input.body_limit {
        if limit == 0 || limit > MAX_SOURCE_BODY_LIMIT {
            return Err(ApiError::field(
                "bodyLimit",
                format!("must be between 1 and {MAX_SOURCE_BODY_LIMIT} bytes"),
            ));
        }
    }
    if input.rate_limit == Some(0) {
        return Err(ApiError::field(
            "rateLimit",
            "must be at least 1 request per second",
        ));
    }
    match (&input.generic, provider) {
        (None, Provider::Generic) => {
            return Err(ApiError::field(
                "generic",
                "provider generic needs its scheme, such as {\"kind\": \"hmac\"} (SHA-256, hex, in x-signature unless given)",
            ))
        }
        (Some(scheme), Provider::Generic) => check_generic(scheme)?,
        (Some(_), _) => {
            return Err(ApiError::field(
                "generic",
                format!("only a generic source takes a scheme, not {provider}"),
            ))
        }
        (None, _) => {}
    }
    let app = match state.store.application(&input.app_id).await {
        Ok(app) => app,
        // The body is well formed; what it names does not exist, as for a path.
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::NotFound(format!(
                "application {:?} (appId)",
                input.app_id
            )))
        }
        Err(error) => return Err(error.into()),
    };
    Ok(Source {
        id,
        uid: input.uid,
        name: input.name,
        app_id: app.id,
        provider,
        secrets,
        settings: SourceSettings {
            tolerance_secs: input.tolerance_secs,
            generic: input.generic,
            body_limit: input.body_limit,
            rate_limit: input.rate_limit,
            verify_token: input.verify_token,
        },
        created_at: now,
        updated_at: now,
    })
}

/// Checks the fields a generic scheme gives. Each may be left out for its default
/// (`GenericScheme` documents them): a basic-auth or API-key source needs none of the
/// HMAC fields.
fn check_generic(scheme: &GenericScheme) -> Result<(), ApiError> {
    if !matches!(
        scheme.algorithm.to_ascii_lowercase().as_str(),
        "" | "sha1" | "sha256" | "sha512"
    ) {
        return Err(ApiError::field(
            "generic.algorithm",
            format!(
                "expected sha1, sha256 or sha512, found {:?}",
                scheme.algorithm
            ),
        ));
    }
    if !matches!(
        scheme.encoding.to_ascii_lowercase().as_str(),
        "" | "hex" | "base64"
    ) {
        return Err(ApiError::field(
            "generic.encoding",
            format!("expected hex or base64, found {:?}", scheme.encoding),
        ));
    }
    if !scheme.header.is_empty() && scheme.header.trim().is_empty() {
        return Err(ApiError::field(
            "generic.header",
            "must be a header name (or left out for the default)",
        ));
    }
    // An HMAC template signs what the named headers carry; without the header there is
    // nothing to fill the placeholder with, and no request could be checked.
    let template = scheme.template.as_deref().unwrap_or_default();
    if scheme.kind == GenericKind::Hmac {
        for (placeholder, field, header) in [
            (
                "{timestamp}",
                "generic.timestampHeader",
                &scheme.timestamp_header,
            ),
            ("{id}", "generic.idHeader", &scheme.id_header),
        ] {
            if template.contains(placeholder) && header.is_none() {
                return Err(ApiError::field(
                    field,
                    format!("the template uses {placeholder}, so the header that carries it must be named"),
                ));
            }
        }
    }
    Ok(())
}

/// Whether a provider's secrets are Standard Webhooks secrets (checked when the source is
/// made) rather than strings used as they are.
fn takes_webhook_secrets(provider: Provider) -> bool {
    matches!(provider, Provider::StandardWebhooks | Provider::Svix)
}

/// Checks a secret the way `provider` will use it, so that a source is never stored
/// with one its verifier cannot use (`/in/{source}` would answer 500 `bad_source_config`).
fn check_secret(provider: Provider, secret: &str) -> Result<(), String> {
    if takes_webhook_secrets(provider) {
        validate_verifying_secret(secret).map_err(|error| error.to_string())
    } else if provider == Provider::Discord && !discord::is_public_key(secret) {
        Err(
            "a discord source's secret is the application's ed25519 public key, 64 hex characters"
                .to_owned(),
        )
    } else {
        Ok(())
    }
}

validate::rule_schema!(
    /// The `provider` values.
    ProviderName => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(Provider::ALL.map(Provider::as_str)))
        .build()
        .into()
);

validate::rule_schema!(
    /// A source's secret: not empty. `source_rules` adds what the provider needs.
    SourceSecret => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "A signing secret or token: any non-empty string; for standard-webhooks and svix sources a Standard Webhooks secret (`WebhookSecret`) or the sender's `whpk_` ed25519 public key.",
        ))
        .min_length(Some(1))
        .build()
        .into()
);

validate::rule_schema!(
    /// [`GenericScheme`] with what [`check_generic`] checks.
    GenericSchemeIn => generic_scheme_schema()
);

fn generic_scheme_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::AllOfBuilder;
    AllOfBuilder::new()
        .item(generic_scheme_fields())
        .item(placeholder_needs_its_header(
            "{timestamp}",
            "timestampHeader",
        ))
        .item(placeholder_needs_its_header("{id}", "idHeader"))
        .into()
}

/// [`check_generic`]'s rule that an HMAC template using `placeholder` names the header
/// that carries it: another kind, or a template without it, or the header.
fn placeholder_needs_its_header(
    placeholder: &str,
    header: &str,
) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    let escaped = placeholder.replace('{', r"\{").replace('}', r"\}");
    AnyOfBuilder::new()
        .description(Some(format!(
            "An hmac template that uses `{placeholder}` needs `{header}`."
        )))
        .item(
            ObjectBuilder::new()
                .property(
                    "kind",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["basic-auth", "api-key"])),
                )
                .required("kind"),
        )
        .item(
            ObjectBuilder::new().property(
                "template",
                AnyOfBuilder::new()
                    .item(ObjectBuilder::new().schema_type(Type::Null))
                    .item(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            // `[\s\S]` is any character in every regex engine.
                            .pattern(Some(format!(r"^(?![\s\S]*{escaped})"))),
                    ),
            ),
        )
        .item(
            ObjectBuilder::new()
                .property(header, ObjectBuilder::new().schema_type(Type::String))
                .required(header),
        )
        .into()
}

fn generic_scheme_fields() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let optional_string =
        || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "How a generic source checks requests. Every field may be left out for its default.",
        ))
        .property(
            "kind",
            string()
                .description(Some(
                    "What is checked: an HMAC signature (default), HTTP basic auth (each secret is `user:password`), or an API key in a header.",
                ))
                .enum_values(Some(["hmac", "basic-auth", "api-key"])),
        )
        .property(
            "algorithm",
            string()
                .description(Some("sha1, sha256 or sha512, any case (hmac). Default: sha256."))
                .pattern(Some("^(?:[Ss][Hh][Aa](?:1|256|512))?$")),
        )
        .property(
            "encoding",
            string()
                .description(Some("hex or base64, any case (hmac). Default: hex."))
                .pattern(Some("^(?:[Hh][Ee][Xx]|[Bb][Aa][Ss][Ee]64)?$")),
        )
        .property(
            "header",
            // Left empty for the default, else a name (not only whitespace).
            string()
                .pattern(Some(format!("^$|{}", validate::not_blank_pattern())))
                .description(Some(
                    "The header that carries the signature, credentials or key. Default: x-signature (hmac), authorization (basic-auth), x-api-key (api-key).",
                )),
        )
        .property(
            "prefix",
            optional_string().description(Some(
                "A prefix in front of the signature or key in the header, such as `sha256=` or `Bearer `.",
            )),
        )
        .property(
            "template",
            optional_string().description(Some(
                "What is signed: `{body}` by default; may use `{timestamp}` and `{id}`.",
            )),
        )
        .property(
            "timestampHeader",
            optional_string().description(Some(
                "The header carrying `{timestamp}` (Unix seconds, checked against the tolerance).",
            )),
        )
        .property(
            "idHeader",
            optional_string().description(Some(
                "The header carrying `{id}`, also the event id for deduplication.",
            )),
        )
        .build()
        .into()
}

/// What `SourceIn` states across its fields (added to its schema by `openapi`), one
/// branch per kind of provider: a `generic` source has its scheme and no other source
/// has one; standard-webhooks and svix sources have Standard Webhooks secrets.
pub(crate) fn source_rules() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
    use utoipa::openapi::{Ref, RefOr, Schema};
    let providers = |filter: fn(Provider) -> bool| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                Provider::ALL
                    .into_iter()
                    .filter(|provider| filter(*provider))
                    .map(Provider::as_str)
                    .collect::<Vec<_>>(),
            ))
    };
    let null = || ObjectBuilder::new().schema_type(Type::Null);
    let webhook_secret = || {
        RefOr::from(
            AnyOfBuilder::new()
                .item(Ref::from_schema_name("WebhookSecret"))
                .item(whpk_public_key_schema()),
        )
    };
    let discord_key = || RefOr::from(discord_public_key());
    let with_secrets = |filter: fn(Provider) -> bool, secret: &dyn Fn() -> RefOr<Schema>| {
        ObjectBuilder::new()
            .property("provider", providers(filter))
            .property("generic", null())
            .property("secret", AnyOfBuilder::new().item(null()).item(secret()))
            .property(
                "secrets",
                AnyOfBuilder::new()
                    .item(null())
                    .item(ArrayBuilder::new().items(secret())),
            )
            .required("provider")
    };
    AnyOfBuilder::new()
        .description(Some(
            "By provider: a generic source has its `generic` scheme (and no other source one); standard-webhooks and svix sources take Standard Webhooks secrets, and discord sources the application's public key.",
        ))
        .item(
            ObjectBuilder::new()
                .property(
                    "provider",
                    providers(|p| {
                        p != Provider::Generic && p != Provider::Discord && !takes_webhook_secrets(p)
                    }),
                )
                .property("generic", null())
                .required("provider"),
        )
        .item(with_secrets(takes_webhook_secrets, &webhook_secret))
        .item(with_secrets(|p| p == Provider::Discord, &discord_key))
        .item(
            ObjectBuilder::new()
                .property("provider", providers(|p| p == Provider::Generic))
                .property("generic", Ref::from_schema_name("GenericSchemeIn"))
                .required("provider")
                .required("generic"),
        )
        .into()
}

/// [`check_secret`]'s other form for standard-webhooks and svix sources: a `whpk_` public
/// key, which verifies `v1a` signatures.
fn whpk_public_key_schema() -> utoipa::openapi::Schema {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "`whpk_` and the base64 of the sender's 32-byte ed25519 public key (padding optional): verifies `v1a` signatures. A key that is not a point of the curve is refused (422): the pattern cannot tell.",
        ))
        .pattern(Some(WHPK_PATTERN))
        .build()
        .into()
}

/// A `whpk_` key as the decoder reads it: 32 bytes of standard base64, the unused bits of
/// the last character zero.
const WHPK_PATTERN: &str = "^whpk_(?:[A-Za-z0-9+/]{4}){10}[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=?$";

/// [`check_secret`] for discord: the application's ed25519 public key, in hex.
fn discord_public_key() -> utoipa::openapi::Schema {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "The Discord application's ed25519 public key: 64 hex characters (surrounding whitespace is taken too). A key that is not a point of the curve is refused (422): the pattern cannot tell.",
        ))
        .pattern(Some("^[0-9A-Fa-f]{64}$"))
        .build()
        .into()
}

/// What the create body needs beyond `SourceIn` (`openapi` states it on POST): a secret,
/// as `secret` or in `secrets`.
pub(crate) fn create_needs_a_secret() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
    AnyOfBuilder::new()
        .description(Some(
            "A new source needs a secret, as `secret` or in `secrets`.",
        ))
        .item(
            ObjectBuilder::new()
                .property("secret", ObjectBuilder::new().schema_type(Type::String))
                .required("secret"),
        )
        .item(
            ObjectBuilder::new()
                .property("secrets", ArrayBuilder::new().min_items(Some(1)))
                .required("secrets"),
        )
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use hookd_core::signature::{ed25519_public_key, generate_ed25519_secret};

    #[test]
    fn the_public_key_pattern_takes_what_the_check_takes() {
        let schema = serde_json::to_value(whpk_public_key_schema()).unwrap();
        let schema = jsonschema::validator_for(&schema).unwrap();
        let takes = |key: &str| schema.is_valid(&key.into());
        for seed in [[1; 32], [7; 32], [200; 32]] {
            let key = ed25519_public_key(&generate_ed25519_secret(seed)).unwrap();
            let unpadded = key.trim_end_matches('=');
            for key in [key.as_str(), unpadded] {
                assert!(takes(key), "{key}");
                validate_verifying_secret(key).unwrap();
            }
        }
        let standard = base64::engine::general_purpose::STANDARD;
        for length in [31, 33, 64] {
            let key = format!("whpk_{}", standard.encode(vec![3; length]));
            assert!(!takes(&key), "{key}");
            assert!(validate_verifying_secret(&key).is_err(), "{key}");
        }
        // A signing secret is not a public key, and neither is the prefix alone.
        for key in ["whpk_", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
            assert!(!takes(key), "{key}");
        }
    }

    #[test]
    fn standard_webhooks_sources_take_public_keys_and_other_providers_need_not() {
        let key = ed25519_public_key(&generate_ed25519_secret([5; 32])).unwrap();
        check_secret(Provider::StandardWebhooks, &key).unwrap();
        check_secret(Provider::Svix, &key).unwrap();
        check_secret(Provider::Svix, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert!(check_secret(Provider::Svix, "whpk_AAAA").is_err());
        assert!(check_secret(Provider::StandardWebhooks, "plain").is_err());
        check_secret(Provider::Stripe, "whpk_AAAA").unwrap();
    }
}
