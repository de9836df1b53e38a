//! `api`: the orders API.
//!
//! Start-up, then the shutdown order:
//! 1. readiness 503; from now on HTTP/1.1 responses carry `Connection:
//!    close`, and HTTP/2 gets GOAWAY (announce);
//! 2. keep serving while endpoint removal propagates (delay);
//! 3. close the listener and the keep-alive connections still idle; event
//!    streams end with a `retry:` hint; stop listening for order events
//!    (stop intake);
//! 4. in-flight requests finish, until the drain budget ends (drain);
//! 5. close what is left by force, and count it (cancel);
//! 6. export the metrics and spans recorded so far, bounded (flush);
//! 7. close the pool, bounded, once nothing uses it (close). The ops server
//!    answers probes and scrapes until then.

use std::process::ExitCode;

use api::config::{Args, Command};
use api::http::Server;
use api::metrics::HttpMetrics;
use api::{AppState, Limits, RequestTracker};
use service::hooks;
use service::ops::{self, OpsState};
use shutdown::Phase;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    // --- Start-up: configuration first, so bad config serves nothing. ---
    let args: Args = service::parse_args_or_exit();
    let mut shutdown = args.shutdown.build_or_exit();
    let telemetry = args.log.init_or_exit();
    service::shutdown_metrics::record(&mut shutdown);
    let handle = shutdown.handle();

    // The migrate Job builds indexes `concurrently`, which on a big table
    // takes longer than any statement timeout a serving pool should have.
    let settings: &[(&str, &str)] = match args.command {
        Some(Command::Migrate) => &[("statement_timeout", "0")],
        None => &[],
    };
    let pool = match service::db::connect_with(&args.database, settings).await {
        Ok(pool) => pool,
        Err(error) => return service::exit::database_at_start(error),
    };
    if let Some(Command::Migrate) = args.command {
        return migrate(&pool).await;
    }

    let listener = match TcpListener::bind(args.listen_addr).await {
        Ok(listener) => listener,
        Err(error) => {
            service::exit::bad_config(format!("LISTEN_ADDR {}: {error}", args.listen_addr))
        }
    };
    let requests = RequestTracker::new(handle.clone(), HttpMetrics::new());
    let ops_state = OpsState::new(handle.readiness(), Some(&pool), &telemetry);
    let ops = ops::serve_or_exit(
        args.ops_listen_addr,
        ops_state,
        handle.phase_started(Phase::Close),
    )
    .await;

    let stop_intake = handle.phase_started(Phase::StopIntake);
    let started = AppState::start(
        &pool,
        stop_intake,
        requests.clone(),
        args.event_stream_limits(),
        args.api_test_routes,
    );
    let (state, events_listener) = match started.await {
        Ok(started) => started,
        Err(error) => return service::exit::database_at_start(error),
    };
    let limits = Limits {
        request_timeout: args.api_request_timeout,
        body_limit: args.body_limit(),
        concurrency: args.concurrency_limit(),
    };
    // The pool's connections opened and the hot statements prepared before
    // `/readyz` can turn 200: a new pod's first requests pay for neither.
    // Not fatal: in an upgrade the pod may start before its migrate Job has
    // created what a statement names, and stays unready until it has.
    let warm = service::db::warm(&pool, api::db::HOT_STATEMENTS);
    if let Err(error) = warm.await {
        tracing::warn!(%error, "could not warm the pool: its statements are prepared at first use");
    }
    let app = api::app(state, limits);
    let listen_addr = listener.local_addr().unwrap_or(args.listen_addr);
    let server = Server::spawn(listener, app, &handle, requests, args.connection_limits());
    handle.readiness().mark_started();
    tracing::info!(%listen_addr, ops_addr = %ops.addr, "api ready");

    // --- Shutdown, in phase order. Announce and delay are the server's own
    // reaction to the phase tokens (see `http::server`). ---
    shutdown.on_reload("log filter", hooks::reload_logs(&telemetry));
    let Server {
        accept_loop,
        connections,
        force,
        requests,
    } = server;
    shutdown.on(
        Phase::StopIntake,
        "http listener",
        hooks::task_ended(accept_loop),
    );
    shutdown.on(
        Phase::StopIntake,
        "order events listener",
        hooks::task_ended(events_listener),
    );
    let draining = connections.clone();
    shutdown.on_counted(
        Phase::Drain,
        "http requests",
        requests.drain_counts.clone(),
        move |_ctx| async move {
            draining.close();
            draining.wait().await;
            Ok(())
        },
    );
    shutdown.on_counted(
        Phase::Cancel,
        "http requests",
        requests.cancel_counts.clone(),
        move |ctx| async move {
            ctx.counts().add("requests_forced", 0);
            ctx.counts().add("connections_forced", 0);
            requests.begin_forcing();
            force.cancel();
            connections.close();
            connections.wait().await;
            Ok(())
        },
    );
    shutdown.on(
        Phase::Flush,
        "telemetry",
        hooks::flush_telemetry(&telemetry),
    );
    shutdown.on(Phase::Close, "ops server", move |_ctx| ops.stopped());
    shutdown.on(Phase::Close, "database pool", move |_ctx| {
        service::db::close(pool)
    });

    let report = shutdown.run().await;
    service::exit::finish(&report, args.log.log_format)
}

/// `api migrate`: what a Kubernetes Job runs before the new version serves.
/// Then the INVALID indexes an interrupted concurrent build left, which the
/// migrations' `if not exists` would skip (service::invalid_indexes).
async fn migrate(pool: &sqlx::PgPool) -> ExitCode {
    if let Err(error) = service::schema::migrator().run(pool).await {
        tracing::error!(%error, "migration failed");
        return ExitCode::FAILURE;
    }
    match service::invalid_indexes::rebuild_invalid_indexes(pool).await {
        Ok(rebuilt) => {
            if !rebuilt.is_empty() {
                tracing::warn!(
                    ?rebuilt,
                    "rebuilt the INVALID indexes an interrupted build left"
                );
            }
            tracing::info!("migrations applied");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "migration failed");
            ExitCode::FAILURE
        }
    }
}
