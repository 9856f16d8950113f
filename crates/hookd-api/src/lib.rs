//! hookd's HTTP API: the Svix-compatible send API under `/api/v1`, with bearer-token auth,
//! idempotency keys, `{"code","detail"}` errors and a request body limit; the inbound
//! `/in/{source}` route; and the web pages under `/ui/` (`ui`), clients of the same API.
//!
//! **API boundary:** handlers reach data only through `hookd_store::Store`. Wire types
//! (`…In`/`…Out`) live here and nowhere else; the domain records come from `hookd-core`.
//!
//! `router(state)` builds the routes so tests can call them with `oneshot`; `service`
//! wraps them with path normalisation (a trailing slash is accepted everywhere).

pub mod app_access;
mod app_cache;
pub mod application;
pub mod attempt;
pub mod auth;
pub mod bin;
pub mod bin_access;
pub mod bin_capture;
pub mod destinations;
pub mod endpoint;
mod error;
pub mod event_type;
mod events;
pub mod extract;
mod health;
mod idempotency;
pub mod inbound_request;
mod inbound_state;
pub mod ingest;
pub mod message;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod precheck;
pub mod replay;
mod schema;
pub mod send_example;
pub mod source;
mod state;
pub mod stream;
pub mod ui;
mod validate;
mod wire;

use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::{any, delete, get, post};
use axum::{middleware, Router, ServiceExt};
use tower::Layer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};

pub use bin::BinConfig;
pub use error::{ApiError, ApiResult, ErrorBody};
pub use inbound_state::InboundConfig;
pub use state::{ApiConfig, AppState, StreamConfig};

/// The routes, without path normalisation.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/app", get(application::list).post(application::create))
        .route(
            "/app/{app_id}",
            get(application::get)
                .put(application::upsert)
                .patch(application::patch)
                .delete(application::delete),
        )
        .route(
            "/app/{app_id}/endpoint",
            get(endpoint::list).post(endpoint::create),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}",
            get(endpoint::get)
                .put(endpoint::upsert)
                .patch(endpoint::patch)
                .delete(endpoint::delete),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/secret",
            get(endpoint::get_secret),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
            post(endpoint::rotate_secret),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/headers",
            get(endpoint::get_headers)
                .put(endpoint::put_headers)
                .patch(endpoint::patch_headers),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/stats",
            get(endpoint::stats),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/recover",
            post(endpoint::recover),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/replay-missing",
            post(replay::replay_missing),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/send-example",
            post(send_example::send_example),
        )
        .route(
            "/event-type",
            get(event_type::list).post(event_type::create),
        )
        .route(
            "/event-type/{name}",
            get(event_type::get)
                .put(event_type::upsert)
                .patch(event_type::patch)
                .delete(event_type::delete),
        )
        .route(
            "/app/{app_id}/msg",
            get(message::list).post(message::create),
        )
        .route("/app/{app_id}/msg/{msg_id}", get(message::get))
        .route(
            "/app/{app_id}/msg/precheck/active",
            post(precheck::precheck_active),
        )
        .route(
            "/app/{app_id}/attempt/endpoint/{endpoint_id}",
            get(attempt::list_by_endpoint),
        )
        .route(
            "/app/{app_id}/attempt/msg/{msg_id}",
            get(attempt::list_by_message),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
            get(attempt::get),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
            delete(attempt::expunge_content),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/endpoint",
            get(destinations::list_attempted_destinations),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/msg",
            get(destinations::list_attempted_messages),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
            post(attempt::resend),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/content",
            delete(message::expunge_content),
        )
        .route("/source", get(source::list).post(source::create))
        .route(
            "/source/{source_id}",
            get(source::get).put(source::update).delete(source::delete),
        )
        .route("/source/{source_id}/secret", get(source::get_secret))
        .route("/source/{source_id}/request", get(inbound_request::list))
        .route("/source/{source_id}/stream", get(stream::source_stream))
        .route(
            "/source/{source_id}/request/{request_id}",
            get(inbound_request::get),
        )
        .route(
            "/source/{source_id}/request/{request_id}/replay",
            post(inbound_request::replay),
        )
        .route(
            "/auth/app-portal-access/{app_id}",
            post(app_access::app_portal_access),
        )
        .route("/bin", get(bin::list).post(bin::create))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    // Live routes: app tokens as well as the admin token, CORS for browsers, and no
    // idempotency layer (nothing is written).
    let live = Router::new()
        // OPTIONS is routed so the CORS layer sees preflights (the 405 fallback set on
        // the whole router would otherwise answer them without CORS headers).
        .route(
            "/app/{app_id}/stream",
            get(stream::stream).options(preflight),
        )
        .route(
            "/app/{app_id}/events",
            get(stream::events).options(preflight),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            app_access::require_app_access,
        ))
        .layer(cors_layer(&state.config.streams.cors_allowed_origins));
    // A bin's routes: the admin token, or a token of that bin (which only reads; the
    // handlers that change or send refuse it).
    let bins = Router::new()
        .route(
            "/bin/{bin_id}",
            get(bin::get).delete(bin::delete).options(preflight),
        )
        .route(
            "/bin/{bin_id}/request",
            get(bin::list_requests).options(preflight),
        )
        .route(
            "/bin/{bin_id}/request/{request_id}",
            get(bin::get_request).options(preflight),
        )
        .route(
            "/bin/{bin_id}/request/{request_id}/replay",
            post(bin::replay),
        )
        .route(
            "/bin/{bin_id}/stream",
            get(stream::bin_stream).options(preflight),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            bin_access::require_bin_access,
        ))
        .layer(cors_layer(&state.config.streams.cors_allowed_origins));
    let public = Router::new()
        .route("/health", get(health::health))
        .route("/openapi.json", get(openapi::serve));
    // Providers call /in without a token; the source's body limit replaces the global one.
    let inbound = Router::new()
        .route(
            "/in/{source_id}",
            any(ingest::receive).layer(DefaultBodyLimit::disable()),
        )
        // Bins read the body themselves: the start up to their limit, the rest counted.
        .route(
            "/b/{bin_id}",
            any(bin_capture::capture).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/b/{bin_id}/{*rest}",
            any(bin_capture::capture_below).layer(DefaultBodyLimit::disable()),
        );
    Router::new()
        .nest("/api/v1", api.merge(live).merge(bins).merge(public))
        .route("/metrics", get(metrics::serve))
        .merge(inbound)
        .merge(ui::routes())
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            health::panicked,
        ))
        .with_state(state)
}

/// A preflight the CORS layer did not answer (no allowed origin): nothing to allow.
async fn preflight() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}

/// CORS for the live routes: the configured origins (`*` for any), GET with the headers
/// EventSource and fetch send. No origins: no CORS headers, so browsers keep to the same
/// origin.
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("last-event-id"),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}

/// The router with trailing slashes trimmed before routing.
pub fn service(
    state: AppState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<
    NormalizePath<Router>,
    std::net::SocketAddr,
> {
    let app = NormalizePathLayer::trim_trailing_slash().layer(router(state));
    ServiceExt::<Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(app)
}
