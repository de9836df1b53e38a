//! A TCP proxy in front of PostgreSQL that can black-hole the connections
//! open through it: their bytes stop flowing both ways, and neither side
//! sees a close, as after a failover, a partition or a NAT's idle drop.
//! Connections opened afterwards pass. It can also cut a connection just
//! after forwarding a `COMMIT`, so the server commits and the client never
//! hears whether it did.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

#[derive(Debug)]
pub struct TcpProxy {
    pub addr: SocketAddr,
    /// One per connection opened so far; notified, it stops that
    /// connection's bytes.
    open: Arc<Mutex<Vec<Arc<Notify>>>>,
    /// Armed: the next connection to send a `COMMIT` is closed, both ways,
    /// right after the `COMMIT` is forwarded.
    cut_after_commit: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free local port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open: Arc<Mutex<Vec<Arc<Notify>>>> = Arc::default();
        let cut_after_commit = Arc::new(AtomicBool::new(false));
        let accept = tokio::spawn({
            let open = open.clone();
            let cut_after_commit = cut_after_commit.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let hole = Arc::new(Notify::new());
                    open.lock().unwrap().push(hole.clone());
                    tokio::spawn(forward(client, server, hole, cut_after_commit.clone()));
                }
            }
        });
        Self {
            addr,
            open,
            cut_after_commit,
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
        self.cut_after_commit.store(true, Ordering::SeqCst);
    }

    /// Stops every connection open now, without closing any.
    pub fn black_hole_open_connections(&self) {
        for hole in self.open.lock().unwrap().drain(..) {
            hole.notify_one();
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies both ways until either side closes, or until `hole`, after which
/// the sockets are held open and nothing more is read or written; or, with
/// `cut_after_commit` armed, until a `COMMIT` has been forwarded.
async fn forward(
    mut client: TcpStream,
    mut server: TcpStream,
    hole: Arc<Notify>,
    cut_after_commit: Arc<AtomicBool>,
) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let never = AtomicBool::new(false);
    let copy = async {
        tokio::select! {
            _ = copy_until(&mut client_read, &mut server_write, &cut_after_commit) => {}
            _ = copy_until(&mut server_read, &mut client_write, &never) => {}
        }
    };
    tokio::select! {
        () = copy => {}
        () = hole.notified() => std::future::pending().await,
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
