//! hookd's web pages, served under `/ui/` from files compiled into the binary
//! (`crates/hookd-api/ui/`): plain HTML, CSS and JavaScript, no build step, nothing
//! loaded from another host.
//!
//! - `GET /ui`: how to open a page (which token, which address).
//! - `GET /ui/app/{app}?token=hkat.…`: an application's live event view. The page is the
//!   same for every application: it reads the application and the token from its own
//!   address and follows `/api/v1/app/{app}/stream` like any other client, so the token
//!   is checked by the API and the page has no data path of its own.
//! - `GET /ui/assets/{file}`: the scripts and the stylesheet.
//!
//! **Invariant:** every page and asset is sent with a strict Content-Security-Policy (scripts, styles
//! and connections from this origin only, no inline script, no framing) and
//! `Referrer-Policy: no-referrer`, because page addresses carry a token.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::extract::Path;

/// The Content-Security-Policy of every page and asset.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One file compiled into the binary.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";

const INDEX_PAGE: Asset = Asset {
    name: "index.html",
    content_type: HTML,
    body: include_bytes!("../ui/index.html"),
};

const APP_PAGE: Asset = Asset {
    name: "app.html",
    content_type: HTML,
    body: include_bytes!("../ui/app.html"),
};

/// What `/ui/assets/{file}` serves.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../ui/style.css"),
    },
];

/// The `/ui` routes, to be merged at the root of the router. They need no state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(index))
        .route("/ui/app/{app_id}", get(application_page))
        .route("/ui/assets/{file}", get(asset))
}

async fn index() -> Response {
    respond(&INDEX_PAGE)
}

/// The live event view. The application is not looked up here: the page's stream request
/// is what the API authorises (and refuses with a reason the page shows).
async fn application_page(Path(_app_id): Path<String>) -> Response {
    respond(&APP_PAGE)
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|asset| asset.name == file)
        .map(respond)
        .ok_or_else(|| ApiError::NotFound(format!("page asset {file:?}")))
}

fn respond(asset: &Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages and assets change with the binary; a browser asks again (cheaply) each time.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = routes::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn pages_and_assets_carry_their_type_and_the_security_headers() {
        for (path, content_type, needle) in [
            ("/ui", HTML, "hookd token create --app"),
            ("/ui/app/app_2xYz", HTML, "/ui/assets/app.js"),
            ("/ui/app/acme", HTML, "id=\"connection\""),
            (
                "/ui/assets/app.js",
                "text/javascript; charset=utf-8",
                "new EventSource(",
            ),
            ("/ui/assets/style.css", "text/css; charset=utf-8", "#events"),
        ] {
            let (status, headers, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{path}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert!(body.contains(needle), "{path} lacks {needle:?}");
        }
    }

    #[tokio::test]
    async fn unknown_assets_are_a_json_404() {
        for path in ["/ui/assets/missing.js", "/ui/assets/..%2Fapp.html"] {
            let (status, _, body) = get(path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["code"], "not_found", "{path}");
        }
    }

    /// The pages load nothing from another host and run no inline script, which the
    /// policy would block anyway: a page that relied on either would be broken.
    #[test]
    fn pages_use_only_their_own_files() {
        for asset in [&INDEX_PAGE, &APP_PAGE].into_iter().chain(ASSETS) {
            let text = std::str::from_utf8(asset.body).unwrap();
            assert!(!text.contains("http://"), "{}", asset.name);
            assert!(!text.contains("https://"), "{}", asset.name);
            assert!(!text.contains("innerHTML"), "{}", asset.name);
            if asset.content_type == HTML {
                assert!(
                    !text.contains("<script>"),
                    "inline script in {}",
                    asset.name
                );
                assert!(
                    !has_inline_handler(text),
                    "inline handler in {}",
                    asset.name
                );
                assert!(!text.contains("style="), "inline style in {}", asset.name);
            }
        }
    }

    /// Whether an HTML text has an attribute such as ` onclick=`.
    fn has_inline_handler(text: &str) -> bool {
        text.match_indices(" on").any(|(start, _)| {
            let rest = &text[start + 3..];
            let name_length = rest.bytes().take_while(u8::is_ascii_lowercase).count();
            name_length > 0 && rest[name_length..].starts_with('=')
        })
    }
}
