//! The OpenAPI document of the API, generated from the handlers' and DTOs' annotations
//! and served at `/api/v1/openapi.json`. A copy is checked in at `openapi.json` in the
//! workspace root; a test fails when the two differ (`HOOKD_UPDATE_OPENAPI=1 cargo test
//! -p hookd-api openapi` rewrites it).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{
    app_access, application, attempt, bin, bin_capture, endpoint, event_type, inbound_request,
    ingest, message, source, stream,
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
        event_type::list, event_type::create, event_type::get, event_type::upsert,
        event_type::patch, event_type::delete,
        message::create, message::list, message::get,
        attempt::list_by_endpoint, attempt::list_by_message, attempt::get, attempt::resend,
        message::expunge_content,
        source::list, source::create, source::get, source::update, source::delete,
        source::get_secret, inbound_request::list, inbound_request::get, inbound_request::replay,
        stream::source::source_stream,
        ingest::receive,
        app_access::app_portal_access,
        bin::create, bin::list, bin::get, bin::delete, bin::list_requests, bin::get_request,
        bin::replay, bin_capture::capture,
    ),
    modifiers(&BearerAuth)
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

/// The OpenAPI document, as pretty JSON text with a trailing newline.
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document always serialises");
    text.push('\n');
    text
}

pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document always serialises"))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
