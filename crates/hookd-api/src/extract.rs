//! Extractors whose failures are [`ApiError`]s: a JSON body that names the failing field,
//! query strings that do the same, and the body-size limit answered as 413.

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
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty; expected a JSON object".into(),
        ));
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

/// serde_json appends " at line 1 column 40"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// The query string as name/value pairs, with typed getters whose failures are 422s
/// naming the parameter. Repeated names and comma-separated lists are both accepted,
/// because the Svix SDKs send lists either way.
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
        self.get(name)
            .map(|text| {
                text.parse()
                    .map_err(|error| ApiError::field(&format!("query parameter {name}"), error))
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`), default `false`.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self.parse::<bool>(name)?.unwrap_or(false))
    }

    /// An RFC 3339 timestamp parameter.
    pub fn timestamp(&self, name: &str) -> Result<Option<hookd_core::Timestamp>, ApiError> {
        self.get(name)
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
