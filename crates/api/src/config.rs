//! The API's settings. Every one has an environment variable, because that is
//! where a Deployment sets it, and `api --help` names each.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use service::{DatabaseArgs, LogArgs, ShutdownArgs};

#[derive(Debug, Parser)]
#[command(
    name = "api",
    about = "The orders API: creates orders with their fulfilment job in one transaction, and drains without dropping a request."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Where the orders API listens.
    #[arg(
        long,
        env = "LISTEN_ADDR",
        value_name = "LISTEN_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub listen_addr: SocketAddr,

    /// livez, readyz and metrics. Served until the flush phase ends, so the
    /// last scrape sees the drain.
    #[arg(
        long,
        env = "OPS_LISTEN_ADDR",
        value_name = "OPS_LISTEN_ADDR",
        default_value = "0.0.0.0:9090"
    )]
    pub ops_listen_addr: SocketAddr,

    /// Longest a request may take to produce its response head; past it the
    /// client gets 503. Event streams are not cut by it once they started.
    #[arg(long, env = "API_REQUEST_TIMEOUT", value_name = "API_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub api_request_timeout: Duration,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "API_BODY_LIMIT", value_name = "API_BODY_LIMIT", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1..=64 * 1024 * 1024))]
    pub api_body_limit: u64,

    /// Requests handled at once. Beyond it requests are shed at once with
    /// 503 and Retry-After, rather than queued until they time out.
    #[arg(long, env = "API_CONCURRENCY_LIMIT", value_name = "API_CONCURRENCY_LIMIT", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub api_concurrency_limit: u64,

    /// Connections open at once. Past it a new connection is closed as soon
    /// as it is accepted (and counted in `api.connections.closed_early`), so
    /// idle sockets cannot use up the process's file descriptors.
    #[arg(long, env = "API_MAX_CONNECTIONS", value_name = "API_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub api_max_connections: u64,

    /// How long a connection may take to send a complete request head, from
    /// when it opens or its last response ends: the guard against silent
    /// and slowloris connections, and the keep-alive idle timeout. Longer
    /// than clients' own idle timeouts (90 s for reqwest and Go), so the
    /// client is the side that closes an idle connection.
    #[arg(long, env = "API_HEADER_READ_TIMEOUT", value_name = "API_HEADER_READ_TIMEOUT", default_value = "120s", value_parser = parse_timeout)]
    pub api_header_read_timeout: Duration,

    /// How often an HTTP/2 connection is pinged; one not answered within the
    /// same time is closed, so a client that vanished frees its connection.
    #[arg(long, env = "API_HTTP2_PING_INTERVAL", value_name = "API_HTTP2_PING_INTERVAL", default_value = "20s", value_parser = parse_timeout)]
    pub api_http2_ping_interval: Duration,

    /// Event streams open at once. Past it `GET /v1/orders/{id}/events`
    /// gets 503 with Retry-After: a stream holds its connection for minutes,
    /// and the request concurrency limit stops counting it once it started.
    #[arg(long, env = "API_MAX_EVENT_STREAMS", value_name = "API_MAX_EVENT_STREAMS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub api_max_event_streams: u64,

    /// The longest an event stream stays open. Then it ends with a `retry:`
    /// hint and the client reconnects, so streams spread over new replicas
    /// and a stream on an order that never changes does not live forever.
    #[arg(long, env = "API_EVENT_STREAM_LIFETIME", value_name = "API_EVENT_STREAM_LIFETIME", default_value = "10m", value_parser = parse_timeout)]
    pub api_event_stream_lifetime: Duration,

    /// Adds `/test/slow`, which the drain tests need as a request that is
    /// still running when the signal arrives. Never set it in production.
    #[arg(long, env = "API_TEST_ROUTES", hide = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub api_test_routes: bool,

    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the embedded database migrations, then exit. For a Kubernetes
    /// Job or the compose stack, run before the new version serves.
    Migrate,
}

/// A zero timeout would fail every request; it is a typo, not a choice.
fn parse_timeout(value: &str) -> Result<Duration, String> {
    match humantime::parse_duration(value) {
        Ok(timeout) if !timeout.is_zero() => Ok(timeout),
        Ok(_) => Err("must be more than zero".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

impl Args {
    pub fn body_limit(&self) -> usize {
        usize::try_from(self.api_body_limit).unwrap_or(usize::MAX)
    }

    pub fn concurrency_limit(&self) -> usize {
        usize::try_from(self.api_concurrency_limit).unwrap_or(usize::MAX)
    }

    pub fn connection_limits(&self) -> crate::http::ConnectionLimits {
        crate::http::ConnectionLimits {
            max_connections: usize::try_from(self.api_max_connections).unwrap_or(usize::MAX),
            header_read_timeout: self.api_header_read_timeout,
            http2_ping_interval: self.api_http2_ping_interval,
        }
    }

    pub fn event_stream_limits(&self) -> crate::routes::events::StreamLimits {
        crate::routes::events::StreamLimits {
            max_streams: usize::try_from(self.api_max_event_streams).unwrap_or(usize::MAX),
            lifetime: self.api_event_stream_lifetime,
        }
    }
}
