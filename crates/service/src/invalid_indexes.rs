//! INVALID indexes, found and rebuilt after migrating.
//!
//! A `create index concurrently` that is interrupted (the migrate pod
//! killed, the build cancelled) leaves an INVALID index behind: present,
//! never used by a plan. When the Job runs again, `if not exists` skips it
//! with a NOTICE and sqlx records the migration as applied, so the
//! retention sweeper and the statistics would scan the whole table from
//! then on, silently. `api migrate` therefore rebuilds every INVALID index
//! of the schema after the migrations (`reindex index concurrently`, the
//! one form PostgreSQL lets rebuild an invalid index without a write
//! lock), and fails, naming the index, when one stays invalid.

use sqlx::{AssertSqlSafe, PgPool};

/// The schema's INVALID indexes, each as `schema.name`, quoted for SQL.
const INVALID: &str = "select quote_ident(n.nspname) || '.' || quote_ident(c.relname)
     from pg_index i
     join pg_class c on c.oid = i.indexrelid
     join pg_namespace n on n.oid = c.relnamespace
     where not i.indisvalid and n.nspname = current_schema()
     order by 1";

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("index {index} is INVALID and could not be rebuilt: {error}")]
    Rebuild { index: String, error: sqlx::Error },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Rebuilds each INVALID index; the ones rebuilt. Stops at the first that
/// cannot be: an operator must look at it (a unique index over duplicates,
/// for one), and the Job fails until then.
pub async fn rebuild_invalid_indexes(pool: &PgPool) -> Result<Vec<String>, RebuildError> {
    let invalid: Vec<String> = sqlx::query_scalar(INVALID).fetch_all(pool).await?;
    for index in &invalid {
        // The name comes from the catalog, quoted by `quote_ident`.
        let rebuild = format!("reindex index concurrently {index}");
        if let Err(error) = sqlx::raw_sql(AssertSqlSafe(rebuild)).execute(pool).await {
            return Err(RebuildError::Rebuild {
                index: index.clone(),
                error,
            });
        }
    }
    Ok(invalid)
}
