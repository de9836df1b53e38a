//! A TCP proxy in front of PostgreSQL that can black-hole the connections
//! open through it: their bytes stop flowing both ways, and neither side
//! sees a close, as after a failover, a partition or a NAT's idle drop.
//! Connections opened afterwards pass.

use std::net::SocketAddr;
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
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free local port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open: Arc<Mutex<Vec<Arc<Notify>>>> = Arc::default();
        let accept = tokio::spawn({
            let open = open.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let hole = Arc::new(Notify::new());
                    open.lock().unwrap().push(hole.clone());
                    tokio::spawn(forward(client, server, hole));
                }
            }
        });
        Self { addr, open, accept }
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
/// the sockets are held open and nothing more is read or written.
async fn forward(mut client: TcpStream, mut server: TcpStream, hole: Arc<Notify>) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let copy = async {
        tokio::select! {
            _ = copy_until_closed(&mut client_read, &mut server_write) => {}
            _ = copy_until_closed(&mut server_read, &mut client_write) => {}
        }
    };
    tokio::select! {
        () = copy => {}
        () = hole.notified() => std::future::pending().await,
    }
}

async fn copy_until_closed(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
) -> std::io::Result<()> {
    let mut buffer = [0; 8192];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        to.write_all(&buffer[..read]).await?;
    }
}
