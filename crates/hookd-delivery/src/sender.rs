//! One outbound HTTP POST with hookd's rules: no redirects (3xx is a failure), a request
//! timeout over the whole exchange (connect, request, response and its body), the SSRF
//! guard, and a response body read only up to a stated size.
//!
//! The client is hyper's own (`hyper_util`'s pooled client over [`GuardedConnector`]),
//! not a general-purpose one: a delivery is always one POST with a known body to an
//! endpoint URL that was parsed once ([`Targets`]), so nothing per request re-parses
//! the URL, follows redirects or reads proxy settings.
//!
//! **Invariant:** `send` never returns an error. Whatever happens on the wire becomes a
//! [`SendResult`] whose `outcome` the retry policy judges.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookd_core::network::NetworkPolicy;
use hookd_core::retry::Outcome;
use http::header::{ACCEPT, AUTHORIZATION, HOST, RETRY_AFTER, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::connector::{tls_config, GuardedConnector};
use crate::guard::{find_refusal, GuardedResolver};
use crate::target::{Target, Targets, Unsendable};

/// What every delivery says it is.
const USER_AGENT_VALUE: &str = concat!("hookd/", env!("CARGO_PKG_VERSION"));
/// How long an idle keep-alive connection to an endpoint stays open.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a connection (TCP and TLS) may take, when the request timeout is longer.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How outbound requests are made.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Whole-request timeout. Default: 15 s.
    pub request_timeout: Duration,
    /// Bytes of a response body kept in the attempt log. Default: 16 KiB.
    pub response_body_limit: usize,
    /// Addresses deliveries may reach.
    pub network: NetworkPolicy,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(15),
            response_body_limit: 16 * 1024,
            network: NetworkPolicy::default(),
        }
    }
}

/// Why an attempt got no HTTP response (how metrics count it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoResponseReason {
    /// The endpoint URL does not parse.
    InvalidUrl,
    /// The SSRF guard refused the address.
    Refused,
    /// No response within the request timeout.
    Timeout,
    /// The connection could not be made (DNS, refused, reset, TLS).
    Connect,
    /// Any other transport failure.
    Other,
}

/// What one POST produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SendResult {
    pub outcome: Outcome,
    /// Why there was no response; `None` when the endpoint answered.
    pub no_response: Option<NoResponseReason>,
    /// HTTP status, 0 when there was no response.
    pub status_code: u16,
    /// The response body (truncated) or, without a response, why.
    pub response: String,
    pub duration: Duration,
}

/// The delivery HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("setting up TLS for deliveries: {0}")]
pub struct SenderBuildError(#[source] rustls::Error);

/// The outbound HTTP client.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: Client<GuardedConnector, Full<Bytes>>,
    policy: Arc<NetworkPolicy>,
    targets: Arc<Targets>,
    config: SenderConfig,
}

impl HttpSender {
    /// Builds the client.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(config: SenderConfig) -> Result<Self, SenderBuildError> {
        Ok(Self::with_tls(
            config,
            tls_config().map_err(SenderBuildError)?,
        ))
    }

    /// The client with `tls` instead of the built-in TLS configuration (tests trust
    /// their own certificate authority with it).
    pub(crate) fn with_tls(config: SenderConfig, tls: rustls::ClientConfig) -> Self {
        let policy = Arc::new(config.network.clone());
        let connector = GuardedConnector::new(
            GuardedResolver {
                policy: Arc::clone(&policy),
            },
            tls,
            config.request_timeout.min(MAX_CONNECT_TIMEOUT),
        );
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Self {
            client,
            policy,
            targets: Arc::new(Targets::default()),
            config,
        }
    }

    /// POSTs `body` to `url` with `headers`.
    pub async fn send(&self, url: &str, headers: &[(String, String)], body: Vec<u8>) -> SendResult {
        let started = Instant::now();
        let no_response = |reason: NoResponseReason, text: String| SendResult {
            outcome: Outcome::NoResponse,
            no_response: Some(reason),
            status_code: 0,
            response: text,
            duration: started.elapsed(),
        };
        let target = match self.targets.get(url, &self.policy) {
            Ok(target) => target,
            Err(unsendable) => {
                let reason = match unsendable {
                    Unsendable::InvalidUrl(_) => NoResponseReason::InvalidUrl,
                    Unsendable::Refused(_) => NoResponseReason::Refused,
                    Unsendable::Scheme(_) | Unsendable::NotHttp(_) | Unsendable::NoHost => {
                        NoResponseReason::Other
                    }
                };
                return no_response(reason, unsendable.to_string());
            }
        };
        let request = match post_request(&target, headers, body) {
            Ok(request) => request,
            Err(text) => return no_response(NoResponseReason::Other, text),
        };
        let mut answer = Answer::default();
        let exchanged = tokio::time::timeout(
            self.config.request_timeout,
            self.exchange(request, &mut answer),
        )
        .await;
        let status = match exchanged {
            Ok(Ok(status)) => status,
            Ok(Err(error)) => {
                let (reason, text) = self.describe_error(&error);
                return no_response(reason, text);
            }
            // The status line arrived in time, so the endpoint's answer stands; a body cut
            // short by the timeout is noted in the log rather than turned into a failure.
            Err(_elapsed) => match answer.status {
                Some(status) => {
                    answer.truncated = true;
                    status
                }
                None => return no_response(NoResponseReason::Timeout, self.timeout_text()),
            },
        };
        let code = status.as_u16();
        let outcome = if status.is_success() {
            Outcome::Delivered { status: code }
        } else if code == 410 {
            Outcome::Gone
        } else {
            let honoured = matches!(code, 429 | 503)
                .then_some(answer.retry_after)
                .flatten();
            Outcome::Rejected {
                status: code,
                retry_after: honoured,
            }
        };
        SendResult {
            outcome,
            no_response: None,
            status_code: code,
            response: answer.body_text(),
            duration: started.elapsed(),
        }
    }

    /// Sends `request` and reads the answer into `answer` as it arrives, so that what
    /// came before a timeout is kept.
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        answer: &mut Answer,
    ) -> Result<StatusCode, hyper_util::client::legacy::Error> {
        let response = self.client.request(request).await?;
        let (parts, mut body) = response.into_parts();
        answer.status = Some(parts.status);
        answer.retry_after = parts
            .headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let limit = self.config.response_body_limit;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                // The status line already arrived, so the endpoint's answer stands; a
                // body cut short is noted in the log rather than turned into a failure.
                answer.truncated = true;
                break;
            };
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            let room = limit.saturating_sub(answer.kept.len());
            if chunk.len() > room {
                answer.kept.extend_from_slice(&chunk[..room]);
                answer.truncated = true;
                break;
            }
            answer.kept.extend_from_slice(&chunk);
        }
        Ok(parts.status)
    }

    fn timeout_text(&self) -> String {
        format!(
            "no response within the request timeout ({} ms)",
            self.config.request_timeout.as_millis()
        )
    }

    fn describe_error(
        &self,
        error: &hyper_util::client::legacy::Error,
    ) -> (NoResponseReason, String) {
        if let Some(refusal) = find_refusal(error) {
            return (NoResponseReason::Refused, refusal.to_string());
        }
        if is_timeout(error) {
            return (NoResponseReason::Timeout, self.timeout_text());
        }
        if error.is_connect() {
            return (
                NoResponseReason::Connect,
                format!("could not connect: {}", error_chain(error)),
            );
        }
        (
            NoResponseReason::Other,
            format!("request failed: {}", error_chain(error)),
        )
    }
}

/// What the endpoint answered, filled in as it arrives.
#[derive(Debug, Default)]
struct Answer {
    status: Option<StatusCode>,
    retry_after: Option<Duration>,
    /// The body's first bytes, up to the limit.
    kept: Vec<u8>,
    /// The body went on past the limit, or broke off.
    truncated: bool,
}

impl Answer {
    /// The kept body as text (invalid UTF-8 replaced), marked when truncated.
    fn body_text(self) -> String {
        let mut text = match String::from_utf8(self.kept) {
            Ok(text) => text,
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        };
        if self.truncated {
            text.push_str("…[truncated]");
        }
        text
    }
}

/// The POST of `body` to `target` with `headers` (in order; a name may repeat), then
/// `User-Agent: hookd/<version>`, `Accept: */*` and `Host` unless `headers` set them.
///
/// # Errors
/// A text saying which header is not valid HTTP.
fn post_request(
    target: &Target,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<Request<Full<Bytes>>, String> {
    let mut request = Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = target.uri.clone();
    let map = request.headers_mut();
    map.reserve(headers.len() + 3);
    if let Some(authorization) = &target.authorization {
        map.append(AUTHORIZATION, authorization.clone());
    }
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|error| format!("request failed: header name {name:?}: {error}"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|error| format!("request failed: value of header {name}: {error}"))?;
        map.append(name, value);
    }
    if !map.contains_key(USER_AGENT) {
        map.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    }
    if !map.contains_key(ACCEPT) {
        map.insert(ACCEPT, HeaderValue::from_static("*/*"));
    }
    // hyper_util would otherwise format the same value from the URI on every request.
    if !map.contains_key(HOST) {
        map.insert(HOST, target.host.clone());
    }
    Ok(request)
}

/// `Retry-After` as seconds (the HTTP-date form is rare from webhook receivers and is
/// ignored, leaving the regular schedule in charge).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether a timeout anywhere in the chain caused `error` (the connect timeout, or an
/// operating-system timeout on the socket).
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        if error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            return true;
        }
        current = error.source();
    }
    false
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests;
