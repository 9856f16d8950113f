//! The HTTP/1.1 server under `hookd serve`: accepts connections from a listener (plain
//! TCP or TLS), serves each with hyper's HTTP/1 connection (upgrades included, for
//! WebSocket streams), and shuts down gracefully.
//!
//! Why not `axum::serve`: it serves through hyper-util's automatic HTTP/1-or-2
//! connection, which first reads a connection's opening bytes to tell the versions apart
//! and hands them back to hyper as one short read. hyper then reads the rest of the
//! request head into a buffer it has to grow from 8 to 16 KiB, and keeps that buffer for
//! the life of the connection. A live-stream subscriber holds its connection open for
//! hours, so that was the largest part of its memory. hookd speaks HTTP/1.1 only (TLS
//! offers `http/1.1` alone), so the version check bought nothing.
//!
//! A client gets `header_read_timeout` to send each request head (hyper's timer), so
//! one that trickles bytes cannot hold a connection, and a task, open for ever; the same
//! timer closes keep-alive connections idle that long. It runs only while a head is
//! awaited: a live stream's response, once its request is read, is not cut.
//!
//! **Invariant:** once `shutdown` is cancelled no connection is accepted, every open
//! connection is asked to finish (a response in progress completes, keep-alive ends, live
//! streams end by themselves on the same token), and [`serve`] returns only when the
//! last connection has closed.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceExt};
use tower_http::normalize_path::NormalizePath;

/// What `hookd_api::service` builds: the router, told each connection's peer address.
pub type MakeService = IntoMakeServiceWithConnectInfo<NormalizePath<Router>, SocketAddr>;

/// Serves HTTP/1.1 on `listener` until `shutdown` is cancelled, then waits for the open
/// connections to finish. A connection whose next request head has not fully arrived
/// `header_read_timeout` after the server started waiting for it is closed.
pub async fn serve<L>(
    mut listener: L,
    mut make_service: MakeService,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) where
    L: Listener<Addr = SocketAddr>,
{
    // N.B.: one builder for every connection: its settings are copied into each one.
    // Defaults otherwise, as `axum::serve` had them: keep-alive on, writes vectored
    // where the socket supports it (so a streamed body is queued, not copied into the
    // header buffer, which would then stay grown).
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connections = TaskTracker::new();
    loop {
        let (io, remote_addr) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        // The make-service is always ready and never fails (its error is `Infallible`),
        // but tower's contract asks for readiness before every call.
        let service = match ServiceExt::<SocketAddr>::ready(&mut make_service).await {
            Ok(ready) => ready.call(remote_addr).await,
            Err(never) => match never {},
        };
        let service = match service {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let service = TowerToHyperService::new(
            service.map_request(|request: hyper::Request<Incoming>| request.map(Body::new)),
        );
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::trace!(%remote_addr, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}
