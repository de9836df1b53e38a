//! A fresh database per test, on the server `DATABASE_URL` points at
//! (`cargo xtask test` starts a throwaway one).

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection, PgPool};

#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    /// Creates an empty database with every migration applied.
    pub async fn new() -> Self {
        let server_url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL is not set: run the tests with `cargo xtask test`, which starts a throwaway PostgreSQL");
        let server: PgConnectOptions = server_url.parse().expect("DATABASE_URL");
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

        let options = server.database(&name);
        let url = options.to_url_lossy().to_string();
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::migrate!("../../migrations").run(&pool).await.unwrap();
        Self { name, url, pool }
    }
}
