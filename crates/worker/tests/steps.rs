//! Steps with no transaction of their own: their cursor, recorded lazily,
//! is written by the heartbeat, or by the release when the attempt is
//! interrupted first.

use std::sync::Arc;
use std::time::Duration;

use domain::Noop;
use queue::{Claimer, Job, NewJob};
use serde_json::{Value, json};
use testkit::TestDb;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use worker::held::Held;
use worker::tally::Ending;
use worker::testing::work_next_with;
use worker::{Done, JobContext, JobError, JobHandler};

/// Three steps, each a call out with no transaction, then it waits to be
/// interrupted.
#[derive(Clone)]
struct CallsOut {
    three_done: Arc<Notify>,
}

impl JobHandler for CallsOut {
    type Job = Noop;

    async fn run(&self, _job: Noop, ctx: JobContext) -> Result<Done, JobError> {
        let mut step: u32 = ctx.cursor()?.unwrap_or(0);
        loop {
            ctx.step_boundary()?;
            if step == 3 {
                self.three_done.notify_one();
                ctx.interrupt.cancelled().await;
                continue;
            }
            step += 1;
            ctx.checkpoint_lazily(&step)?;
        }
    }
}

async fn cursor(pool: &sqlx::PgPool) -> Option<Value> {
    sqlx::query_scalar("select cursor from jobs")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_interrupted_attempt_releases_its_job_with_the_cursor_its_steps_recorded_lazily() {
    let db = TestDb::new().await;
    testkit::enqueue(&db.pool, &[NewJob::new(&Noop {})]).await;
    let handler = CallsOut {
        three_done: Arc::new(Notify::new()),
    };
    let (three_done, cancel) = (handler.three_done.clone(), CancellationToken::new());
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        three_done.notified().await;
        interrupt.cancel();
    });
    let worked = work_next_with(&db.pool, handler, cancel).await;
    assert_eq!((worked.ending, worked.attempt), (Ending::Interrupted, 0));
    assert_eq!(cursor(&db.pool).await, Some(json!(3)));
}

#[tokio::test]
async fn the_heartbeat_writes_a_lazily_recorded_cursor_while_the_attempt_runs() {
    let db = TestDb::new().await;
    testkit::enqueue(&db.pool, &[NewJob::new(&Noop {})]).await;
    let lease = Duration::from_secs(30);
    let claimer = Claimer::new(db.pool.clone(), "w", lease, [Noop::KIND]);
    let job = claimer.claim(1).await.unwrap().remove(0);
    let held = Held::new(lease);
    let attempt = held.insert(job.fence, CancellationToken::new(), Instant::now());
    attempt
        .steps
        .ended(Instant::now(), Some(json!({"page": 5})));

    let stop = CancellationToken::new();
    let beating = tokio::spawn(worker::upkeep::heartbeat(
        claimer,
        held,
        Duration::from_millis(100),
        stop.clone(),
    ));
    testkit::wait_until(
        &db.pool,
        "the heartbeat to write the cursor",
        Duration::from_secs(10),
        "select count(*) from jobs where cursor = '{\"page\": 5}'",
    )
    .await;
    assert_eq!(
        attempt.steps.unwritten(),
        None,
        "written once, not sent with every beat"
    );
    stop.cancel();
    beating.await.unwrap();
}
