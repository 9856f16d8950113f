//! Test fixtures shared by hookd's crates. `publish = false`: never a runtime dependency.
//!
//! [`TestSink`] is a real HTTP server on `127.0.0.1:0` that answers with a scripted
//! sequence of statuses and hands every request it receives to the test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use tokio::sync::mpsc;

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names lowercased; the last value wins.
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    /// When the request reached the sink's handler (before any scripted delay).
    pub received_at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// What the sink answers: a status per request, in order; the last one repeats.
#[derive(Debug, Clone)]
pub struct Script {
    pub statuses: Vec<u16>,
    /// Extra headers on every answer (e.g. `retry-after`).
    pub headers: Vec<(String, String)>,
    /// Delay before answering.
    pub delay: Duration,
}

struct SinkState {
    script: Script,
    served: Mutex<usize>,
    sender: mpsc::UnboundedSender<Received>,
}

/// A real HTTP receiver for end-to-end tests.
pub struct TestSink {
    pub address: SocketAddr,
    receiver: mpsc::UnboundedReceiver<Received>,
    _server: tokio::task::JoinHandle<()>,
}

impl TestSink {
    /// Starts a sink answering `statuses` in order (the last repeats; empty means 200).
    pub async fn start(statuses: &[u16]) -> Self {
        Self::start_with(Script {
            statuses: statuses.to_vec(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        })
        .await
    }

    pub async fn start_with(script: Script) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port for the test sink");
        Self::serve(listener, script)
    }

    /// Starts a sink answering `statuses` on `address`: a receiver that comes up late on
    /// a port the test chose before.
    pub async fn start_at(address: SocketAddr, statuses: &[u16]) -> Self {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("binding the test sink's chosen port");
        Self::serve(
            listener,
            Script {
                statuses: statuses.to_vec(),
                headers: Vec::new(),
                delay: Duration::ZERO,
            },
        )
    }

    fn serve(listener: tokio::net::TcpListener, script: Script) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(SinkState {
            script,
            served: Mutex::new(0),
            sender,
        });
        let app = Router::new().fallback(receive).with_state(state);
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            address,
            receiver,
            _server: server,
        }
    }

    /// The sink's URL with `path` appended (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// The next request, or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Received> {
        tokio::time::timeout(timeout, self.receiver.recv())
            .await
            .ok()
            .flatten()
    }

    /// Whatever arrived already, without waiting.
    pub fn drain(&mut self) -> Vec<Received> {
        let mut all = Vec::new();
        while let Ok(received) = self.receiver.try_recv() {
            all.push(received);
        }
        all
    }
}

async fn receive(
    State(state): State<Arc<SinkState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let received_at = Instant::now();
    let index = {
        let mut served = state
            .served
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *served += 1;
        *served - 1
    };
    let code = state
        .script
        .statuses
        .get(index)
        .or(state.script.statuses.last())
        .copied()
        .unwrap_or(200);
    let received = Received {
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        received_at,
    };
    if !state.script.delay.is_zero() {
        tokio::time::sleep(state.script.delay).await;
    }
    let _ = state.sender.send(received);
    let mut response = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        format!("sink answered {code}"),
    )
        .into_response();
    for (name, value) in &state.script.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
