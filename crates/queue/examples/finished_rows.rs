//! What a table full of finished jobs costs the statements a worker runs
//! all the time: the queue statistics (sampled every `QUEUE_HEARTBEAT`) and
//! the claim. Measured with no history, then with `finished` rows (1 million
//! by default) of completed jobs, side by side with the statistics query
//! this project used before retention (`group by state` over the whole
//! table). The time is the database's, so a debug build measures it too:
//!
//! ```text
//! DATABASE_URL=postgres://… cargo run -p queue --example finished_rows [finished] [samples]
//! ```

use std::time::{Duration, Instant};

use queue::{Claimer, Job, NewJob};
use sqlx::PgPool;
use testkit::TestDb;

/// Nothing to do: the benchmark measures the queue's statements.
#[derive(serde::Serialize, serde::Deserialize)]
struct Noop {}

impl Job for Noop {
    const KIND: &'static str = "noop";
}

const OLD_STATS: &str = "select state, count(*),
        extract(epoch from now() - min(run_at) filter (where run_at <= now()))::float8
 from jobs group by state";

async fn median_of<F, Fut>(samples: usize, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        call().await;
        times.push(start.elapsed());
    }
    times.sort();
    times[samples / 2]
}

/// Medians of: the old statistics, `queue::stats`, and a round of enqueue,
/// claim and complete of 100 jobs with 1 000 available.
async fn measure(pool: &PgPool, samples: usize) -> [Duration; 3] {
    let old = median_of(samples, || async {
        sqlx::query(OLD_STATS).fetch_all(pool).await.unwrap();
    })
    .await;
    let new = median_of(samples, || async {
        queue::stats(pool).await.unwrap();
    })
    .await;
    let claimer = Claimer::new(pool.clone(), "bench", Duration::from_secs(30), [Noop::KIND]);
    let claim = median_of(samples, || async {
        let jobs: Vec<NewJob> = (0..100).map(|_| NewJob::new(&Noop {})).collect();
        let mut conn = pool.acquire().await.unwrap();
        queue::enqueue_many(&mut conn, &jobs).await.unwrap();
        drop(conn);
        let claimed = claimer.claim(100).await.unwrap();
        let fences: Vec<_> = claimed.iter().map(|job| job.fence).collect();
        queue::complete_many(pool, &fences).await.unwrap();
    })
    .await;
    [old, new, claim]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<i64>().expect("numbers only"));
    let finished = args.next().unwrap_or(1_000_000);
    let samples = usize::try_from(args.next().unwrap_or(21)).unwrap();
    let db = TestDb::new().await;
    let backlog: Vec<NewJob> = (0..1000).map(|_| NewJob::new(&Noop {})).collect();
    let mut conn = db.pool.acquire().await.unwrap();
    queue::enqueue_many(&mut conn, &backlog).await.unwrap();
    drop(conn);
    sqlx::query("vacuum analyze jobs")
        .execute(&db.pool)
        .await
        .unwrap();
    let empty = measure(&db.pool, samples).await;

    sqlx::query(
        "insert into jobs (kind, state, attempt, finished_at)
         select $2, 'completed', 1, now() - interval '1 hour' from generate_series(1, $1)",
    )
    .bind(finished)
    .bind(Noop::KIND)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("vacuum analyze jobs")
        .execute(&db.pool)
        .await
        .unwrap();
    let full = measure(&db.pool, samples).await;

    println!("medians of {samples} samples; 1 000 jobs available throughout");
    println!("| statement | 0 finished rows | {finished} finished rows | ratio |");
    println!("|---|---|---|---|");
    for (name, before, after) in [
        ("statistics, before (group by state)", empty[0], full[0]),
        ("statistics, now (`queue::stats`)", empty[1], full[1]),
        ("enqueue + claim + complete 100", empty[2], full[2]),
    ] {
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.1}× |",
            before.as_secs_f64() * 1e3,
            after.as_secs_f64() * 1e3,
            after.as_secs_f64() / before.as_secs_f64()
        );
    }
}
