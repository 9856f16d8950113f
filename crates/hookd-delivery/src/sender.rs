//! One outbound HTTP POST with hookd's rules: no redirects (3xx is a failure), a request
//! timeout, the SSRF guard, and a response body read only up to a stated size.
//!
//! **Invariant:** `send` never returns an error. Whatever happens on the wire becomes a
//! [`SendResult`] whose `outcome` the retry policy judges.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd_core::network::NetworkPolicy;
use hookd_core::retry::Outcome;
use reqwest::redirect::Policy;

use crate::guard::{find_refusal, GuardedResolver};

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

/// The outbound HTTP client.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    config: SenderConfig,
}

impl HttpSender {
    /// Builds the client.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(config: SenderConfig) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(config.network.clone());
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .user_agent(concat!("hookd/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            policy,
            config,
        })
    }

    /// POSTs `body` to `url` with `headers`.
    pub async fn send(&self, url: &str, headers: &[(String, String)], body: Vec<u8>) -> SendResult {
        let started = Instant::now();
        let no_response = |(reason, text): (NoResponseReason, String)| SendResult {
            outcome: Outcome::NoResponse,
            no_response: Some(reason),
            status_code: 0,
            response: text,
            duration: started.elapsed(),
        };
        let parsed = match reqwest::Url::parse(url) {
            Ok(parsed) => parsed,
            Err(error) => {
                return no_response((
                    NoResponseReason::InvalidUrl,
                    format!("invalid endpoint URL: {error}"),
                ))
            }
        };
        if let Some(ip) = literal_ip(&parsed) {
            if let Err(blocked) = self.policy.check(ip) {
                return no_response((NoResponseReason::Refused, blocked.to_string()));
            }
        }
        let mut request = self.client.post(parsed).body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return no_response(describe_error(&error, self.config.request_timeout)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let mut kept = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.config.response_body_limit.saturating_sub(kept.len());
                    if chunk.len() > room {
                        kept.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    kept.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // The status line already arrived, so the endpoint's answer stands; a body
                // cut short is noted in the log rather than turned into a failure.
                Err(_) => {
                    truncated = true;
                    break;
                }
            }
        }
        let mut text = String::from_utf8_lossy(&kept).into_owned();
        if truncated {
            text.push_str("…[truncated]");
        }
        let code = status.as_u16();
        let outcome = if status.is_success() {
            Outcome::Delivered { status: code }
        } else if code == 410 {
            Outcome::Gone
        } else {
            let honoured = matches!(code, 429 | 503).then_some(retry_after).flatten();
            Outcome::Rejected {
                status: code,
                retry_after: honoured,
            }
        };
        SendResult {
            outcome,
            no_response: None,
            status_code: code,
            response: text,
            duration: started.elapsed(),
        }
    }
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// `Retry-After` as seconds (the HTTP-date form is rare from webhook receivers and is
/// ignored, leaving the regular schedule in charge).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn describe_error(error: &reqwest::Error, timeout: Duration) -> (NoResponseReason, String) {
    if let Some(refusal) = find_refusal(error) {
        return (NoResponseReason::Refused, refusal.to_string());
    }
    if error.is_timeout() {
        return (
            NoResponseReason::Timeout,
            format!(
                "no response within the request timeout ({} ms)",
                timeout.as_millis()
            ),
        );
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
