//! Queue throughput through the worker's real code path.
//!
//! Enqueues N trivial `noop` jobs into a fresh database, starts the real
//! `worker` binary, and measures jobs/s from the first completion to the
//! last (so process start-up is not counted). Repeats and prints the median.
//!
//! ```text
//! cargo build --release -p worker --examples
//! DATABASE_URL=postgres://… target/release/examples/queue_throughput [jobs] [concurrency] [runs]
//! ```

use std::time::Duration;

use domain::Noop;
use queue::NewJob;
use testkit::{ANY_PORT, Service, TestDb};

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("numbers only"));
    let jobs = args.next().unwrap_or(100_000);
    let concurrency = args.next().unwrap_or(64);
    let runs = args.next().unwrap_or(3);
    let worker_bin = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("worker");

    let mut rates = Vec::new();
    for run in 1..=runs {
        let db = TestDb::new().await;
        let batch: Vec<NewJob> = (0..5000).map(|_| NewJob::new(&Noop {})).collect();
        let mut left = jobs;
        while left > 0 {
            let take = left.min(batch.len());
            let mut conn = db.pool.acquire().await.unwrap();
            queue::enqueue_many(&mut conn, &batch[..take])
                .await
                .unwrap();
            left -= take;
        }

        let mut worker = Service::spawn(
            &worker_bin,
            &[
                ("DATABASE_URL", db.url.clone()),
                ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
                ("WORKER_CONCURRENCY", concurrency.to_string()),
                ("RUST_LOG", "warn".into()),
                ("SHUTDOWN_DRAIN_DELAY", "0s".into()),
            ],
        );
        loop {
            let done: i64 =
                sqlx::query_scalar("select count(*) from jobs where state = 'completed'")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            if done as usize == jobs {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        worker.signal(nix::sys::signal::Signal::SIGTERM);
        worker.wait_exit(Duration::from_secs(30)).await;

        let seconds: f64 = sqlx::query_scalar(
            "select extract(epoch from max(finished_at) - min(finished_at))::float8 from jobs",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let rate = jobs as f64 / seconds;
        println!(
            "run {run}: {jobs} jobs in {seconds:.2}s = {rate:.0} jobs/s (concurrency {concurrency})"
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "median: {:.0} jobs/s over {runs} runs",
        rates[rates.len() / 2]
    );
}
