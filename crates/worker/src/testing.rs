//! Runs a job kind's handler in the test's own process, against the test's
//! database: claimed with the real claim, run by the runner's own code (the
//! kind's options, its timeout, its answers) and ended with the real fenced
//! statements. What a job does to the database is then asserted in SQL;
//! only signals, drains and process behaviour need the `worker` binary.
//!
//! ```no_run
//! # async fn example(pool: sqlx::PgPool) {
//! use worker::handlers::NoopHandler;
//! use worker::tally::Ending;
//!
//! let worked = worker::testing::work(&pool, NoopHandler, &domain::Noop {}).await;
//! assert_eq!(worked.ending, Ending::Finished);
//! assert_eq!(worked.state, "completed");
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use queue::{Claimer, JobId, NewJob};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::completer::Completer;
use crate::config::Undecodable;
use crate::handler::{Handlers, JobHandler, Registered};
use crate::held::{Attempt, Held};
use crate::metrics::JobMetrics;
use crate::runner::Runner;
use crate::tally::{Ending, Tally};

/// Long enough that no test's lease runs out: nothing renews it here.
const LEASE: Duration = Duration::from_secs(600);
const CALL_BOUND: Duration = Duration::from_secs(30);
/// Half the default drain budget, as a worker started with the defaults.
const SLOW_STEP_AFTER: Duration = Duration::from_secs(8);

/// One attempt's end, and the job's row after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Worked {
    pub ending: Ending,
    pub id: JobId,
    pub state: String,
    /// Attempts spent; one a snooze or a hand-back gave back is not.
    pub attempt: i32,
    pub snoozes: i32,
    pub last_error: Option<String>,
    pub run_at: OffsetDateTime,
}

/// Enqueues `job` and runs it once through `handler`.
pub async fn work<H: JobHandler>(pool: &PgPool, handler: H, job: &H::Job) -> Worked {
    let mut conn = pool
        .acquire()
        .await
        .expect("a connection to the test database");
    queue::enqueue(&mut conn, &NewJob::new(job))
        .await
        .expect("enqueue");
    drop(conn);
    work_next(pool, handler).await
}

/// Claims the next runnable job of `handler`'s kind and runs it once.
///
/// # Panics
/// If no job of the kind is runnable.
pub async fn work_next<H: JobHandler>(pool: &PgPool, handler: H) -> Worked {
    work_next_with(pool, handler, CancellationToken::new()).await
}

/// As [`work_next`], with the attempt's token a child of `cancel`: cancel it
/// to stand for the drain budget running out while the job runs.
pub async fn work_next_with<H: JobHandler>(
    pool: &PgPool,
    handler: H,
    cancel: CancellationToken,
) -> Worked {
    let registered = Registered::new(handler);
    let kind = registered.kind().name();
    let runner = in_process_runner(pool, Handlers::only([registered]), cancel.clone());
    let job = runner
        .claimer
        .claim(1)
        .await
        .expect("the claim")
        .pop()
        .unwrap_or_else(|| panic!("no runnable `{kind}` job to work"));
    let id = job.fence.id;
    let ending = runner.run(job, Attempt::new(cancel.child_token())).await;
    let (state, attempt, snoozes, last_error, run_at) = sqlx::query_as(
        "select state, attempt, snoozes, last_error, run_at from jobs where id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("the job's row");
    Worked {
        ending,
        id,
        state,
        attempt,
        snoozes,
        last_error,
        run_at,
    }
}

pub(crate) fn in_process_runner(
    pool: &PgPool,
    handlers: Handlers,
    cancel: CancellationToken,
) -> Runner {
    let claimer = Claimer::new(pool.clone(), "in-process test", LEASE, handlers.kinds());
    Runner {
        claimer,
        handlers: Arc::new(handlers),
        concurrency: 1,
        poll_interval: Duration::from_millis(100),
        claim_cooldown: Duration::from_millis(10),
        call_bound: CALL_BOUND,
        held: Held::new(LEASE),
        jobs: TaskTracker::new(),
        cancel_jobs: cancel.clone(),
        completer: Completer::spawn(pool.clone(), CALL_BOUND),
        tally: Tally {
            shutting_down: CancellationToken::new(),
            cancelling: cancel,
            drain: Default::default(),
            cancel: Default::default(),
        },
        metrics: JobMetrics::new(),
        undecodable: Undecodable::HandBack,
        slow_step_after: SLOW_STEP_AFTER,
    }
}

/// The example domain's long job as the api starts it: `orders` orders of
/// `customer`, and an export of them in batches of `batch_size` with its
/// `export_orders` job. Returns the export's id.
pub async fn new_export(pool: &PgPool, customer: &str, orders: i32, batch_size: i32) -> uuid::Uuid {
    sqlx::query(
        "insert into orders (customer_id, items) select $1, '[]' from generate_series(1, $2)",
    )
    .bind(customer)
    .bind(orders)
    .execute(pool)
    .await
    .expect("the export's orders");
    let export_id: uuid::Uuid = sqlx::query_scalar(
        "insert into exports (customer_id, batch_size) values ($1, $2) returning id",
    )
    .bind(customer)
    .bind(batch_size)
    .fetch_one(pool)
    .await
    .expect("the export");
    let job = NewJob::new(&domain::ExportOrders { export_id });
    let mut conn = pool.acquire().await.expect("a connection");
    queue::enqueue(&mut conn, &job).await.expect("enqueue");
    export_id
}
