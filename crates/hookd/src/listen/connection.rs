//! Opening the WebSocket to the hookd server (plain, or TLS for an `https` server), and
//! telling a refusal that will not change (bad token, unknown source) from a failure
//! worth retrying (server down or restarting).
//!
//! **Invariant:** a [`ConnectError`] is one line a user can act on; it never carries the
//! token.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::WebSocketStream;

/// Any byte stream a WebSocket runs over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

pub type Socket = WebSocketStream<Box<dyn Transport>>;

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server answered, and said no; retrying will not change it.
    #[error("the server refused ({status}): {detail}")]
    Refused { status: u16, detail: String },
    /// The server could not be reached, or failed; it may be back soon.
    #[error("{0}")]
    Unreachable(String),
}

impl ConnectError {
    /// Whether the same request could succeed later (the server is down, restarting or
    /// overloaded) rather than being refused for good.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Refused { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Unreachable(_) => true,
        }
    }
}

/// Opens the WebSocket at `url` (`ws://` or `wss://`) with the bearer token.
///
/// # Errors
/// [`ConnectError`], described for the user.
pub async fn connect(url: &url::Url, token: Option<&str>) -> Result<Socket, ConnectError> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|error| ConnectError::Unreachable(format!("bad stream URL {url}: {error}")))?;
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| ConnectError::Refused {
                status: 401,
                detail: "the token contains characters a header cannot carry".to_owned(),
            })?;
        request.headers_mut().insert("authorization", value);
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|error| ConnectError::Unreachable(error.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let transport: Box<dyn Transport> = if url.scheme() == "wss" {
        Box::new(tls(&host, tcp).await?)
    } else {
        Box::new(tcp)
    };
    match tokio_tungstenite::client_async(request, transport).await {
        Ok((socket, _response)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let detail = response
                .body()
                .as_deref()
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok())
                .and_then(|body| body["detail"].as_str().map(str::to_owned))
                .unwrap_or_else(|| {
                    response
                        .status()
                        .canonical_reason()
                        .unwrap_or("no detail")
                        .to_owned()
                });
            Err(ConnectError::Refused { status, detail })
        }
        Err(error) => Err(ConnectError::Unreachable(format!(
            "WebSocket handshake with {host}:{port} failed: {error}"
        ))),
    }
}

/// Creates a temporary inspector bin (`POST /api/v1/bin`) and returns its id and the URL
/// to give the provider.
///
/// # Errors
/// [`ConnectError`]: `Refused` with 404 when the server has no bins.
pub async fn create_bin(
    server: &url::Url,
    token: Option<&str>,
) -> Result<(String, String), ConnectError> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|error| ConnectError::Unreachable(error.to_string()))?;
    let mut url = server.clone();
    url.path_segments_mut()
        .map_err(|()| ConnectError::Unreachable(format!("{server} cannot have a path")))?
        .pop_if_empty()
        .extend(["api", "v1", "bin"]);
    let mut request = client.post(url).json(&serde_json::json!({}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|error| {
        let mut source: &dyn std::error::Error = &error;
        while let Some(inner) = source.source() {
            source = inner;
        }
        ConnectError::Unreachable(source.to_string())
    })?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        return Err(ConnectError::Refused {
            status: status.as_u16(),
            detail: body["detail"]
                .as_str()
                .or(status.canonical_reason())
                .unwrap_or("no detail")
                .to_owned(),
        });
    }
    match (body["id"].as_str(), body["url"].as_str()) {
        (Some(id), Some(url)) => Ok((id.to_owned(), url.to_owned())),
        _ => Err(ConnectError::Refused {
            status: status.as_u16(),
            detail: "the server's answer has no bin id and URL".to_owned(),
        }),
    }
}

/// A TLS session to `host` over `tcp`, checked against the bundled web PKI roots.
async fn tls(
    host: &str,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ConnectError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| ConnectError::Unreachable(format!("TLS setup: {error}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
        .map_err(|error| ConnectError::Unreachable(format!("TLS server name {host}: {error}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|error| ConnectError::Unreachable(format!("TLS handshake with {host}: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_final_failures_are_retried() {
        let refused = |status| ConnectError::Refused {
            status,
            detail: String::new(),
        };
        assert!(!refused(401).is_retryable());
        assert!(!refused(403).is_retryable());
        assert!(!refused(404).is_retryable());
        assert!(refused(503).is_retryable());
        assert!(refused(429).is_retryable());
        assert!(ConnectError::Unreachable("connection refused".into()).is_retryable());
    }
}
