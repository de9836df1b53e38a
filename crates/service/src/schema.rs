//! Which migrations this binary was built with, and whether the database
//! has applied them: the schema half of readiness.
//!
//! During a rolling update the migrate Job of the new release runs beside
//! pods of the old one. A new pod whose migrations are not applied yet must
//! not take traffic or jobs (its statements would fail), but it must not
//! exit either: it becomes ready by itself once the Job is done. A database
//! *ahead* of the binary is the normal state of an old pod during a rollout
//! (expand before contract), so it stays ready.

use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// Every migration in `migrations/`, embedded at build time, as the migrate
/// Job applies them: a database that has migrations this binary does not
/// know (a newer release's) is accepted, because an older release's Job may
/// run after a newer one's during a rollback.
pub fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("../../migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Applied migrations are never taken back, so once compatible, always.
static COMPATIBLE: AtomicBool = AtomicBool::new(false);

/// The versions this binary needs that the database has not applied, in
/// order; empty when the schema is compatible.
pub async fn missing_migrations(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    if COMPATIBLE.load(Ordering::Relaxed) {
        return Ok(Vec::new());
    }
    let applied: Vec<i64> =
        match sqlx::query_scalar("select version from _sqlx_migrations where success")
            .fetch_all(pool)
            .await
        {
            Ok(applied) => applied,
            // No migration has ever run here.
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42P01") => {
                Vec::new()
            }
            Err(error) => return Err(error),
        };
    let missing: Vec<i64> = migrator()
        .iter()
        .map(|migration| migration.version)
        .filter(|version| !applied.contains(version))
        .collect();
    if missing.is_empty() {
        COMPATIBLE.store(true, Ordering::Relaxed);
    }
    Ok(missing)
}
