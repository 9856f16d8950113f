//! The two servers the benchmark runs in its own process: the *receiver*, a minimal
//! webhook endpoint that answers 200 and notes when each `webhook-id` arrived, and the
//! *roof*, a bare axum server that answers 202 to any POST, which is the most any HTTP
//! service on this machine can answer with this load generator.
//!
//! **Invariant:** both do the least work that still reads the whole request, so what
//! they cost is the HTTP floor, not application logic.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use bytes::Bytes;
use tokio::net::TcpListener;

/// What the receiver has seen since it was last reset.
#[derive(Debug, Default)]
pub struct Receiver {
    count: AtomicU64,
    arrivals: Mutex<Vec<Arrival>>,
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The `webhook-id` header: the message id.
    pub message_id: String,
    pub at: Instant,
}

impl Receiver {
    /// Deliveries received since the last reset.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Returns every arrival since the last reset and starts counting afresh.
    pub fn take(&self) -> Vec<Arrival> {
        let mut arrivals = self
            .arrivals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.count.store(0, Ordering::Release);
        std::mem::take(&mut *arrivals)
    }

    fn record(&self, message_id: String, at: Instant) {
        self.arrivals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arrival { message_id, at });
        self.count.fetch_add(1, Ordering::AcqRel);
    }
}

/// Starts the receiver on 127.0.0.1 (any port). Every path is an endpoint.
///
/// # Errors
/// When no port can be bound.
pub async fn start_receiver() -> anyhow::Result<(SocketAddr, Arc<Receiver>)> {
    let receiver = Arc::new(Receiver::default());
    let router = Router::new()
        .fallback(receive)
        .with_state(Arc::clone(&receiver));
    let addr = serve(router).await?;
    Ok((addr, receiver))
}

/// Starts the roof server on 127.0.0.1 (any port).
///
/// # Errors
/// When no port can be bound.
pub async fn start_roof() -> anyhow::Result<SocketAddr> {
    serve(Router::new().fallback(roof)).await
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    _body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    match headers
        .get("webhook-id")
        .and_then(|value| value.to_str().ok())
    {
        Some(message_id) => {
            receiver.record(message_id.to_owned(), at);
            StatusCode::OK
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn roof(_body: Bytes) -> StatusCode {
    StatusCode::ACCEPTED
}

async fn serve(router: Router) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            eprintln!("hookd-bench: a local server stopped: {error}");
        }
    });
    Ok(addr)
}
