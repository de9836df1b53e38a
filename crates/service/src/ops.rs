//! The ops server: `/livez`, `/readyz` and `/metrics` on their own port, so
//! probes and scrapes never queue behind traffic, and so they can outlive the
//! traffic listener: it is served until the flush phase ends, letting the
//! last scrape see the drain.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shutdown::{HookError, Readiness};
use sqlx::PgPool;
use telemetry::Telemetry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Renders the Prometheus text exposition.
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
pub struct OpsState {
    pub readiness: Readiness,
    /// Checked by `/readyz`; `None` for a process without a database.
    pub pool: Option<PgPool>,
    pub metrics: MetricsText,
}

impl OpsState {
    /// What a service's ops port serves: its readiness, its pool (`None`
    /// without a database), and its telemetry's Prometheus text.
    pub fn new(readiness: &Readiness, pool: Option<&PgPool>, telemetry: &Telemetry) -> Self {
        let otel = telemetry.otel.clone();
        Self {
            readiness: readiness.clone(),
            pool: pool.cloned(),
            metrics: Arc::new(move || otel.prometheus_text()),
        }
    }
}

impl std::fmt::Debug for OpsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsState")
            .field("readiness", &self.readiness)
            .field("pool", &self.pool.is_some())
            .finish_non_exhaustive()
    }
}

pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<OpsState>) -> Response {
    if !state.readiness.is_ready() {
        let why = if state.readiness.is_shutting_down() {
            "shutting down"
        } else {
            "starting"
        };
        return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    let Some(pool) = &state.pool else {
        return (StatusCode::OK, "ready").into_response();
    };
    // One bound for the whole check, so `/readyz` answers within it, well
    // inside the kubelet's default probe timeout of 1 s. Two calls bounded
    // each took up to twice as long.
    let database = async {
        sqlx::query("select 1").execute(pool).await?;
        crate::schema::missing_migrations(pool).await
    };
    match crate::db::bounded(crate::db::READINESS_TIMEOUT, database).await {
        Ok(missing) if missing.is_empty() => (StatusCode::OK, "ready").into_response(),
        Ok(missing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "schema_behind",
                "message": "the database lacks migrations this release needs; ready once the migrate Job applies them",
                "missing_migrations": missing,
            })),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

async fn metrics(State(state): State<OpsState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        (state.metrics)(),
    )
}

/// The ops server, running.
#[derive(Debug)]
pub struct OpsServer {
    pub addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl OpsServer {
    /// Ends once the server has wound down: `main` registers this in the
    /// close phase, whose start is the server's `stop`.
    pub async fn stopped(self) -> Result<(), HookError> {
        self.task.await??;
        Ok(())
    }
}

/// [`serve`], or exit 2 naming `OPS_LISTEN_ADDR` if the port cannot be
/// bound: before anything is served, like any bad setting.
pub async fn serve_or_exit(
    addr: SocketAddr,
    state: OpsState,
    stop: CancellationToken,
) -> OpsServer {
    match serve(addr, state, stop).await {
        Ok(ops) => ops,
        Err(error) => crate::exit::bad_config(format!("OPS_LISTEN_ADDR {addr}: {error}")),
    }
}

/// Binds the ops port and serves it until `stop` (the close phase's start,
/// so the last scrape sees the drain and the flush).
pub async fn serve(
    addr: SocketAddr,
    state: OpsState,
    stop: CancellationToken,
) -> std::io::Result<OpsServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(listener, router(state))
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    Ok(OpsServer { addr, task })
}
