//! What a receiver sees of one delivery and what the sender makes of each kind of answer,
//! against real sockets on loopback: scripted raw HTTP/1.1 receivers (so a test can
//! answer a redirect, stall mid-body or count connections) and TLS ones.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookd_core::network::NetworkPolicy;
use hookd_core::retry::Outcome;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{HttpSender, NoResponseReason, SenderConfig};

/// Loopback allowed, as a test receiver needs.
fn loopback_allowed() -> NetworkPolicy {
    NetworkPolicy::new(vec!["127.0.0.0/8".parse().expect("a valid network")])
}

fn sender(request_timeout: Duration, response_body_limit: usize) -> HttpSender {
    HttpSender::new(SenderConfig {
        request_timeout,
        response_body_limit,
        network: loopback_allowed(),
    })
    .expect("the TLS backend initialises")
}

fn default_sender() -> HttpSender {
    sender(Duration::from_secs(10), 16 * 1024)
}

fn json_headers() -> Vec<(String, String)> {
    vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("webhook-id".to_owned(), "msg_1".to_owned()),
    ]
}

/// A receiver that answers every request on every connection with the same raw bytes
/// (nothing at all when they are empty, leaving the client waiting), counts
/// connections, and hands each request's raw head and body to the test.
struct RawReceiver {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: mpsc::UnboundedReceiver<RawRequest>,
}

#[derive(Debug)]
struct RawRequest {
    /// The request line and headers, as sent.
    head: String,
    body: Vec<u8>,
}

impl RawRequest {
    /// The value of header `name` (case-insensitive), if sent once or more (the first).
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

impl RawReceiver {
    async fn start(answer: &str) -> Self {
        Self::start_with(answer, None).await
    }

    /// With `tls`, every connection is TLS with that server configuration.
    async fn start_with(answer: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let address = listener.local_addr().expect("a bound listener's address");
        let connections = Arc::new(AtomicUsize::new(0));
        let (sender, requests) = mpsc::unbounded_channel();
        let answer = answer.as_bytes().to_vec();
        let counted = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                let sender = sender.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(stream, &answer, &sender).await,
                        Some(config) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve_connection(stream, &answer, &sender).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            address,
            connections,
            requests,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A request the receiver already read (the sender returned after the request was
    /// written, so it is there or on its way).
    async fn request(&mut self) -> RawRequest {
        tokio::time::timeout(Duration::from_secs(5), self.requests.recv())
            .await
            .expect("the request reached the receiver")
            .expect("the receiver runs")
    }
}

/// Reads requests (head, then a `content-length` body) and answers each with `answer`.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    answer: &[u8],
    requests: &mpsc::UnboundedSender<RawRequest>,
) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(index) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break index + 4;
            }
            let mut chunk = [0_u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let length = head
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())
                    .flatten()
            })
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0_u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        }
        let body = buffer[head_end..head_end + length].to_vec();
        buffer.drain(..head_end + length);
        let _ = requests.send(RawRequest { head, body });
        if !answer.is_empty() && stream.write_all(answer).await.is_err() {
            return;
        }
        let _ = stream.flush().await;
    }
}

const OK_ANSWER: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

#[tokio::test]
async fn the_receiver_gets_the_body_the_headers_and_who_sent_it() {
    let mut receiver = RawReceiver::start(OK_ANSWER).await;
    let sent = default_sender()
        .send(
            &receiver.url("/hook?x=1"),
            &json_headers(),
            br#"{"a":1}"#.to_vec(),
        )
        .await;
    assert_eq!(sent.outcome, Outcome::Delivered { status: 200 });
    assert_eq!(sent.no_response, None);
    assert_eq!(sent.status_code, 200);
    assert_eq!(sent.response, "ok");
    let request = receiver.request().await;
    assert!(
        request.head.starts_with("POST /hook?x=1 HTTP/1.1\r\n"),
        "{}",
        request.head
    );
    assert_eq!(request.body, br#"{"a":1}"#);
    assert_eq!(request.header("content-length"), Some("7"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("webhook-id"), Some("msg_1"));
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("hookd/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(request.header("accept"), Some("*/*"));
    assert_eq!(
        request.header("host"),
        Some(receiver.address.to_string().as_str())
    );
    assert_eq!(request.header("authorization"), None);
}

#[tokio::test]
async fn an_endpoint_header_replaces_the_default_user_agent() {
    let mut receiver = RawReceiver::start(OK_ANSWER).await;
    let headers = vec![("user-agent".to_owned(), "custom/1".to_owned())];
    default_sender()
        .send(&receiver.url("/"), &headers, Vec::new())
        .await;
    let request = receiver.request().await;
    assert_eq!(request.header("user-agent"), Some("custom/1"));
    assert_eq!(request.head.matches("user-agent").count(), 1);
}

#[tokio::test]
async fn user_info_in_the_url_is_sent_as_basic_credentials() {
    let mut receiver = RawReceiver::start(OK_ANSWER).await;
    let url = format!("http://user:p%40ss@{}/", receiver.address);
    let sent = default_sender().send(&url, &[], Vec::new()).await;
    assert_eq!(sent.outcome, Outcome::Delivered { status: 200 });
    let request = receiver.request().await;
    assert!(request.head.starts_with("POST / HTTP/1.1\r\n"));
    // base64("user:p@ss")
    assert_eq!(request.header("authorization"), Some("Basic dXNlcjpwQHNz"));
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let mut receiver = RawReceiver::start(
        "HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 5\r\n\r\nmoved",
    )
    .await;
    let sent = default_sender()
        .send(&receiver.url("/hook"), &json_headers(), b"{}".to_vec())
        .await;
    assert_eq!(
        sent.outcome,
        Outcome::Rejected {
            status: 302,
            retry_after: None
        }
    );
    assert_eq!(sent.response, "moved");
    let first = receiver.request().await;
    assert!(first.head.starts_with("POST /hook "), "{}", first.head);
    assert!(
        receiver.requests.try_recv().is_err(),
        "no request went to the redirect's location"
    );
}

#[tokio::test]
async fn gone_and_server_errors_are_judged_by_status() {
    let receiver = RawReceiver::start("HTTP/1.1 410 Gone\r\ncontent-length: 0\r\n\r\n").await;
    let sent = default_sender()
        .send(&receiver.url("/"), &[], Vec::new())
        .await;
    assert_eq!(sent.outcome, Outcome::Gone);
    assert_eq!(sent.status_code, 410);
    assert_eq!(sent.response, "");
}

#[tokio::test]
async fn retry_after_seconds_count_on_429_and_503_only() {
    for (status, honoured) in [
        (429, Some(Duration::from_secs(7))),
        (503, Some(Duration::from_secs(7))),
        (500, None),
    ] {
        let answer =
            format!("HTTP/1.1 {status} Whatever\r\nretry-after: 7\r\ncontent-length: 0\r\n\r\n");
        let receiver = RawReceiver::start(&answer).await;
        let sent = default_sender()
            .send(&receiver.url("/"), &[], Vec::new())
            .await;
        assert_eq!(
            sent.outcome,
            Outcome::Rejected {
                status,
                retry_after: honoured
            },
            "status {status}"
        );
    }
    let dated = RawReceiver::start(
        "HTTP/1.1 429 Slow down\r\nretry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let sent = default_sender()
        .send(&dated.url("/"), &[], Vec::new())
        .await;
    assert_eq!(
        sent.outcome,
        Outcome::Rejected {
            status: 429,
            retry_after: None
        },
        "the HTTP-date form leaves the schedule in charge"
    );
}

#[tokio::test]
async fn a_long_body_is_kept_up_to_the_limit_and_marked() {
    let answer = format!(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 26\r\n\r\n{}",
        "abcdefghijklmnopqrstuvwxyz"
    );
    let receiver = RawReceiver::start(&answer).await;
    let sent = sender(Duration::from_secs(10), 10)
        .send(&receiver.url("/"), &[], Vec::new())
        .await;
    assert_eq!(sent.status_code, 500);
    assert_eq!(sent.response, "abcdefghij…[truncated]");

    let exact = RawReceiver::start(&answer).await;
    let sent = sender(Duration::from_secs(10), 26)
        .send(&exact.url("/"), &[], Vec::new())
        .await;
    assert_eq!(sent.response, "abcdefghijklmnopqrstuvwxyz");
}

#[test]
fn a_body_that_is_not_utf8_is_logged_with_replacements() {
    let answer = |kept: &[u8], truncated| {
        super::Answer {
            status: None,
            retry_after: None,
            kept: kept.to_vec(),
            truncated,
        }
        .body_text()
    };
    assert_eq!(answer(b"a\xffb", false), "a\u{fffd}b");
    assert_eq!(answer("é".as_bytes(), false), "é");
    // A limit that cuts a character in two leaves a replacement, then the marker.
    assert_eq!(answer(&"é".as_bytes()[..1], true), "\u{fffd}…[truncated]");
}

#[tokio::test]
async fn literal_and_resolved_private_addresses_are_refused_before_connecting() {
    let receiver = RawReceiver::start(OK_ANSWER).await;
    let strict = HttpSender::new(SenderConfig::default()).expect("the TLS backend initialises");
    let port = receiver.address.port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::1]/".to_owned(),
    ] {
        let sent = strict.send(&url, &[], Vec::new()).await;
        assert_eq!(sent.outcome, Outcome::NoResponse, "{url}");
        assert_eq!(sent.no_response, Some(NoResponseReason::Refused), "{url}");
        assert_eq!(sent.status_code, 0);
        assert!(
            sent.response.contains("--allow-private-network"),
            "{url}: {}",
            sent.response
        );
    }
    assert_eq!(
        receiver.connections.load(Ordering::SeqCst),
        0,
        "nothing connected to the loopback receiver"
    );
}

#[tokio::test]
async fn urls_that_cannot_be_sent_to_say_why() {
    let sender = default_sender();
    let sent = sender.send("not a url", &[], Vec::new()).await;
    assert_eq!(sent.no_response, Some(NoResponseReason::InvalidUrl));
    assert!(
        sent.response.starts_with("invalid endpoint URL: "),
        "{}",
        sent.response
    );
    let sent = sender.send("ftp://example.com/", &[], Vec::new()).await;
    assert_eq!(sent.no_response, Some(NoResponseReason::Other));
    assert!(sent.response.contains("ftp"), "{}", sent.response);
    let bad_header = vec![("bad header".to_owned(), "x".to_owned())];
    let sent = sender
        .send("http://127.0.0.1:9/", &bad_header, Vec::new())
        .await;
    assert_eq!(sent.no_response, Some(NoResponseReason::Other));
    assert!(sent.response.contains("bad header"), "{}", sent.response);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let address = listener.local_addr().expect("a bound listener's address");
    drop(listener);
    let sent = default_sender()
        .send(&format!("http://{address}/"), &[], Vec::new())
        .await;
    assert_eq!(sent.outcome, Outcome::NoResponse);
    assert_eq!(sent.no_response, Some(NoResponseReason::Connect));
    assert!(
        sent.response.starts_with("could not connect: "),
        "{}",
        sent.response
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let receiver = RawReceiver::start("").await;
    let sent = sender(Duration::from_millis(300), 1024)
        .send(&receiver.url("/"), &[], b"{}".to_vec())
        .await;
    assert_eq!(sent.outcome, Outcome::NoResponse);
    assert_eq!(sent.no_response, Some(NoResponseReason::Timeout));
    assert_eq!(
        sent.response,
        "no response within the request timeout (300 ms)"
    );
    assert!(sent.duration >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_body_that_stalls_after_the_status_keeps_the_answer() {
    let receiver = RawReceiver::start("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello").await;
    let sent = sender(Duration::from_millis(300), 1024)
        .send(&receiver.url("/"), &[], Vec::new())
        .await;
    assert_eq!(sent.outcome, Outcome::Delivered { status: 200 });
    assert_eq!(sent.no_response, None);
    assert_eq!(sent.response, "hello…[truncated]");
}

#[tokio::test]
async fn deliveries_to_one_endpoint_reuse_one_connection() {
    let mut receiver = RawReceiver::start(OK_ANSWER).await;
    let sender = default_sender();
    for _ in 0..3 {
        let sent = sender.send(&receiver.url("/"), &[], b"{}".to_vec()).await;
        assert_eq!(sent.outcome, Outcome::Delivered { status: 200 });
        receiver.request().await;
    }
    assert_eq!(receiver.connections.load(Ordering::SeqCst), 1);
}

struct TestCertificate {
    der: rustls::pki_types::CertificateDer<'static>,
    server: Arc<rustls::ServerConfig>,
}

fn localhost_certificate() -> TestCertificate {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("rcgen makes a certificate");
    let der = generated.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(generated.key_pair.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default versions")
    .with_no_client_auth()
    .with_single_cert(vec![der.clone()], key)
    .expect("the generated key matches its certificate");
    TestCertificate {
        der,
        server: Arc::new(server),
    }
}

#[tokio::test]
async fn https_endpoints_are_verified_against_the_built_in_roots() {
    let certificate = localhost_certificate();
    let receiver = RawReceiver::start_with(OK_ANSWER, Some(certificate.server)).await;
    let url = format!("https://localhost:{}/", receiver.address.port());
    let sent = default_sender().send(&url, &[], Vec::new()).await;
    assert_eq!(sent.outcome, Outcome::NoResponse);
    assert_eq!(
        sent.no_response,
        Some(NoResponseReason::Connect),
        "{}",
        sent.response
    );
    assert!(
        sent.response.to_lowercase().contains("certificate"),
        "{}",
        sent.response
    );
}

#[tokio::test]
async fn https_endpoints_with_a_trusted_certificate_get_the_delivery() {
    let certificate = localhost_certificate();
    let mut receiver = RawReceiver::start_with(OK_ANSWER, Some(certificate.server)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(certificate.der)
        .expect("the test certificate is a usable root");
    let tls = crate::connector::tls_config_trusting(roots).expect("the TLS configuration builds");
    let sender = HttpSender::with_tls(
        SenderConfig {
            network: loopback_allowed(),
            ..SenderConfig::default()
        },
        tls,
    );
    let url = format!("https://localhost:{}/tls", receiver.address.port());
    let sent = sender.send(&url, &json_headers(), b"{}".to_vec()).await;
    assert_eq!(
        sent.outcome,
        Outcome::Delivered { status: 200 },
        "{}",
        sent.response
    );
    let request = receiver.request().await;
    assert!(request.head.starts_with("POST /tls HTTP/1.1\r\n"));
    assert_eq!(request.body, b"{}");
}
