//! A TCP proxy in front of PostgreSQL for network faults.
//!
//! - **Black hole**: the connections open through it stop passing bytes
//!   both ways, and neither side sees a close, as after a failover, a
//!   partition or a NAT's idle drop. Connections opened afterwards pass.
//! - **Partition**: the same, and every connection opened meanwhile is
//!   accepted and then hears nothing. When it heals, new connections pass,
//!   and the held ones are closed, as the closes their clients sent
//!   meanwhile now arrive.
//! - **Cut after `COMMIT`**: a connection is closed just after a `COMMIT`
//!   was forwarded, so the server commits and the client never hears.

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
    /// Armed: the next connection to send a `COMMIT` is closed, both ways,
    /// right after the `COMMIT` is forwarded.
    cut_after_commit: AtomicBool,
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
            cut_after_commit: AtomicBool::new(false),
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

    /// Cuts the next connection that sends a `COMMIT`, once it is forwarded.
    pub fn cut_after_next_commit(&self) {
        self.faults.cut_after_commit.store(true, Ordering::SeqCst);
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
/// sockets silent until the next heal; with a cut armed, stops once a
/// `COMMIT` has been forwarded.
async fn forward(
    mut client: TcpStream,
    mut server: TcpStream,
    hole: Arc<Notify>,
    faults: Arc<Faults>,
) {
    let heals = faults.heals.subscribe();
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let never = AtomicBool::new(false);
    let copy = async {
        tokio::select! {
            _ = copy_until(&mut client_read, &mut server_write, &faults.cut_after_commit) => {}
            _ = copy_until(&mut server_read, &mut client_write, &never) => {}
        }
    };
    tokio::select! {
        () = copy => {}
        () = hole.notified() => hold_until_healed((), heals).await,
    }
}

/// Copies until `from` closes, or, with `cut` armed, until a chunk holding
/// a `COMMIT` query has been written (disarming it).
async fn copy_until(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    cut: &AtomicBool,
) -> std::io::Result<()> {
    let mut buffer = [0; 8192];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        to.write_all(&buffer[..read]).await?;
        let commit = buffer[..read].windows(7).any(|bytes| bytes == b"COMMIT\0");
        if commit && cut.swap(false, Ordering::SeqCst) {
            to.flush().await?;
            return Ok(());
        }
    }
}
