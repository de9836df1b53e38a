//! A new pod opens its pool's connections and prepares the hot statements
//! before it says it is ready, so that its first requests pay for neither.

mod common;

#[tokio::test]
async fn the_pool_is_open_and_its_statements_prepared_before_api_ready() {
    let api = common::start(&[("DATABASE_MIN_CONNECTIONS", "4")]).await;
    // The sessions whose last statement was the last hot one prepared: the
    // api's warmed connections, which nothing has used since.
    let prepared: Vec<(i32, String)> = sqlx::query_as(
        "select pid, query from pg_stat_activity
         where datname = current_database() and query = $1",
    )
    .bind(api::db::HOT_STATEMENTS.last().copied().unwrap())
    .fetch_all(&api.db.pool)
    .await
    .unwrap();
    assert!(
        prepared.len() >= 4,
        "4 connections open with the hot statements prepared when `api ready` is logged: {prepared:?}"
    );
}
