//! A fresh database per test, on the server `DATABASE_URL` points at
//! (`cargo xtask test` starts a throwaway one).

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection, PgPool};

/// Dropped at the end of a passing test, so a long `cargo xtask test` against
/// a kept server does not pile up a database per test. A failing test's
/// database is kept for a look, and its name printed.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
    server: PgConnectOptions,
}

impl TestDb {
    /// Creates an empty database with every migration applied.
    pub async fn new() -> Self {
        Self::on(&server_url()).await
    }

    /// The same on the server at `server_url`: for a test that owns its
    /// server, to restart or freeze it.
    pub async fn on(server_url: &str) -> Self {
        let db = Self::empty(server_url).await;
        db.migrate().await;
        db
    }

    /// A database with every migration but the newest applied, as a new
    /// release's pods find it while its migrate Job has not run yet; and the
    /// newest's version. [`TestDb::migrate`] then plays the Job.
    pub async fn behind_newest_migration() -> (Self, i64) {
        let db = Self::empty(&server_url()).await;
        let migrator = service::schema::migrator();
        let versions: Vec<i64> = migrator.iter().map(|m| m.version).collect();
        let [.., before_newest, newest] = versions[..] else {
            panic!("fewer than two migrations");
        };
        migrator.run_to(before_newest, &db.pool).await.unwrap();
        (db, newest)
    }

    /// Applies every migration not applied yet.
    pub async fn migrate(&self) {
        service::schema::migrator().run(&self.pool).await.unwrap();
    }

    async fn empty(server_url: &str) -> Self {
        let server: PgConnectOptions = server_url.parse().expect("a PostgreSQL URL");
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect_with(&server)
            .await
            .expect("connect to DATABASE_URL");
        // The name is ours (a uuid), not user input.
        admin
            .execute(AssertSqlSafe(format!("create database {name}")))
            .await
            .unwrap();
        admin.close().await.unwrap();

        let options = server.clone().database(&name);
        let url = options.to_url_lossy().to_string();
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect_with(options)
            .await
            .unwrap();
        Self {
            name,
            url,
            pool,
            server,
        }
    }
}

fn server_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: run the tests with `cargo xtask test`, which starts a throwaway PostgreSQL",
    )
}

/// The one number `sql` selects, such as a `count(*)`.
pub async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Waits, polling every 50 ms, until `sql` counts something: the evidence a
/// test waits for, never a sleep. Fails naming `what` after `within`.
pub async fn wait_until(pool: &PgPool, what: &str, within: std::time::Duration, sql: &'static str) {
    let deadline = std::time::Instant::now() + within;
    while count(pool, sql).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Enqueues `jobs` in a transaction of their own, as a test's setup does;
/// the ids of those inserted.
pub async fn enqueue(pool: &PgPool, jobs: &[queue::NewJob]) -> Vec<queue::JobId> {
    let mut tx = pool.begin().await.unwrap();
    let ids = queue::enqueue_many(&mut tx, jobs).await.unwrap();
    tx.commit().await.unwrap();
    ids
}

/// The runnable jobs of `J`'s kind, decoded, oldest first: what a route or
/// a handler enqueued, typed, as `rivertest`'s `RequireInserted` checks.
///
/// # Panics
/// If a payload does not decode as `J`: the enqueuer and the type disagree.
pub async fn enqueued<J: queue::Job>(pool: &PgPool) -> Vec<J> {
    let payloads: Vec<serde_json::Value> = sqlx::query_scalar(
        "select payload from jobs where kind = $1 and state = 'available' order by id",
    )
    .bind(J::KIND)
    .fetch_all(pool)
    .await
    .unwrap();
    payloads
        .into_iter()
        .map(|payload| {
            serde_json::from_value(payload).unwrap_or_else(|error| {
                panic!("a `{}` job's payload does not decode: {error}", J::KIND)
            })
        })
        .collect()
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("testkit: kept database {} of a failing test", self.name);
            return;
        }
        // Drop cannot await, and the test's runtime may be the current
        // thread's, so the database goes on a thread of its own; `force`
        // ends the connections the pool and the test's children still hold.
        let server = self.server.clone();
        let drop_database = AssertSqlSafe(format!(
            "drop database if exists {} with (force)",
            self.name
        ));
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect_with(&server).await?;
                admin.execute(drop_database).await?;
                admin.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("testkit: could not drop database {}: {error}", self.name);
        }
    }
}
