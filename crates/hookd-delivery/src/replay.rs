//! Replay of a captured request to a URL the operator names (inspector bins): any
//! method, the captured headers and raw body, through the same SSRF guard and redirect
//! rule as deliveries, answered with what came back.
//!
//! **Invariant:** the address checked is the address connected to (the guard's resolver,
//! or the literal IP checked before sending), exactly as for deliveries, so
//! `--allow-private-network` is the one switch for both. A replay follows no redirect:
//! the 3xx itself is the answer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd_core::network::{BlockedAddress, NetworkPolicy};
use reqwest::redirect::Policy;

use crate::guard::{find_refusal, GuardedResolver};

/// One request to send.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the target answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayResponse {
    pub status: u16,
    /// Lowercase names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body's first bytes, up to the client's limit.
    pub body: Vec<u8>,
    pub body_truncated: bool,
    pub duration: Duration,
}

/// Why no answer came back.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("invalid method {0:?}")]
    InvalidMethod(String),
    /// The SSRF guard refused the address; the message says how to allow it.
    #[error("{0}")]
    Refused(BlockedAddress),
    #[error("no response within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

/// The HTTP client replays go through.
#[derive(Debug, Clone)]
pub struct Replayer {
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    timeout: Duration,
    body_limit: usize,
}

impl Replayer {
    /// A client that may reach what `network` allows, waits up to `timeout` for an
    /// answer, and keeps up to `body_limit` bytes of it.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(
        network: NetworkPolicy,
        timeout: Duration,
        body_limit: usize,
    ) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(network);
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .dns_resolver(Arc::new(GuardedResolver {
                policy: Arc::clone(&policy),
            }))
            .user_agent(concat!("hookd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            policy,
            timeout,
            body_limit,
        })
    }

    /// Sends `request` and reads the answer.
    ///
    /// # Errors
    /// A [`ReplayError`] saying why no answer came back.
    pub async fn replay(&self, request: ReplayRequest) -> Result<ReplayResponse, ReplayError> {
        let started = Instant::now();
        let url = reqwest::Url::parse(&request.url)
            .map_err(|error| ReplayError::InvalidUrl(error.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ReplayError::InvalidUrl(format!(
                "scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        if let Some(ip) = literal_ip(&url) {
            self.policy.check(ip).map_err(ReplayError::Refused)?;
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| ReplayError::InvalidMethod(request.method.clone()))?;
        let mut outgoing = self.client.request(method, url).body(request.body);
        for (name, value) in &request.headers {
            outgoing = outgoing.header(name.as_str(), value.as_str());
        }
        let mut response = outgoing
            .send()
            .await
            .map_err(|error| self.describe(&error))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut body_truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.body_limit.saturating_sub(body.len());
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        body_truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // The status line arrived, so the answer stands with what was read.
                Err(_) => {
                    body_truncated = true;
                    break;
                }
            }
        }
        Ok(ReplayResponse {
            status,
            headers,
            body,
            body_truncated,
            duration: started.elapsed(),
        })
    }

    fn describe(&self, error: &reqwest::Error) -> ReplayError {
        if let Some(refusal) = find_refusal(error) {
            return ReplayError::Refused(refusal.clone());
        }
        if error.is_timeout() {
            return ReplayError::Timeout(self.timeout);
        }
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        if error.is_connect() {
            ReplayError::Connect(text)
        } else {
            ReplayError::Other(text)
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
