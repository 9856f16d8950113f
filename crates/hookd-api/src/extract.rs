//! Extractors whose failures are [`ApiError`]s: a JSON body that names the failing field,
//! query strings that do the same, path parameters (404 when they cannot be read), and
//! the body-size limit answered as 413.
//!
//! A body is a JSON object (an array is refused even where serde would read one as a
//! struct's fields in order); an optional body may also be left out or be `null`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body. Malformed JSON is a 400; JSON of the wrong shape is a 422 whose detail
/// starts with the path of the field at fault (`eventTypes[2]: invalid type…`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge {
                        limit: state.config.body_limit,
                    }
                } else {
                    ApiError::BadRequest(format!("could not read the request body: {rejection}"))
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON document, telling syntax errors (400) from shape errors (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let Some(first) = bytes.iter().find(|byte| !byte.is_ascii_whitespace()) else {
        return Err(ApiError::BadRequest(
            "request body is empty; expected a JSON object".into(),
        ));
    };
    if *first == b'[' {
        // serde reads a struct from an array of its fields in order; no client means that.
        return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Err(ApiError::Validation(
                "the body must be a JSON object, not an array".into(),
            )),
            Err(error) => Err(ApiError::BadRequest(format!("malformed JSON: {error}"))),
        };
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    match parsed {
        Ok(value) => {
            deserializer
                .end()
                .map_err(|error| ApiError::BadRequest(format!("malformed JSON: {error}")))?;
            Ok(value)
        }
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                Err(ApiError::BadRequest(format!("malformed JSON: {inner}")))
            } else if path == "." {
                Err(ApiError::Validation(strip_position(&inner.to_string())))
            } else {
                Err(ApiError::field(&path, strip_position(&inner.to_string())))
            }
        }
    }
}

/// Parses an optional body: no body and `null` are its defaults. (Only whitespace is a
/// body, and not JSON.)
pub fn parse_optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() || bytes.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    parse_json(bytes)
}

/// serde_json appends " at line 1 column 40"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// Path parameters, as axum's `Path` reads them, in the usual error shape: a parameter
/// that is not UTF-8 (`%FF`) names nothing, so it is a 404 like any unknown path (axum's
/// own answer is a plain-text 400).
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(
                &parts.extensions,
                &parts.uri,
                rejection.status(),
                rejection.body_text(),
            )),
        }
    }
}

/// A path whose parameters cannot be read: the 404 of an unknown path, unless the route
/// itself is wrong (a 500, logged).
pub(crate) fn path_rejection(
    extensions: &axum::http::Extensions,
    uri: &axum::http::Uri,
    status: StatusCode,
    detail: String,
) -> ApiError {
    if status.is_server_error() {
        return ApiError::Internal(detail.into());
    }
    // Inside a nested router `uri` has lost its prefix; name the path the client sent.
    let path = extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| uri.path(), |original| original.path());
    ApiError::NotFound(format!("path {path}"))
}

/// The raw path parameters a middleware asked for, or the JSON 404 (500 for a router
/// fault) that [`path_rejection`] makes of their rejection.
pub(crate) fn raw_path_params(
    params: Result<axum::extract::RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    request: &axum::extract::Request,
) -> Result<axum::extract::RawPathParams, ApiError> {
    params.map_err(|rejection| {
        path_rejection(
            request.extensions(),
            request.uri(),
            rejection.status(),
            rejection.body_text(),
        )
    })
}

/// The query string as name/value pairs, with typed getters whose failures are 422s
/// naming the parameter. Repeated names and comma-separated lists are both accepted,
/// because the Svix SDKs send lists either way. A parameter given empty (`?iterator=`)
/// reads as absent, except for the typed getters, to which it is a value that does not
/// parse.
pub struct Query(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(Self(
            form_urlencoded::parse(query.as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        ))
    }
}

impl Query {
    /// The last value given for `name`, if any and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// The last value given for `name`, even empty: for typed parameters, where `?limit=`
    /// is a value that does not parse rather than no value.
    pub fn typed(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, comma-separated values split.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let values: Vec<String> = self
            .0
            .iter()
            .filter(|(key, _)| key == name || key == &format!("{name}[]"))
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect();
        (!values.is_empty()).then_some(values)
    }

    /// A parameter parsed with `FromStr`.
    pub fn parse<T>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.typed(name)
            .map(|text| {
                text.parse()
                    .map_err(|error| ApiError::field(&format!("query parameter {name}"), error))
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`), default `false`.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        self.flag_or(name, false)
    }

    /// A boolean parameter (`true`/`false`), `default` when absent.
    pub fn flag_or(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        Ok(self.parse::<bool>(name)?.unwrap_or(default))
    }

    /// An RFC 3339 timestamp parameter.
    pub fn timestamp(&self, name: &str) -> Result<Option<hookd_core::Timestamp>, ApiError> {
        self.typed(name)
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|time| time.with_timezone(&chrono::Utc))
                    .map_err(|error| {
                        ApiError::field(
                            &format!("query parameter {name}"),
                            format!("expected an RFC 3339 timestamp: {error}"),
                        )
                    })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    struct Body {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        uid: Option<String>,
    }

    #[test]
    fn an_array_is_not_a_body_even_where_serde_would_take_it() {
        let error = parse_json::<Body>(b" [null, \"x\"]").unwrap_err();
        assert!(
            matches!(&error, ApiError::Validation(detail) if detail.contains("JSON object")),
            "{error:?}"
        );
        let error = parse_json::<Body>(b"[null, ").unwrap_err();
        assert!(matches!(error, ApiError::BadRequest(_)), "{error:?}");
        let body = parse_json::<Body>(br#"{"name": "a"}"#).unwrap();
        assert_eq!(body.name.as_deref(), Some("a"));
    }

    #[test]
    fn an_optional_body_may_be_nothing_or_null() {
        for text in [&b""[..], b"null", b" null\n"] {
            let body = parse_optional_json::<Body>(text).unwrap();
            assert!(body.name.is_none() && body.uid.is_none());
        }
        for text in [&b"nul"[..], b"\n", b"  "] {
            let error = parse_optional_json::<Body>(text).unwrap_err();
            assert!(matches!(error, ApiError::BadRequest(_)), "{error:?}");
        }
        assert_eq!(
            parse_optional_json::<Body>(br#"{"uid": "u"}"#)
                .unwrap()
                .uid
                .as_deref(),
            Some("u")
        );
    }

    #[test]
    fn typed_parameters_given_empty_do_not_parse() {
        let query = Query(vec![
            ("limit".into(), String::new()),
            ("iterator".into(), String::new()),
        ]);
        assert!(query.parse::<usize>("limit").is_err());
        assert!(query.timestamp("limit").is_err());
        assert_eq!(query.get("iterator"), None);
        assert_eq!(query.parse::<usize>("absent").unwrap(), None);
    }
}
