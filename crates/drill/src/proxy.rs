//! The Service: an L4 TCP proxy that behaves like kube-proxy with conntrack.
//!
//! Only *new* connections are spread over the ready endpoints (round robin);
//! an established connection stays pinned to the backend it was given for
//! its whole life, even after that endpoint is removed. That is exactly why
//! a server must close its keep-alive connections when it drains, and this
//! proxy lets the drill see whether it does.
//!
//! Written here rather than taken from a library because the point is to
//! model kube-proxy's rules (pinning, endpoint lag, resets), not to be a good
//! proxy; `copy_bidirectional` does the byte shuffling.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// A dead backend on loopback refuses at once. A live one that is too busy
/// to accept drops SYNs, which the kernel retries for a long time; kube-proxy
/// adds no timeout of its own, so this one only stops a leak and is longer
/// than any client's request timeout.
const BACKEND_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause after a failed accept (out of file descriptors, say), as the
/// api's own accept loop takes: retrying at once would only spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The ready endpoints of a Service, shared by the rollout (which adds and
/// removes them) and the proxy (which picks from them).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    ready: Arc<Mutex<Vec<SocketAddr>>>,
    next: Arc<AtomicUsize>,
}

impl Endpoints {
    pub fn add(&self, addr: SocketAddr) {
        let mut ready = self.ready.lock().unwrap();
        if !ready.contains(&addr) {
            ready.push(addr);
        }
    }

    pub fn remove(&self, addr: SocketAddr) {
        self.ready.lock().unwrap().retain(|ready| *ready != addr);
    }

    pub fn ready(&self) -> Vec<SocketAddr> {
        self.ready.lock().unwrap().clone()
    }

    /// Round robin over the endpoints ready at this moment.
    fn pick(&self) -> Option<SocketAddr> {
        let ready = self.ready.lock().unwrap();
        if ready.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Some(ready[turn % ready.len()])
    }
}

/// What the proxy saw, for the report: connections it could not place are
/// the failures a client sees as resets.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    no_endpoint: AtomicU64,
    backend_unreachable: AtomicU64,
    last_backend_error: Mutex<Option<String>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProxyStats {
    pub connections_accepted: u64,
    pub connections_without_endpoint: u64,
    pub connections_backend_unreachable: u64,
    /// Why the last backend connect failed, when one did.
    pub last_backend_error: Option<String>,
}

#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    pub endpoints: Endpoints,
    counters: Arc<Counters>,
    stop: CancellationToken,
    accept_loop: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `addr` (port 0 picks one) and starts forwarding.
    pub async fn bind(addr: SocketAddr, endpoints: Endpoints) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let stop = CancellationToken::new();
        let accept_loop = tokio::spawn(accept(
            listener,
            endpoints.clone(),
            counters.clone(),
            stop.clone(),
        ));
        Ok(Self {
            addr,
            endpoints,
            counters,
            stop,
            accept_loop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            connections_accepted: self.counters.accepted.load(Ordering::Relaxed),
            connections_without_endpoint: self.counters.no_endpoint.load(Ordering::Relaxed),
            connections_backend_unreachable: self
                .counters
                .backend_unreachable
                .load(Ordering::Relaxed),
            last_backend_error: self.counters.last_backend_error.lock().unwrap().clone(),
        }
    }

    /// Stops accepting. Established connections are left to end on their own.
    pub async fn shutdown(mut self) -> ProxyStats {
        self.stop.cancel();
        let _ = (&mut self.accept_loop).await;
        self.stats()
    }
}

async fn accept(
    listener: TcpListener,
    endpoints: Endpoints,
    counters: Arc<Counters>,
    stop: CancellationToken,
) {
    loop {
        let client = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(error) => {
                    eprintln!("drill: warning: the proxy cannot accept: {error}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let Some(backend) = endpoints.pick() else {
            counters.no_endpoint.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            continue;
        };
        tokio::spawn(relay(client, backend, counters.clone()));
    }
}

/// Pins `client` to `backend` until either side is done.
async fn relay(mut client: TcpStream, backend: SocketAddr, counters: Arc<Counters>) {
    let _ = client.set_nodelay(true);
    let connected = timeout(BACKEND_CONNECT_TIMEOUT, TcpStream::connect(backend)).await;
    let mut upstream = match connected {
        Ok(Ok(upstream)) => upstream,
        // kube-proxy would let the pod's RST through; the client has been
        // accepted here already, so it gets a reset of its own instead.
        failed => {
            let error = match failed {
                Ok(Err(error)) => format!("{backend}: {error}"),
                _ => format!("{backend}: no answer within {BACKEND_CONNECT_TIMEOUT:?}"),
            };
            counters.backend_unreachable.fetch_add(1, Ordering::Relaxed);
            *counters.last_backend_error.lock().unwrap() = Some(error);
            reset(&client);
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    // A clean close (FIN) is passed on as a half-close by the copy itself;
    // an abortive one must reach the other side as a reset, as it would
    // through DNAT, not as a polite end of stream.
    if tokio::io::copy_bidirectional(&mut client, &mut upstream)
        .await
        .is_err()
    {
        reset(&client);
        reset(&upstream);
    }
}

/// Makes the coming drop send RST instead of FIN.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}
