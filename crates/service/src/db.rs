//! The database pool: opened at start-up, closed last, inside a budget.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::DatabaseArgs;

/// Connects, or explains which setting to look at.
pub async fn connect(args: &DatabaseArgs) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(args.database_max_connections)
        .acquire_timeout(args.database_acquire_timeout)
        .connect_with(args.database_url.clone())
        .await
}

/// Whether the database answers within `timeout`, for `/readyz`.
pub async fn is_reachable(pool: &PgPool, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, sqlx::query("select 1").execute(pool)).await,
        Ok(Ok(_))
    )
}

/// `Pool::close` waits without bound for every checked-out connection, so it
/// belongs in the close phase, whose budget bounds it, after everything that
/// uses the pool has stopped.
pub async fn close(pool: PgPool) -> Result<(), shutdown::HookError> {
    pool.close().await;
    Ok(())
}
