//! The bounds on connections, from real sockets: a cap, a deadline for the
//! first request head (silent and slowloris connections), the keep-alive
//! idle timeout, and pings that find a vanished HTTP/2 client.

mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{Api, sample, start};

/// Reads and discards until the server closes the connection; how long
/// that took, or `None` if it was still open after `within`.
async fn closed_after(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// One HTTP/1.1 request on `stream`, reading just the response head.
async fn request(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: api\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buffer = [0; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed before a response");
        response.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&response).into_owned()
}

async fn closed_early(api: &Api, reason: &str) -> Option<f64> {
    sample(
        &api.metrics().await,
        "api_connections_closed_early_total",
        &[("reason", reason)],
    )
}

#[tokio::test]
async fn a_connection_that_sends_no_request_head_in_time_is_closed() {
    let api = start(&[("API_HEADER_READ_TIMEOUT", "500ms")]).await;

    // Silent: connects and sends nothing.
    let mut silent = TcpStream::connect(api.addr).await.unwrap();
    let closed = closed_after(&mut silent, Duration::from_secs(3)).await;
    assert!(
        closed.is_some_and(|after| after >= Duration::from_millis(400)),
        "silent connection closed after {closed:?}"
    );
    assert_eq!(closed_early(&api, "silent").await, Some(1.0));

    // Slowloris: a request head, a header every 100 ms, never the end.
    let mut slow = TcpStream::connect(api.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: api\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(b"x-slow: 1\r\n").await.is_err() {
                return started.elapsed();
            }
        }
    };
    let cut_after = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    assert!(
        cut_after
            .as_ref()
            .is_ok_and(|after| *after < Duration::from_secs(2)),
        "a trickled head was not cut: {cut_after:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let api = start(&[("API_HEADER_READ_TIMEOUT", "800ms")]).await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    assert!(request(&mut stream).await.starts_with("HTTP/1.1 200"));
    let closed = closed_after(&mut stream, Duration::from_secs(3)).await;
    assert!(
        closed.is_some_and(|after| after >= Duration::from_millis(600)),
        "idle connection closed after {closed:?}"
    );
}

#[tokio::test]
async fn past_api_max_connections_a_connection_is_closed_at_once_and_counted() {
    let api = start(&[("API_MAX_CONNECTIONS", "2")]).await;
    let mut first = TcpStream::connect(api.addr).await.unwrap();
    let mut second = TcpStream::connect(api.addr).await.unwrap();
    assert!(request(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(request(&mut second).await.starts_with("HTTP/1.1 200"));

    let mut third = TcpStream::connect(api.addr).await.unwrap();
    let closed = closed_after(&mut third, Duration::from_secs(1)).await;
    assert!(closed.is_some(), "the third connection stayed open");
    // The metrics are on the ops port, which has no such cap.
    assert_eq!(closed_early(&api, "at_limit").await, Some(1.0));

    // A slot frees when a connection ends.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut next = TcpStream::connect(api.addr).await.unwrap();
        if next
            .write_all(b"GET / HTTP/1.1\r\nhost: api\r\n\r\n")
            .await
            .is_ok()
        {
            let mut buffer = [0; 64];
            if matches!(next.read(&mut buffer).await, Ok(read) if read > 0) {
                assert!(buffer.starts_with(b"HTTP/1.1 200"));
                break;
            }
        }
        assert!(Instant::now() < deadline, "no slot freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// HTTP/2 by hand: the preface, empty SETTINGS, and one GET / (HPACK
/// static-table entries and a literal `:authority`), then nothing at all:
/// no SETTINGS ack, no PING ack, as from a client that vanished.
const HTTP2_GET_THEN_SILENCE: &[u8] = &[
    // Connection preface.
    b'P', b'R', b'I', b' ', b'*', b' ', b'H', b'T', b'T', b'P', b'/', b'2', b'.', b'0', b'\r',
    b'\n', b'\r', b'\n', b'S', b'M', b'\r', b'\n', b'\r', b'\n', // SETTINGS, empty.
    0, 0, 0, 0x4, 0, 0, 0, 0, 0,
    // HEADERS, stream 1, END_STREAM | END_HEADERS: :method GET, :scheme
    // http, :path /, :authority "x".
    0, 0, 6, 0x1, 0x5, 0, 0, 0, 1, 0x82, 0x86, 0x84, 0x41, 0x01, b'x',
];

#[tokio::test]
async fn an_http2_client_that_stops_answering_pings_is_disconnected() {
    let api = start(&[
        ("API_HTTP2_PING_INTERVAL", "300ms"),
        // Long, so only the pings can end the connection.
        ("API_HEADER_READ_TIMEOUT", "60s"),
    ])
    .await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    stream.write_all(HTTP2_GET_THEN_SILENCE).await.unwrap();
    let closed = closed_after(&mut stream, Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|after| after >= Duration::from_millis(300)),
        "a silent HTTP/2 client was disconnected after {closed:?}"
    );
}
