//! A TCP proxy in front of PostgreSQL for network faults.
//!
//! - **Black hole**: the connections open through it stop passing bytes
//!   both ways, and neither side sees a close, as after a failover, a
//!   partition or a NAT's idle drop. Connections opened afterwards pass.
//! - **Partition**: the same, and every connection opened meanwhile is
//!   accepted and then hears nothing. When it heals, new connections pass,
//!   and the held ones are closed, as the closes their clients sent
//!   meanwhile now arrive.
//! - **Cut after a statement**: a connection is closed just after a
//!   statement holding a marker (in its SQL or a parameter) was forwarded
//!   with the `Sync` that ends it, so the server runs it and commits its
//!   implicit transaction (or an explicit `COMMIT`), and the client never
//!   hears. Or **before** it: the statement never reaches the server, and
//!   the client cannot tell which of the two happened.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

#[derive(Debug)]
pub struct TcpProxy {
    pub addr: SocketAddr,
    faults: Arc<Faults>,
    accept: JoinHandle<()>,
}

#[derive(Debug)]
struct Faults {
    /// One per connection passing bytes; notified, it stops.
    open: Mutex<Vec<Arc<Notify>>>,
    partitioned: AtomicBool,
    /// Counts the heals: a held connection closes at the next one.
    heals: watch::Sender<u64>,
    /// Armed with a marker: the next connection to send it is closed, both
    /// ways, before or after the statement is forwarded.
    cut_after: Mutex<Option<Cut>>,
}

#[derive(Debug)]
struct Cut {
    marker: Vec<u8>,
    /// Forward the statement, up to its `Sync`, before closing.
    forward: bool,
}

impl TcpProxy {
    /// Listens on a free local port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let faults = Arc::new(Faults {
            open: Mutex::default(),
            partitioned: AtomicBool::new(false),
            heals: watch::Sender::new(0),
            cut_after: Mutex::default(),
        });
        let accept = tokio::spawn({
            let faults = faults.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if faults.partitioned.load(Ordering::SeqCst) {
                        tokio::spawn(hold_until_healed(client, faults.heals.subscribe()));
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let hole = Arc::new(Notify::new());
                    faults.open.lock().unwrap().push(hole.clone());
                    tokio::spawn(forward(client, server, hole, faults.clone()));
                }
            }
        });
        Self {
            addr,
            faults,
            accept,
        }
    }

    /// A proxy in front of the server `database_url` names, and the same
    /// URL through it.
    pub async fn in_front_of(database_url: &str) -> (Self, String) {
        let server: sqlx::postgres::PgConnectOptions =
            database_url.parse().expect("a PostgreSQL URL");
        let upstream = tokio::net::lookup_host((server.get_host(), server.get_port()))
            .await
            .unwrap()
            .next()
            .expect("the server's address");
        let proxy = Self::start(upstream).await;
        let through = server.port(proxy.addr.port());
        let url = sqlx::ConnectOptions::to_url_lossy(&through).to_string();
        (proxy, url)
    }

    /// Cuts the next connection that sends `marker` (`b"COMMIT"`, or a
    /// parameter's value), once the statement's `Sync` is forwarded: the
    /// server has the whole statement and commits it.
    pub fn cut_after_next_statement_with(&self, marker: &[u8]) {
        *self.faults.cut_after.lock().unwrap() = Some(Cut {
            marker: marker.to_vec(),
            forward: true,
        });
    }

    /// Cuts the next connection that sends `marker` instead of forwarding
    /// it: the server never sees the statement.
    pub fn cut_before_next_statement_with(&self, marker: &[u8]) {
        *self.faults.cut_after.lock().unwrap() = Some(Cut {
            marker: marker.to_vec(),
            forward: false,
        });
    }

    /// Stops every connection open now, without closing any.
    pub fn black_hole_open_connections(&self) {
        for hole in self.faults.open.lock().unwrap().drain(..) {
            hole.notify_one();
        }
    }

    /// Black-holes every open connection and every new one, until
    /// [`TcpProxy::heal`].
    pub fn partition(&self) {
        self.faults.partitioned.store(true, Ordering::SeqCst);
        self.black_hole_open_connections();
    }

    /// New connections pass again; the black-holed ones are closed.
    pub fn heal(&self) {
        self.faults.partitioned.store(false, Ordering::SeqCst);
        self.faults.heals.send_modify(|heals| *heals += 1);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn hold_until_healed<T>(held: T, mut heals: watch::Receiver<u64>) {
    let _ = heals.changed().await;
    drop(held);
}

/// Copies both ways until either side closes; black-holed, holds both
/// sockets silent until the next heal; with a cut armed, stops once the
/// marked statement has been forwarded.
async fn forward(
    mut client: TcpStream,
    mut server: TcpStream,
    hole: Arc<Notify>,
    faults: Arc<Faults>,
) {
    let heals = faults.heals.subscribe();
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let never = Mutex::default();
    let copy = async {
        tokio::select! {
            copied = copy_until(&mut client_read, &mut server_write, &faults.cut_after) => {
                // Forwarded, the statement is the server's; its answer is
                // read here and dropped, so the commit is done before the
                // client's connection closes, and the client never hears.
                if let Ok(Copied::ForwardedMarked) = copied {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        read_until_ready_for_query(&mut server_read),
                    )
                    .await;
                }
            }
            _ = copy_until(&mut server_read, &mut client_write, &never) => {}
        }
    };
    tokio::select! {
        () = copy => {}
        () = hole.notified() => hold_until_healed((), heals).await,
    }
}

/// How a copy ended.
#[derive(Debug, PartialEq, Eq)]
enum Copied {
    /// `from` closed, or the marked chunk was dropped unforwarded.
    Ended,
    /// The marked statement was forwarded, up to its `Sync`.
    ForwardedMarked,
}

/// Reads from the server until its `ReadyForQuery` (type `Z`, length 5),
/// which follows the commit of the statement before it, or until it closes.
async fn read_until_ready_for_query(from: &mut (impl AsyncReadExt + Unpin)) {
    const READY_FOR_QUERY: &[u8] = b"Z\0\0\0\x05";
    let mut seen = Vec::new();
    let mut buffer = [0; 8192];
    while let Ok(read @ 1..) = from.read(&mut buffer).await {
        seen.extend_from_slice(&buffer[..read]);
        if find(&seen, READY_FOR_QUERY).is_some() {
            return;
        }
    }
}

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|bytes| bytes == needle)
}

/// Copies until `from` closes, or, with `cut` armed, until the marker
/// arrives: then, forwarding, until the marker and a `Sync` after it have
/// been written, or else at once, without writing the marked chunk. Either
/// disarms it. A read may end anywhere in a message, so the `Sync` is
/// looked for after the marker, across the reads that follow it.
async fn copy_until(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    cut: &Mutex<Option<Cut>>,
) -> std::io::Result<Copied> {
    /// The frontend's `Sync`: type `S`, length 4.
    const SYNC: &[u8] = b"S\0\0\0\x04";
    let mut buffer = [0; 8192];
    // From the marker on: what was forwarded since, searched for the Sync.
    let mut after_marker: Option<Vec<u8>> = None;
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(Copied::Ended);
        }
        let chunk = &buffer[..read];
        // Where this chunk's part after the marker begins, if it has one.
        let mut from_marker = 0;
        if after_marker.is_none() {
            let marked = {
                let mut armed = cut.lock().unwrap();
                let at = armed.as_ref().and_then(|cut| find(chunk, &cut.marker));
                at.map(|at| (at, armed.take().is_some_and(|cut| cut.forward)))
            };
            match marked {
                Some((_, false)) => return Ok(Copied::Ended),
                Some((at, true)) => {
                    after_marker = Some(Vec::new());
                    from_marker = at;
                }
                None => {}
            }
        }
        to.write_all(chunk).await?;
        if let Some(since) = after_marker.as_mut() {
            since.extend_from_slice(&chunk[from_marker..]);
            if find(since, SYNC).is_some() {
                return Ok(Copied::ForwardedMarked);
            }
        }
    }
}
