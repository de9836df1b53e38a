//! Queue throughput through the worker's real code path, in the orders
//! production sees them.
//!
//! A worker usually starts at a deploy, on a quiet queue, and a backlog forms
//! later; a benchmark that inserts first and starts the worker afterwards
//! measures a worker that planned its statements on a full table. So each
//! run starts from the statistics an idle queue leaves (`analyze` of the
//! empty table), then either starts the worker and lets the backlog arrive
//! (`before`), or inserts the backlog and starts the worker (`after`). The
//! rate runs from the worker's readiness (`after`) or the first insert
//! (`before`) to the last completion. Every worker named runs every scenario
//! in each round, interleaved, so they share the machine's noise.
//!
//! ```text
//! cargo build --release -p worker --examples
//! DATABASE_URL=postgres://… target/release/examples/queue_throughput \
//!     --backlog 10000,100000,1000000 --start before,after --rounds 3 \
//!     [--unrunnable 200000] [--worker before=/path/to/old/worker] \
//!     [--drop-index before=jobs_claim_kind_idx]
//! ```
//!
//! `--unrunnable N` puts N older jobs of a kind no worker runs ahead of the
//! backlog. `--drop-index LABEL=INDEX` drops an index before LABEL's runs: a
//! release from before that index never had it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use domain::Noop;
use queue::NewJob;
use sqlx::{AssertSqlSafe, PgPool};
use testkit::{Service, TestDb};

#[derive(Debug, Parser)]
struct Args {
    /// Backlog sizes, in noop jobs.
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    backlog: Vec<i64>,
    /// When the worker starts: `before` the backlog arrives, or `after`.
    #[arg(long, value_delimiter = ',', default_value = "before,after")]
    start: Vec<Start>,
    /// Older jobs of a kind no worker runs, waiting ahead of the backlog.
    #[arg(long, default_value_t = 0)]
    unrunnable: i64,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: u32,
    /// `LABEL=PATH`, repeated; default: the `worker` built beside this example.
    #[arg(long = "worker", value_parser = label_and_value)]
    workers: Vec<(String, String)>,
    /// `LABEL=INDEX`: drop INDEX before each of LABEL's runs.
    #[arg(long = "drop-index", value_parser = label_and_value)]
    drop_indexes: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Start {
    Before,
    After,
}

fn label_and_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(label, value)| (label.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("expected LABEL=VALUE, got {text:?}"))
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
struct Run {
    jobs_per_sec: f64,
    /// How long the backlog took to insert: the enqueuer's share of the two
    /// cores, which a `before` run spends while the worker drains.
    insert_secs: f64,
    /// Claim latency from the worker's own histogram, if it has one.
    claim_p50_ms: Option<f64>,
    claim_p99_ms: Option<f64>,
}

type Scenario = (i64, Start);

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let workers: Vec<(String, PathBuf)> = if args.workers.is_empty() {
        let beside = std::env::current_exe().unwrap();
        let worker = beside.parent().unwrap().parent().unwrap().join("worker");
        vec![("this tree".to_owned(), worker)]
    } else {
        let named = args.workers.iter();
        named
            .map(|(label, path)| (label.clone(), path.into()))
            .collect()
    };
    let mut results: BTreeMap<(Scenario, String), Vec<Run>> = BTreeMap::new();
    for round in 1..=args.rounds {
        for &backlog in &args.backlog {
            for &start in &args.start {
                for (label, binary) in &workers {
                    let drop: Vec<&str> = args
                        .drop_indexes
                        .iter()
                        .filter(|(of, _)| of == label)
                        .map(|(_, index)| index.as_str())
                        .collect();
                    let run = run_once(&args, binary, &drop, backlog, start).await;
                    println!(
                        "round {round}: {backlog} jobs, worker {start:?}, {label}: {:.0} jobs/s, inserted in {:.2} s, claim p50 {} p99 {}",
                        run.jobs_per_sec,
                        run.insert_secs,
                        ms(run.claim_p50_ms),
                        ms(run.claim_p99_ms),
                    );
                    results
                        .entry(((backlog, start), label.clone()))
                        .or_default()
                        .push(run);
                }
            }
        }
    }
    print_table(&args, &results);
}

async fn run_once(args: &Args, binary: &PathBuf, drop: &[&str], backlog: i64, start: Start) -> Run {
    let db = TestDb::new().await;
    for index in drop {
        // An index name from the command line, not from a user of a service.
        sqlx::query(AssertSqlSafe(format!("drop index {index}")))
            .execute(&db.pool)
            .await
            .unwrap();
    }
    if args.unrunnable > 0 {
        sqlx::query(
            "insert into jobs (kind, run_at) select 'retired', now() - interval '1 hour'
             from generate_series(1, $1)",
        )
        .bind(args.unrunnable)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    // What autovacuum leaves on an idle queue: no runnable job in sight.
    sqlx::query("analyze jobs").execute(&db.pool).await.unwrap();

    let started_first = match start {
        Start::Before => Some(start_worker(&db, binary, args.concurrency).await),
        Start::After => None,
    };
    let inserts_began = database_clock(&db.pool).await;
    let inserting = Instant::now();
    insert_noops(&db.pool, backlog).await;
    let insert_secs = inserting.elapsed().as_secs_f64();
    let ((mut worker, ops), began) = match started_first {
        Some(started) => (started, inserts_began),
        None => {
            let started = start_worker(&db, binary, args.concurrency).await;
            (started, database_clock(&db.pool).await)
        }
    };
    // The end is the last completion's own time, so how often this polls
    // does not change the figure; seldom, so that it costs the run little.
    while !all_done(&db.pool).await {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let seconds: f64 = sqlx::query_scalar(
        "select extract(epoch from max(finished_at) - $1)::float8 from jobs where state = 'completed'",
    )
    .bind(began)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let metrics = get(ops, "/metrics").await.unwrap_or_default();
    worker.signal(nix::sys::signal::Signal::SIGTERM);
    worker.wait_exit(Duration::from_secs(60)).await;
    Run {
        jobs_per_sec: backlog as f64 / seconds,
        insert_secs,
        claim_p50_ms: histogram_quantile(&metrics, "queue_claim_duration_seconds", 0.5),
        claim_p99_ms: histogram_quantile(&metrics, "queue_claim_duration_seconds", 0.99),
    }
}

async fn start_worker(db: &TestDb, binary: &PathBuf, concurrency: u32) -> (Service, SocketAddr) {
    let ops = testkit::free_addr();
    let worker = Service::spawn(
        binary,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("OPS_LISTEN_ADDR", ops.to_string()),
            ("WORKER_CONCURRENCY", concurrency.to_string()),
            ("WORKER_KINDS", "noop".into()),
            ("RUST_LOG", "warn".into()),
            ("SHUTDOWN_DRAIN_DELAY", "0s".into()),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(ops, "/readyz").await.is_none() {
        assert!(Instant::now() < deadline, "the worker never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (worker, ops)
}

/// The body of a 200 answer, or `None`.
async fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let response = reqwest::get(format!("http://{addr}{path}")).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

async fn insert_noops(pool: &PgPool, count: i64) {
    let batch: Vec<NewJob> = (0..5000).map(|_| NewJob::new(&Noop {})).collect();
    let mut left = count as usize;
    while left > 0 {
        let take = left.min(batch.len());
        let mut conn = pool.acquire().await.unwrap();
        queue::enqueue_many(&mut conn, &batch[..take])
            .await
            .unwrap();
        left -= take;
    }
}

async fn database_clock(pool: &PgPool) -> time::OffsetDateTime {
    sqlx::query_scalar("select clock_timestamp()")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// No noop job waits or runs. Each test stops at the first row it finds,
/// through the live states' partial indexes, so polling costs little
/// however large the backlog or the history.
async fn all_done(pool: &PgPool) -> bool {
    sqlx::query_scalar(
        "select not exists (select 1 from jobs where state = 'running')
            and not exists (select 1 from jobs where state = 'available' and kind = 'noop')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A quantile of a Prometheus histogram, interpolated within its bucket, in
/// milliseconds; `None` when the text has no such histogram.
fn histogram_quantile(metrics: &str, name: &str, quantile: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .filter_map(|line| {
            let le = line.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count = line.rsplit(' ').next()?.parse().ok()?;
            Some((bound, count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let rank = quantile * total;
    let (mut lower_bound, mut lower_count) = (0.0, 0.0);
    for (bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower_bound * 1000.0);
            }
            let within = (rank - lower_count) / (count - lower_count).max(1.0);
            return Some((lower_bound + (bound - lower_bound) * within) * 1000.0);
        }
        (lower_bound, lower_count) = (bound, count);
    }
    None
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2} ms"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_table(args: &Args, results: &BTreeMap<(Scenario, String), Vec<Run>>) {
    let medians: Vec<(&Scenario, &String, f64, &Vec<Run>)> = results
        .iter()
        .map(|((scenario, label), runs)| {
            let rate = median(runs.iter().map(|run| run.jobs_per_sec).collect());
            (scenario, label, rate, runs)
        })
        .collect();
    println!(
        "\n{} rounds, concurrency {}, {} unrunnable jobs ahead; medians, ratio to the best row of the same worker",
        args.rounds, args.concurrency, args.unrunnable
    );
    println!(
        "| worker | backlog | worker started | jobs/s | rounds | ratio | insert | claim p50 | claim p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (scenario, label, rate, runs) in &medians {
        let best = medians
            .iter()
            .filter(|(_, other, _, _)| other == label)
            .map(|(_, _, rate, _)| *rate)
            .fold(0.0, f64::max);
        let rounds: Vec<String> = runs
            .iter()
            .map(|run| format!("{:.0}", run.jobs_per_sec))
            .collect();
        let quantile = |pick: fn(&Run) -> Option<f64>| {
            let values: Option<Vec<f64>> = runs.iter().map(pick).collect();
            ms(values.map(median))
        };
        println!(
            "| {label} | {} | {:?} | {rate:.0} | {} | {:.2} | {:.2} s | {} | {} |",
            scenario.0,
            scenario.1,
            rounds.join(", "),
            rate / best,
            median(runs.iter().map(|run| run.insert_secs).collect()),
            quantile(|run| run.claim_p50_ms),
            quantile(|run| run.claim_p99_ms),
        );
    }
}
