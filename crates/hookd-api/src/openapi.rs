//! The OpenAPI document of the API, generated from the handlers' and DTOs' annotations
//! and served at `/api/v1/openapi.json`. A copy is checked in at `openapi.json` in the
//! workspace root; a test fails when the two differ (`HOOKD_UPDATE_OPENAPI=1 cargo test
//! -p hookd-api openapi` rewrites it).
//!
//! Besides the annotations, modifiers add what no single handler owns: the answers of
//! the shared extractors and error mapping ([`SharedResponses`]), the rules that tie
//! one field of a body to another ([`CrossFieldRules`]), and the links from an answer
//! that carries an id to the operations that take it ([`IdLinks`]).
//!
//! **Invariant:** the document states every rule that can refuse a well-typed value, and
//! the statuses the shared code answers, so that a request it calls valid is refused
//! only for what depends on stored data (a payload against its event type's schema, a
//! rotated key against the endpoint's scheme, a conflict) or what no pattern can tell (an
//! ed25519 key that is no point of the curve, a key pair whose halves do not belong
//! together; the schemas' descriptions say so). schemathesis checks this in
//! `crates/hookd/tests/it/peers.rs`.

use axum::Json;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::AllOfBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Schema};
use utoipa::{Modify, OpenApi};

mod links;

use links::IdLinks;

use crate::{
    app_access, application, attempt, bin, bin_capture, destinations, endpoint, event_type,
    inbound_request, ingest, message, precheck, replay, send_example, source, stream,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookd",
        description = "Self-hosted webhooks. The send API follows Svix's, so the official Svix SDKs work against it."
    ),
    paths(
        application::list, application::create, application::get, application::upsert,
        application::patch, application::delete,
        endpoint::list, endpoint::create, endpoint::get, endpoint::upsert, endpoint::patch,
        endpoint::delete, endpoint::get_secret, endpoint::rotate_secret, endpoint::get_headers,
        endpoint::put_headers, endpoint::patch_headers, endpoint::stats, endpoint::recover,
        replay::replay_missing, send_example::send_example,
        event_type::list, event_type::create, event_type::get, event_type::upsert,
        event_type::patch, event_type::delete,
        message::create, message::list, message::get, precheck::precheck_active,
        attempt::list_by_endpoint, attempt::list_by_message, attempt::get, attempt::resend,
        attempt::expunge_content, destinations::list_attempted_destinations,
        destinations::list_attempted_messages,
        message::expunge_content,
        source::list, source::create, source::get, source::update, source::delete,
        source::get_secret, inbound_request::list, inbound_request::get, inbound_request::replay,
        stream::source::source_stream,
        ingest::receive,
        app_access::app_portal_access,
        bin::create, bin::list, bin::get, bin::delete, bin::list_requests, bin::get_request,
        bin::replay, bin_capture::capture,
    ),
    // Schemas of path and query parameters, and the one schema that refers to itself
    // (bodies and answers bring the others).
    components(schemas(
        crate::validate::IdOrUid,
        crate::validate::NameLike,
        crate::pagination::Order,
        attempt::StatusCodeClass,
        inbound_request::InboundStatusName,
        crate::schema::JsonSchemaObject,
    )),
    modifiers(&BearerAuth, &SharedResponses, &CrossFieldRules, &IdLinks)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answers every operation can get from code it shares with the others, added where
/// the operation does not document that status itself:
///
/// - 400 where there is a request body: `extract::parse_json` refuses a body that is not
///   JSON, or is empty where one is needed (a body that cannot be read, too);
/// - 413 where there is a request body: the body limit (`ApiError::PayloadTooLarge`);
/// - 422 where there is a JSON body or a query parameter: JSON of the wrong shape, and
///   the typed query getters of `extract::Query`, name the field;
/// - 503 everywhere: every operation reads or writes the store (the admin and bin
///   routes' middleware do too), whose unavailability `error` maps to 503.
///
/// Operations with a `default` answer are left as they are: it covers every status.
///
/// Query strings never answer 400: `extract::Query` takes any query string, and a
/// parameter that does not parse is a 422.
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                // An operation that answers anything (`POST /b/{bin}`, whose bin sets the
                // status) documents its errors under `default`.
                if operation.responses.responses.contains_key("default") {
                    continue;
                }
                let body = operation.request_body.as_ref();
                let has_body = body.is_some();
                let json_body =
                    body.is_some_and(|body| body.content.contains_key("application/json"));
                let has_query = operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|parameter| matches!(parameter.parameter_in, ParameterIn::Query));
                if has_body {
                    add_error(
                        operation,
                        "400",
                        "Malformed request: the body is not JSON, or is missing where one is needed (`bad_request`)",
                    );
                    add_error(
                        operation,
                        "413",
                        "The body is over the server's size limit (`payload_too_large`)",
                    );
                }
                if json_body || has_query {
                    add_error(
                        operation,
                        "422",
                        "A field or query parameter is invalid; `detail` names it (`validation`)",
                    );
                }
                add_error(
                    operation,
                    "503",
                    "The database cannot take requests right now; nothing was written, retry later (`unavailable`)",
                );
            }
        }
    }
}

/// Documents `status` as an `ErrorBody` answer, unless the operation already does.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    let documented = operation.responses.responses.get_mut(status);
    match documented {
        Some(RefOr::T(response)) if response.description.is_empty() => {
            // Annotations that give only a body (`(status = 503, body = ErrorBody)`) get
            // the shared description.
            response.description = description.to_owned();
        }
        Some(_) => {}
        None => {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            operation
                .responses
                .responses
                .insert(status.to_owned(), RefOr::T(response));
        }
    }
}

/// Rules of a body that tie one field to another, which field annotations cannot say:
/// each is added to its schema with `allOf`, and stated next to the check it mirrors.
struct CrossFieldRules;

impl Modify for CrossFieldRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            for (name, rule) in [
                ("EndpointIn", endpoint::secret_fits_scheme()),
                ("SourceIn", source::source_rules()),
            ] {
                let schema = components
                    .schemas
                    .remove(name)
                    .unwrap_or_else(|| panic!("{name} is in the document"));
                components
                    .schemas
                    .insert(name.to_owned(), RefOr::T(all_of(schema, rule)));
            }
        }
        // Only the create body needs a secret: a PUT keeps the secrets in force.
        let create = openapi
            .paths
            .paths
            .get_mut("/api/v1/source")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut())
            .and_then(|body| body.content.get_mut("application/json"))
            .expect("POST /api/v1/source takes JSON");
        let body = create
            .schema
            .take()
            .expect("POST /api/v1/source has a schema");
        create.schema = Some(RefOr::T(all_of(body, source::create_needs_a_secret())));
    }
}

fn all_of(schema: RefOr<Schema>, rule: Schema) -> Schema {
    AllOfBuilder::new().item(schema).item(rule).into()
}

/// The OpenAPI document, as pretty JSON text with a trailing newline.
pub fn document() -> String {
    let mut text = serde_json::to_string_pretty(&document_value())
        .expect("the OpenAPI document always serialises");
    text.push('\n');
    text
}

pub async fn serve() -> Json<serde_json::Value> {
    Json(document_value())
}

/// The document as JSON, its fields in the order utoipa writes them (`serde_json`'s
/// `preserve_order`) but for the links' (`links::rename_link_fields`).
fn document_value() -> serde_json::Value {
    let mut document =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document always serialises");
    links::rename_link_fields(&mut document);
    document
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::{json, Value};

    fn document() -> Value {
        super::document_value()
    }

    /// Checks `body` against the schema at `pointer` in the document (`$ref`s resolved
    /// within it).
    fn valid(document: &Value, pointer: &str, body: Value) -> bool {
        let mut schema = document.clone();
        schema["$ref"] = Value::String(format!("#{pointer}"));
        jsonschema::validator_for(&schema).unwrap().is_valid(&body)
    }

    #[test]
    fn every_operation_documents_what_the_shared_code_answers() {
        let document = document();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = &operation["responses"];
                let has = |status: &str| responses.get(status).is_some();
                if has("default") {
                    continue;
                }
                assert!(has("503"), "{method} {path}");
                // `extract::Path` answers 404 for a parameter it cannot read.
                if path.contains('{') {
                    assert!(has("404"), "{method} {path}");
                }
                if let Some(body) = operation.get("requestBody") {
                    assert!(has("400") && has("413"), "{method} {path}");
                    if body["content"].get("application/json").is_some() {
                        assert!(has("422"), "{method} {path}");
                    }
                }
                assert!(
                    !responses["503"]["description"].as_str().unwrap().is_empty(),
                    "{method} {path}"
                );
            }
        }
    }

    #[test]
    fn the_rules_across_fields_are_in_the_document() {
        let document = document();
        let endpoint = "/components/schemas/EndpointIn";
        let url = "https://example.com/";
        assert!(!valid(
            &document,
            endpoint,
            json!({"url": url, "secret": "plain"})
        ));
        assert!(valid(
            &document,
            endpoint,
            json!({"url": url, "secret": "plain", "signatureScheme": "github"})
        ));
        assert!(valid(
            &document,
            endpoint,
            json!({"url": url, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
        ));
        let source = "/components/schemas/SourceIn";
        let base = json!({"name": "s", "appId": "acme", "secret": "x"});
        let with = |extra: Value| {
            let mut body = base.clone();
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        assert!(valid(
            &document,
            source,
            with(json!({"provider": "stripe"}))
        ));
        assert!(!valid(&document, source, with(json!({"provider": "svix"}))));
        assert!(!valid(
            &document,
            source,
            with(json!({"provider": "generic"}))
        ));
        assert!(valid(
            &document,
            source,
            with(json!({"provider": "generic", "generic": {"kind": "api-key"}}))
        ));
        assert!(!valid(
            &document,
            source,
            with(json!({"provider": "stripe", "generic": {}}))
        ));
        // A discord source's secret is a public key in hex.
        let key = "ab".repeat(32);
        for (secret, admitted) in [("x", false), (key.as_str(), true), (&key[1..], false)] {
            let discord =
                json!({"name": "s", "appId": "acme", "provider": "discord", "secret": secret});
            assert_eq!(valid(&document, source, discord), admitted, "{secret}");
        }
        // An hmac template that signs a timestamp or an id names the header carrying it.
        for (generic, admitted) in [
            (json!({"template": "{timestamp}.{body}"}), false),
            (
                json!({"template": "{timestamp}.{body}", "timestampHeader": "x-t"}),
                true,
            ),
            (json!({"kind": "hmac", "template": "a{id}"}), false),
            (json!({"template": "{id}", "idHeader": "x-id"}), true),
            (json!({"kind": "api-key", "template": "{id}"}), true),
            (json!({"template": "{body}"}), true),
            (json!({"template": null}), true),
        ] {
            let body = with(json!({"provider": "generic", "generic": generic}));
            assert_eq!(valid(&document, source, body.clone()), admitted, "{body}");
        }
        // A new source needs a secret; a PUT keeps the ones in force.
        let create = "/paths/~1api~1v1~1source/post/requestBody/content/application~1json/schema";
        let secretless = json!({"name": "s", "appId": "acme", "provider": "stripe"});
        assert!(!valid(&document, create, secretless.clone()));
        assert!(valid(&document, source, secretless));
    }

    #[test]
    fn optional_bodies_are_not_required() {
        let document = document();
        for (path, method) in [
            ("/api/v1/bin", "post"),
            ("/b/{bin_id}", "post"),
            ("/api/v1/auth/app-portal-access/{app_id}", "post"),
            (
                "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
                "post",
            ),
        ] {
            let body = &document["paths"][path][method]["requestBody"];
            assert_ne!(body["required"], true, "{method} {path}");
        }
    }

    #[test]
    fn checked_in_openapi_json_matches_the_code() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
        let generated = super::document();
        if std::env::var_os("HOOKD_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "openapi.json is out of date: run `HOOKD_UPDATE_OPENAPI=1 cargo test -p hookd-api openapi` and commit it"
        );
    }
}
