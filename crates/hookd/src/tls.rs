//! HTTPS for `hookd serve --tls-cert --tls-key`: loads a PEM certificate chain and private
//! key into a rustls server configuration, and turns a TCP listener into a listener of
//! TLS streams for `axum::serve`.
//!
//! **Invariants:** the certificate and key are checked at start (readable, PEM, the key
//! matches the certificate), so a misconfiguration stops `serve` with a clear error
//! instead of failing every handshake later. TLS handshakes run in their own tasks under
//! a timeout, so a slow or silent client never holds up other connections, and a failed
//! handshake is logged and dropped, never served.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the HTTP server to take them.
const ACCEPT_QUEUE: usize = 256;

/// The rustls configuration for a PEM certificate chain and its private key.
///
/// # Errors
/// A file is unreadable, holds no certificate or no private key, or the key does not
/// belong to the certificate.
pub fn server_config(
    cert_path: &Path,
    key_path: &Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let cert_pem = std::fs::read(cert_path)
        .with_context(|| format!("tls_cert: reading {}", cert_path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            anyhow::anyhow!("tls_cert: {} is not PEM: {error}", cert_path.display())
        })?;
    if certificates.is_empty() {
        bail!(
            "tls_cert: {} holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            cert_path.display()
        );
    }
    let key_pem = std::fs::read(key_path)
        .with_context(|| format!("tls_key: reading {}", key_path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| {
        anyhow::anyhow!(
            "tls_key: {} holds no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {error}",
            key_path.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|error| anyhow::anyhow!("tls_key: {}: {error}", key_path.display()))?;
    let certified = rustls::sign::CertifiedKey::new(certificates.clone(), signing_key);
    if let Err(error) = certified.keys_match() {
        bail!(
            "tls_key: {} does not belong to the certificate in {}: {error}",
            key_path.display(),
            cert_path.display()
        );
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("tls: choosing protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .context("tls: the certificate and key cannot be used together")?;
    // hookd serves HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener of TLS connections: TCP accepts and handshakes run in a background task
/// until `shutdown` is cancelled.
pub struct TlsListener {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `listener` with `config`.
    ///
    /// # Errors
    /// The listener's address cannot be read.
    pub fn new(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (sender, connections) = mpsc::channel(ACCEPT_QUEUE);
        tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(config),
            sender,
            shutdown,
        ));
        Ok(Self {
            connections,
            local_addr,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accept loop has stopped (shutdown): axum stops asking soon after.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(%error, "accepting a TCP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = sender.send((tls, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}
