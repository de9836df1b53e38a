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
            _ = copy_until(&mut client_read, &mut server_write, &faults.cut_after) => {}
            _ = copy_until(&mut server_read, &mut client_write, &never) => {}
        }
    };
    tokio::select! {
        () = copy => {}
        () = hole.notified() => hold_until_healed((), heals).await,
    }
}

/// Copies until `from` closes, or, with `cut` armed, until the marker
/// arrives: then, forwarding, until the marker and a `Sync` after it have
/// been written, or else at once, without writing the marked chunk. Either
/// disarms it.
async fn copy_until(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    cut: &Mutex<Option<Cut>>,
) -> std::io::Result<()> {
    /// The frontend's `Sync`: type `S`, length 4.
    const SYNC: &[u8] = b"S\0\0\0\x04";
    let contains = |haystack: &[u8], needle: &[u8]| {
        haystack.windows(needle.len()).any(|bytes| bytes == needle)
    };
    let mut buffer = [0; 8192];
    let mut marked = false;
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        let chunk = &buffer[..read];
        if !marked {
            let mut armed = cut.lock().unwrap();
            if armed
                .as_ref()
                .is_some_and(|cut| contains(chunk, &cut.marker))
            {
                let forward = armed.take().is_some_and(|cut| cut.forward);
                if !forward {
                    return Ok(());
                }
                marked = true;
            }
        }
        to.write_all(chunk).await?;
        if marked && contains(chunk, SYNC) {
            to.flush().await?;
            return Ok(());
        }
    }
}
