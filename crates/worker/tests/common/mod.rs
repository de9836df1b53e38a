//! Helpers shared by the worker's test binaries.
#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use domain::FulfilOrder;
use queue::NewJob;
use sqlx::PgPool;
use testkit::{ANY_PORT, Service, TestDb};
use uuid::Uuid;

pub const WORKER: &str = env!("CARGO_BIN_EXE_worker");

/// Short budgets so the tests take seconds: drain = 6s − 2.5s − 1s cancel.
pub const FAST_SHUTDOWN: [(&str, &str); 5] = [
    ("SHUTDOWN_GRACE_PERIOD", "6s"),
    ("SHUTDOWN_DRAIN_DELAY", "0s"),
    ("SHUTDOWN_FLUSH_TIMEOUT", "500ms"),
    ("SHUTDOWN_CLOSE_TIMEOUT", "500ms"),
    ("SHUTDOWN_MARGIN", "1500ms"),
];

/// Inserts `count` orders, each with its `fulfil_order` job, as the API does.
pub async fn orders(pool: &PgPool, count: usize, max_attempts: i32) -> Vec<Uuid> {
    let mut tx = pool.begin().await.unwrap();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "insert into orders (customer_id, items) select 'c-' || n, '[]'::jsonb from generate_series(1, $1) n returning id",
    )
    .bind(i32::try_from(count).unwrap())
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let jobs: Vec<NewJob> = ids
        .iter()
        .map(|id| NewJob::new(&FulfilOrder { order_id: *id }).max_attempts(max_attempts))
        .collect();
    queue::enqueue_many(&mut tx, &jobs).await.unwrap();
    tx.commit().await.unwrap();
    ids
}

/// A worker on the test's database. It runs no schedule unless `env` says
/// `WORKER_SCHEDULES`: a schedule's ticks would be jobs the test did not
/// enqueue.
pub async fn start(db: &TestDb, env: &[(&str, &str)]) -> Service {
    let mut vars = vec![
        ("DATABASE_URL", db.url.clone()),
        ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
        ("QUEUE_POLL_INTERVAL", "200ms".into()),
        ("WORKER_SCHEDULES", "none".into()),
    ];
    vars.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let worker = Service::spawn(WORKER, &vars);
    worker
        .wait_for_message("worker ready", Duration::from_secs(10))
        .await;
    worker
}

#[allow(unused_imports)] // as dead_code above: not every binary waits
pub use testkit::wait_until;

/// The worker's `/metrics` text, from the ops port its ready event names.
pub async fn metrics(worker: &Service) -> String {
    let ready = worker
        .wait_for_message("worker ready", Duration::from_secs(1))
        .await;
    reqwest::get(format!(
        "http://{}/metrics",
        testkit::bound_addr(&ready, "ops_addr")
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap()
}
