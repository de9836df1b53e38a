//! What a checkpoint costs a step: the same step (a transaction that
//! inserts one row and commits) with and without `JobContext::checkpoint`,
//! through the worker's real code (`worker::testing`: a claimed job, the
//! runner's own `JobContext`), interleaved round by round so both share
//! the machine's noise.
//!
//! ```text
//! cargo build --release -p worker --examples
//! cargo xtask with-db -- target/release/examples/step_cost --steps 2000 --rounds 5
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use domain::Noop;
use queue::NewJob;
use testkit::TestDb;
use worker::{Done, JobContext, JobError, JobHandler};

#[derive(Debug, Parser)]
struct Args {
    /// Steps per job.
    #[arg(long, default_value_t = 2000)]
    steps: u32,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// A job of `steps` steps, each one row in `step_effects`, committed with
/// the job's cursor or alone; reports the mean step time.
#[derive(Clone)]
struct Steps {
    steps: u32,
    checkpoint: bool,
    mean: Arc<Mutex<Duration>>,
}

impl JobHandler for Steps {
    type Job = Noop;

    fn options(&self) -> worker::KindOptions {
        worker::KindOptions {
            timeout: None,
            ..Default::default()
        }
    }

    async fn run(&self, _job: Noop, ctx: JobContext) -> Result<Done, JobError> {
        let started = Instant::now();
        for step in 0..self.steps {
            ctx.step_boundary()?;
            let mut tx = ctx.pool.begin().await?;
            sqlx::query("insert into step_effects (step) values ($1)")
                .bind(i64::from(step))
                .execute(&mut *tx)
                .await?;
            if self.checkpoint {
                ctx.checkpoint(tx, &step).await?;
            } else {
                tx.commit().await?;
            }
        }
        *self.mean.lock().unwrap() = started.elapsed() / self.steps;
        Ok(Done::Acknowledged)
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let db = TestDb::new().await;
    sqlx::query("create table step_effects (step bigint)")
        .execute(&db.pool)
        .await
        .unwrap();
    let (mut plain, mut checkpointed) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        for checkpoint in [false, true] {
            let mean = Arc::new(Mutex::new(Duration::ZERO));
            let handler = Steps {
                steps: args.steps,
                checkpoint,
                mean: mean.clone(),
            };
            testkit::enqueue(&db.pool, &[NewJob::new(&Noop {})]).await;
            worker::testing::work_next(&db.pool, handler).await;
            let micros = mean.lock().unwrap().as_secs_f64() * 1e6;
            println!("round {round}: checkpoint {checkpoint:<5} {micros:8.1} µs per step");
            if checkpoint {
                checkpointed.push(micros);
            } else {
                plain.push(micros);
            }
        }
    }
    let (plain, checkpointed) = (median(&mut plain), median(&mut checkpointed));
    println!(
        "median of {} rounds of {} steps: without a checkpoint {plain:.1} µs, with {checkpointed:.1} µs per step: {:.2}×",
        args.rounds,
        args.steps,
        checkpointed / plain
    );
}
