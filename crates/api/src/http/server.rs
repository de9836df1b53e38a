//! The traffic listener and its connections, driven by the shutdown phases.
//!
//! Written as an accept loop over hyper-util's `auto` connections rather than
//! `axum::serve(..).with_graceful_shutdown(..)`, because that one has no
//! delay (it closes the listener at the signal), no timeout, waits forever on
//! open event streams, and cannot make HTTP/1.1 clients reconnect while
//! endpoint removal propagates. Here each phase does one thing:
//!
//! * **announce**: every HTTP/1.1 response carries `Connection: close` (see
//!   `requests`), and HTTP/2 connections get GOAWAY; in-flight exchanges
//!   finish. New connections are still accepted and served, then closed
//!   after their first response.
//! * **stop intake** (after the delay): the listener closes, and every HTTP/1.1
//!   connection still idle is closed, as is every connection that has not
//!   sent a whole first request head (`no_head_at_drain`).
//! * **drain**: wait for the connections to finish.
//! * **cancel**: drop whatever is left, and count it.
//!
//! Before any of that, each connection is bounded (`connections`): at most
//! `API_MAX_CONNECTIONS` are open, one that sends no complete request head
//! within `API_HEADER_READ_TIMEOUT` is closed (hyper's own header timer
//! starts only once the protocol is known, so a silent connection would
//! otherwise wait in detection forever), and an HTTP/2 connection that
//! stops answering pings is closed.
//!
//! Idle HTTP/1.1 connections are closed at the end of the delay, not at the
//! signal. HTTP/1.1 cannot tell a client "no more requests" except by
//! closing, and a close that crosses a request already on the wire fails
//! that request: the rolling-restart drill saw exactly that, 2 reads reset
//! in 2 676, when idle connections closed at the signal. During the delay
//! every connection a client uses is told to close by its response, so what
//! is still idle when the delay ends is the cold end of a client's pool,
//! and closing it races with almost nothing. (Go's `Server.Shutdown` gives
//! the same advice: call it after the propagation delay.) HTTP/2 has no
//! such race: GOAWAY names the last stream served, and clients retry the
//! rest elsewhere.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::Version;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use shutdown::{Counts, Phase, ShutdownHandle};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::connections::{ClosedEarly, ConnectionLimits, ConnectionSlots};
use super::requests::RequestTracker;

/// The running server, as the shutdown hooks see it.
#[derive(Debug)]
pub struct Server {
    /// Ends when the listener has been closed at stop intake.
    pub accept_loop: JoinHandle<()>,
    pub connections: TaskTracker,
    /// Cancelled by the cancel phase: drop every connection still open.
    pub force: CancellationToken,
    pub requests: Arc<RequestTracker>,
}

/// Spawns each HTTP/2 stream on the connections' tracker. hyper runs HTTP/2
/// streams as tasks of their own; with hyper-util's `TokioExecutor` nothing
/// would track them, and the cancel phase could end before a cut-off
/// stream's handler had been dropped and its pooled connection returned.
#[derive(Debug, Clone)]
struct TrackedExecutor(TaskTracker);

impl<F> hyper::rt::Executor<F> for TrackedExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.spawn(future);
    }
}

/// The tokens each connection watches, and its bounds.
#[derive(Debug, Clone)]
struct Signals {
    announce: CancellationToken,
    stop_intake: CancellationToken,
    force: CancellationToken,
    cancel_counts: Counts,
    slots: ConnectionSlots,
    header_read_timeout: Duration,
}

impl Server {
    pub fn spawn(
        listener: TcpListener,
        app: Router,
        shutdown: &ShutdownHandle,
        requests: Arc<RequestTracker>,
        limits: ConnectionLimits,
    ) -> Self {
        let signals = Signals {
            announce: shutdown.phase_started(Phase::Announce),
            stop_intake: shutdown.phase_started(Phase::StopIntake),
            force: CancellationToken::new(),
            cancel_counts: requests.cancel_counts.clone(),
            slots: ConnectionSlots::new(limits.max_connections),
            header_read_timeout: limits.header_read_timeout,
        };
        let connections = TaskTracker::new();
        let mut builder = auto::Builder::new(TrackedExecutor(connections.clone()));
        // hyper's header timer also times an idle keep-alive connection, so
        // API_HEADER_READ_TIMEOUT is both the slowloris guard and the
        // keep-alive idle timeout. Its default is longer than common
        // clients' idle timeouts, because the side that closes an idle
        // connection first must be the client: a server-side close can cross
        // a request already on the wire, and hyper's own 30 s made that race
        // an everyday event for 90 s clients.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(limits.http2_ping_interval)
            .keep_alive_timeout(limits.http2_ping_interval);
        let accept_loop = tokio::spawn(accept(
            listener,
            app,
            builder,
            signals.clone(),
            connections.clone(),
        ));
        tokio::spawn(count_in_flight_at_signal(
            signals.announce.clone(),
            requests.clone(),
        ));
        Self {
            accept_loop,
            connections,
            force: signals.force,
            requests,
        }
    }
}

async fn count_in_flight_at_signal(announce: CancellationToken, requests: Arc<RequestTracker>) {
    announce.cancelled().await;
    let counts = &requests.drain_counts;
    counts.set("requests_in_flight", requests.in_flight());
    // Present even when nothing drains, so a report always shows the figure.
    counts.add("requests_drained", 0);
}

async fn accept(
    listener: TcpListener,
    app: Router,
    builder: auto::Builder<TrackedExecutor>,
    signals: Signals,
    connections: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = signals.stop_intake.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // At the limit the connection is closed at once: the client
                // sees it and can go elsewhere, where a connection left in
                // the backlog would only hang.
                let Some(slot) = signals.slots.take() else {
                    tracing::debug!(%peer, "at API_MAX_CONNECTIONS; connection closed");
                    continue;
                };
                connections.spawn(serve(
                    stream,
                    peer,
                    app.clone(),
                    builder.clone(),
                    signals.clone(),
                    slot,
                ));
            }
            Err(error) => {
                // Out of file descriptors and the like: back off rather than
                // spin, and keep serving the connections already open.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    tracing::info!("listener closed");
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    builder: auto::Builder<TrackedExecutor>,
    signals: Signals,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    // Set once the connection is known to speak HTTP/2. Until a connection
    // has started a request, a graceful shutdown would cancel the protocol
    // detection and drop a client that connected during the delay.
    let http2 = CancellationToken::new();
    // Set by the first complete request head.
    let started = CancellationToken::new();
    let service = {
        let (http2, started) = (http2.clone(), started.clone());
        // Checked on every request; the token's own check takes a lock.
        let seen = AtomicBool::new(false);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            if !seen.swap(true, Ordering::Relaxed) {
                started.cancel();
                if request.version() == Version::HTTP_2 {
                    http2.cancel();
                }
            }
            app.clone().oneshot(request.map(axum::body::Body::new))
        })
    };
    let silent_too_long = async {
        tokio::select! {
            () = tokio::time::sleep(signals.header_read_timeout) => {}
            () = started.cancelled() => std::future::pending().await,
        }
    };
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);

    let wind_down = async {
        tokio::select! {
            () = async { signals.announce.cancelled().await; http2.cancelled().await } => {}
            () = signals.stop_intake.cancelled() => {}
        }
    };
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = wind_down => {
            // No whole request head yet: nothing is in flight, however
            // busy hyper thinks a part-read head is, and the silent timer
            // is not watched from here on. Left open, one stalled head held
            // every drain to its budget.
            if !started.is_cancelled() {
                signals.slots.closed(ClosedEarly::Draining);
                tracing::debug!(%peer, "no whole request head when the drain began; connection closed");
                return;
            }
            // HTTP/1.1: close now if idle, else after the current response.
            // HTTP/2: GOAWAY; open streams finish.
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                result = connection.as_mut() => result,
                () = signals.force.cancelled() => return forced(&signals, peer),
            }
        }
        () = signals.force.cancelled() => return forced(&signals, peer),
        () = silent_too_long => {
            signals.slots.closed(ClosedEarly::Silent);
            tracing::debug!(%peer, "no request head within API_HEADER_READ_TIMEOUT; connection closed");
            return;
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

fn forced(signals: &Signals, peer: SocketAddr) {
    signals.cancel_counts.add("connections_forced", 1);
    tracing::warn!(%peer, "connection closed by force at the end of the drain");
}
