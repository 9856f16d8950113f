//! How the delivery sender opens connections: TCP to the addresses the SSRF guard's
//! resolver allows, TLS (rustls with ring and the webpki root certificates, TLS 1.2 and
//! 1.3, ALPN `http/1.1`) for `https`, and one connect timeout over both.
//!
//! **Invariant:** every connection goes to an address [`GuardedResolver`] returned or to
//! an IP literal the sender checked before asking for it; a connection that is not
//! ready within the connect timeout fails with an `io::ErrorKind::TimedOut` error.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;

use crate::guard::GuardedResolver;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// TCP keep-alive probes on delivery connections: idle time before the first, the
/// interval between them, and how many may go unanswered.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// The TLS client configuration of deliveries: the webpki root certificates.
///
/// # Errors
/// When ring does not support the protocol versions (it does; a build error otherwise).
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    tls_config_trusting(roots)
}

/// The TLS client configuration of deliveries with `roots` as the trusted authorities.
///
/// # Errors
/// As [`tls_config`].
pub(crate) fn tls_config_trusting(
    roots: rustls::RootCertStore,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Opens delivery connections; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct GuardedConnector {
    inner: HttpsConnector<HttpConnector<GuardedResolver>>,
    connect_timeout: Duration,
}

impl GuardedConnector {
    pub(crate) fn new(
        resolver: GuardedResolver,
        tls: rustls::ClientConfig,
        connect_timeout: Duration,
    ) -> Self {
        let mut tcp = HttpConnector::new_with_resolver(resolver);
        // The TLS layer above takes `https` URIs; this one must not refuse them.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(TCP_KEEPALIVE));
        tcp.set_keepalive_interval(Some(TCP_KEEPALIVE));
        tcp.set_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES));
        Self {
            inner: HttpsConnector::from((tcp, Arc::new(tls))),
            connect_timeout,
        }
    }
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let connecting = self.inner.call(destination);
        let connect_timeout = self.connect_timeout;
        Box::pin(async move {
            match tokio::time::timeout(connect_timeout, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(Box::new(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no connection within the connect timeout ({} ms)",
                        connect_timeout.as_millis()
                    ),
                )) as BoxError),
            }
        })
    }
}
