//! The Service proxy with real sockets: backends answer every line with
//! their own name, so the client can see where each connection landed.

use std::net::SocketAddr;
use std::time::Duration;

use drill::proxy::{Endpoints, Proxy};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// A backend that answers each line with `name`, on any number of
/// connections, until dropped.
struct Backend {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Backend {
    async fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    while let Ok(Some(_)) = lines.next_line().await {
                        if write
                            .write_all(format!("{name}\n").as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, task }
    }

    /// Stops listening; connections already open keep being served.
    fn stop_listening(&self) {
        self.task.abort();
    }
}

struct Client {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
        Self {
            lines: BufReader::new(read).lines(),
            write,
        }
    }

    /// Who answers on this connection; `None` if it was closed or reset.
    async fn who(&mut self) -> Option<String> {
        self.write.write_all(b"who\n").await.ok()?;
        timeout(Duration::from_secs(5), self.lines.next_line())
            .await
            .expect("an answer or a close within 5 s")
            .ok()
            .flatten()
    }
}

async fn proxy_with(backends: &[&Backend]) -> Proxy {
    let endpoints = Endpoints::default();
    for backend in backends {
        endpoints.add(backend.addr);
    }
    Proxy::bind("127.0.0.1:0".parse().unwrap(), endpoints)
        .await
        .unwrap()
}

#[tokio::test]
async fn new_connections_are_spread_over_the_ready_endpoints() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = proxy_with(&[&a, &b]).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(Client::connect(proxy.addr()).await.who().await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, ["a", "a", "b", "b"]);
}

#[tokio::test]
async fn an_established_connection_stays_pinned_after_its_endpoint_is_removed() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = proxy_with(&[&a]).await;
    let mut pinned = Client::connect(proxy.addr()).await;
    assert_eq!(pinned.who().await.as_deref(), Some("a"));

    proxy.endpoints.remove(a.addr);
    proxy.endpoints.add(b.addr);
    assert_eq!(proxy.endpoints.ready(), [b.addr]);

    for _ in 0..3 {
        let mut fresh = Client::connect(proxy.addr()).await;
        assert_eq!(
            fresh.who().await.as_deref(),
            Some("b"),
            "new connections go to the new endpoint"
        );
        assert_eq!(
            pinned.who().await.as_deref(),
            Some("a"),
            "the old connection stays where it was"
        );
    }
}

#[tokio::test]
async fn an_added_endpoint_gets_new_connections() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = proxy_with(&[&a]).await;
    assert_eq!(
        Client::connect(proxy.addr()).await.who().await.as_deref(),
        Some("a")
    );
    proxy.endpoints.add(b.addr);
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(Client::connect(proxy.addr()).await.who().await.unwrap());
    }
    assert!(seen.contains(&"b".to_owned()), "{seen:?}");
}

#[tokio::test]
async fn without_endpoints_a_connection_is_closed_unanswered() {
    let proxy = proxy_with(&[]).await;
    assert_eq!(Client::connect(proxy.addr()).await.who().await, None);
    assert_eq!(proxy.stats().connections_without_endpoint, 1);
}

#[tokio::test]
async fn an_endpoint_whose_pod_is_gone_resets_new_connections() {
    let a = Backend::start("a").await;
    let proxy = proxy_with(&[&a]).await;
    a.stop_listening();
    // Let the abort land, so that the port refuses.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(Client::connect(proxy.addr()).await.who().await, None);
    assert_eq!(proxy.stats().connections_backend_unreachable, 1);
}
