//! The database pool: opened at start-up, closed last, inside a budget, and
//! every call through it bounded in time.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::DatabaseArgs;

/// How long `/readyz` waits for the database. Under the kubelet's default 1 s
/// probe timeout, so that a database that does not answer makes the probe
/// fail with a 503, not time out.
pub const READINESS_TIMEOUT: Duration = Duration::from_millis(500);

/// Connects, or explains which setting to look at.
///
/// Every session gets a `statement_timeout`, and TCP keepalives from the
/// server's side so that PostgreSQL notices a client that vanished and frees
/// its locks. sqlx 0.9 cannot set keepalives on its own sockets (the option
/// is an open pull request), so a server that vanishes is noticed by the
/// client-side bound on each call instead ([`bounded`]).
pub async fn connect(args: &DatabaseArgs) -> Result<PgPool, sqlx::Error> {
    connect_with(args, &[]).await
}

/// [`connect`], with more session settings for every connection.
///
/// The pool opens one connection here, to tell a wrong setting at start-up;
/// the rest of its minimum is left to [`warm`], which opens them spaced
/// out. sqlx's eager `connect_with` would open the whole minimum back to
/// back, and a worker's minimum is a connection per job slot.
pub async fn connect_with(
    args: &DatabaseArgs,
    settings: &[(&str, &str)],
) -> Result<PgPool, sqlx::Error> {
    let statement_timeout = format!("{}ms", args.database_statement_timeout.as_millis());
    let options = args
        .database_url
        .clone()
        .options([
            ("statement_timeout", statement_timeout.as_str()),
            ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"),
            ("tcp_keepalives_count", "3"),
        ])
        .options(settings.iter().copied());
    let pool = PgPoolOptions::new()
        .max_connections(args.database_max_connections)
        .min_connections(args.min_connections())
        .acquire_timeout(args.database_acquire_timeout)
        // sqlx's default idle timeout (10 minutes) closes every idle
        // connection after a quiet spell, the minimum too, and opens each
        // replacement at once, back to back and unprepared: the churn that
        // `warm` spaces out, and the handshakes it keeps off the first
        // requests. Off, a connection lives until sqlx's max lifetime (30
        // minutes), replaced as it is returned past it, one at a time.
        .idle_timeout(None)
        .connect_lazy_with(options);
    drop(pool.acquire().await?);
    Ok(pool)
}

/// Opens the pool's `min_connections`, one every [`CONNECTION_SPACING`],
/// and prepares `statements` on each, for a service to do before it says
/// it is ready.
///
/// A new pod's first requests otherwise open the pool's connections (a TCP
/// and authentication handshake each) and parse their statements, while
/// the proxy is already sending them traffic: that was part of the latency
/// tail in the seconds after a new pod joins (docs/benchmarks.md, "Latency
/// through a rollout"). sqlx keeps a connection's prepared statements in
/// its cache, and `min_connections`, with no idle timeout, keeps the
/// connections open while the service serves.
///
/// Spaced out because each new connection starts a PostgreSQL backend,
/// whose first statements cost the server 13 to 25 ms of CPU (a profile
/// on a two-core machine: the fork, page faults on the shared memory, the
/// catalog caches). A worker's pool opened in the same instant took both
/// cores, and every request the database served meanwhile waited.
pub async fn warm(pool: &PgPool, statements: &[&'static str]) -> Result<(), sqlx::Error> {
    use sqlx::{Executor as _, SqlSafeStr as _};
    // Held together, so that each acquire opens a connection of its own,
    // once the idle ones are taken. The spacing comes before any acquire
    // that may open one: the connection `connect_with` checked may still be
    // on its way back to the pool (sqlx returns it in a task of its own).
    let mut held = Vec::new();
    for _ in 0..pool.options().get_min_connections() {
        if pool.num_idle() == 0 {
            tokio::time::sleep(CONNECTION_SPACING).await;
        }
        let mut connection = pool.acquire().await?;
        for statement in statements {
            connection.prepare(statement.into_sql_str()).await?;
        }
        held.push(connection);
    }
    Ok(())
}

/// Between two connections opened at start-up or closed at shutdown: about
/// what a new backend costs the server in CPU, so that opening a pool takes
/// at most about half a core, and closing one (an exiting backend costs 3
/// to 5 ms) less.
pub const CONNECTION_SPACING: Duration = Duration::from_millis(20);

/// Runs one database call, but gives up after `limit`: a call on a
/// connection whose server stopped answering would otherwise wait for the
/// kernel to give up on the socket, which takes many minutes.
pub async fn bounded<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer from the database within {limit:?}"),
        ))),
    }
}

/// Whether an error says the database is out of reach or going away, not
/// that the statement was wrong: worth a 503 and a retry, not a 500. Covers
/// a restart (`57P01` admin shutdown, `57P03` cannot connect now), a broken
/// or refused connection, an exhausted pool, and a statement cut off by
/// `statement_timeout` (`57014`).
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            // Class 08: connection exception.
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "53300" | "57014"
                )
        }),
        _ => false,
    }
}

/// `Pool::close` waits without bound for every checked-out connection, so it
/// belongs in the close phase, whose budget bounds it, after everything that
/// uses the pool has stopped.
///
/// The connections are closed one every [`CONNECTION_SPACING`]. Each one
/// closed ends a PostgreSQL backend, and a backend's exit tears down its
/// mapping of the server's shared memory: milliseconds of the database's
/// CPU. A worker's ten closed at once took both cores of a two-core machine
/// for tens of milliseconds, and every request served meanwhile waited
/// (docs/benchmarks.md, "Latency through a rollout").
///
/// The idle connections are taken out before the pool is marked closed,
/// and closed after: a connection closed while the pool is open and at its
/// minimum makes sqlx open a replacement, but a closed pool opens nothing.
pub async fn close(pool: PgPool) -> Result<(), shutdown::HookError> {
    let idle = take_every_connection(&pool, RETURN_WAIT).await;
    let closed = pool.close();
    for (index, connection) in idle.into_iter().enumerate() {
        if index > 0 {
            tokio::time::sleep(CONNECTION_SPACING).await;
        }
        let _ = connection.close().await;
    }
    closed.await;
    Ok(())
}

/// How long [`close`] waits for connections still on their way back.
/// A return takes one round trip (sqlx pings a connection before it is idle
/// again); half a second covers that on a loaded machine and stays well
/// inside the close phase's default budget of 2 s.
const RETURN_WAIT: Duration = Duration::from_millis(500);

/// Takes every connection of the pool out as it becomes idle, for at most
/// `limit`.
///
/// A connection dropped just before shutdown is not idle yet: a task of
/// sqlx's own pings it first. Taken too early, the pool would be marked
/// closed with it still out, and its return would close it at once,
/// unspaced. A connection held past `limit` by a caller that never lets
/// go is left to `Pool::close`, which waits for it within the phase's
/// budget. sqlx tells nobody when a connection comes back, so this looks
/// again each millisecond.
async fn take_every_connection(
    pool: &PgPool,
    limit: Duration,
) -> Vec<sqlx::pool::PoolConnection<sqlx::Postgres>> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut taken = Vec::new();
    loop {
        taken.extend(std::iter::from_fn(|| pool.try_acquire()));
        if taken.len() >= pool.size() as usize || tokio::time::Instant::now() >= deadline {
            return taken;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
