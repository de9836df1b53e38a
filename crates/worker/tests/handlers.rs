//! The runner's answer to each thing a handler can say, in the test's
//! process (`worker::testing`): each job claimed for real, run by the
//! runner's own code, and ended with the real fenced statement. Each
//! example kind's own tests sit in its handler's file.

use std::time::Duration;

use domain::{FulfilOrder, Noop};
use queue::{Job, NewJob};
use testkit::TestDb;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use worker::handlers::FulfilOrderHandler;
use worker::tally::Ending;
use worker::testing::{self, work, work_next};
use worker::{Done, JobContext, JobError, JobHandler, KindOptions};

/// A handler of the benchmark's kind that answers as it is told, with the
/// options it is given.
#[derive(Debug, Clone)]
struct Answers {
    answer: fn() -> JobError,
    options: KindOptions,
    /// Waits for its token before answering.
    wait_for_cancel: bool,
}

impl JobHandler for Answers {
    type Job = Noop;

    fn options(&self) -> KindOptions {
        self.options
    }

    async fn run(&self, _job: Noop, ctx: JobContext) -> Result<Done, JobError> {
        if self.wait_for_cancel {
            ctx.cancel.cancelled().await;
        }
        Err((self.answer)())
    }
}

fn answers(answer: fn() -> JobError) -> Answers {
    Answers {
        answer,
        options: KindOptions::default(),
        wait_for_cancel: false,
    }
}

#[tokio::test]
async fn a_failing_job_backs_off_then_is_discarded_with_its_last_error() {
    let db = TestDb::new().await;
    testkit::enqueue(&db.pool, &[NewJob::new(&Noop {}).max_attempts(2)]).await;
    let failing = answers(|| JobError::failed("the payment service said no"));
    let before = time::OffsetDateTime::now_utc();
    let first = work_next(&db.pool, failing.clone()).await;
    assert_eq!(
        (first.ending, first.state.as_str()),
        (Ending::Failed, "available")
    );
    // The default backoff: the retry waits 0.5–1 s after the first failure.
    let waits = first.run_at - before;
    assert!(
        waits >= time::Duration::milliseconds(500) && waits <= time::Duration::seconds(2),
        "{waits}"
    );
    sqlx::query("update jobs set run_at = now()")
        .execute(&db.pool)
        .await
        .unwrap();
    let last = work_next(&db.pool, failing).await;
    assert_eq!(
        (last.ending, last.state.as_str()),
        (Ending::Discarded, "discarded")
    );
    assert_eq!(last.attempt, 2);
    assert_eq!(
        last.last_error.as_deref(),
        Some("the payment service said no")
    );
}

#[tokio::test]
async fn snoozes_past_the_kinds_cap_spend_attempts() {
    let db = TestDb::new().await;
    let snoozer = Answers {
        options: KindOptions {
            max_snoozes: 2,
            ..KindOptions::default()
        },
        ..answers(|| JobError::Snooze(Duration::ZERO))
    };
    testkit::enqueue(&db.pool, &[NewJob::new(&Noop {}).max_attempts(2)]).await;
    for snooze in 1..=2 {
        let worked = work_next(&db.pool, snoozer.clone()).await;
        assert_eq!((worked.ending, worked.attempt), (Ending::Snoozed, 0));
        assert_eq!(worked.snoozes, snooze);
    }
    let third = work_next(&db.pool, snoozer.clone()).await;
    assert_eq!((third.ending, third.attempt), (Ending::Failed, 1));
    assert!(
        third
            .last_error
            .as_deref()
            .unwrap()
            .contains("snoozed 2 times"),
        "{third:?}"
    );
    sqlx::query("update jobs set run_at = now()")
        .execute(&db.pool)
        .await
        .unwrap();
    let last = work_next(&db.pool, snoozer).await;
    assert_eq!(
        (last.ending, last.state.as_str()),
        (Ending::Discarded, "discarded")
    );
}

#[tokio::test]
async fn a_job_past_its_kinds_timeout_is_cancelled_and_fails_with_the_kinds_backoff() {
    let db = TestDb::new().await;
    let slow = Answers {
        options: KindOptions {
            timeout: Some(Duration::from_millis(50)),
            backoff: queue::Backoff {
                base: Duration::from_secs(3600),
                max: Duration::from_secs(3600),
            },
            ..KindOptions::default()
        },
        wait_for_cancel: true,
        ..answers(|| JobError::Cancelled)
    };
    let worked = work(&db.pool, slow, &Noop {}).await;
    assert_eq!(worked.ending, Ending::Failed);
    assert_eq!((worked.state.as_str(), worked.attempt), ("available", 1));
    assert_eq!(worked.last_error.as_deref(), Some("timed out after 50ms"));
    let half_an_hour = time::OffsetDateTime::now_utc() + time::Duration::minutes(29);
    assert!(
        worked.run_at > half_an_hour,
        "the kind's backoff: {worked:?}"
    );
}

#[tokio::test]
async fn a_job_cancelled_at_the_drain_budget_is_released_with_its_attempt_given_back() {
    let db = TestDb::new().await;
    testkit::enqueue(&db.pool, &[NewJob::new(&Noop {})]).await;
    let drain_budget = CancellationToken::new();
    let patient = Answers {
        wait_for_cancel: true,
        ..answers(|| JobError::Cancelled)
    };
    let worked = tokio::join!(
        testing::work_next_with(&db.pool, patient, drain_budget.clone()),
        async { drain_budget.cancel() }
    )
    .0;
    assert_eq!(worked.ending, Ending::Released);
    assert_eq!((worked.state.as_str(), worked.attempt), ("available", 0));
    assert_eq!(worked.last_error, None);
}

/// What release N+1 may queue under an existing kind: a shape this
/// release's `FulfilOrder` does not decode.
#[derive(serde::Serialize, serde::Deserialize)]
struct NextReleasesFulfilOrder {
    order_ids: Vec<Uuid>,
}

impl Job for NextReleasesFulfilOrder {
    const KIND: &'static str = FulfilOrder::KIND;
}

#[tokio::test]
async fn a_payload_this_release_cannot_decode_is_handed_back_never_discarded() {
    let db = TestDb::new().await;
    let next = NextReleasesFulfilOrder {
        order_ids: vec![Uuid::new_v4()],
    };
    testkit::enqueue(&db.pool, &[NewJob::new(&next).max_attempts(1)]).await;
    for claim in 1..=3 {
        let fulfil = FulfilOrderHandler {
            work_time: Duration::ZERO,
        };
        let worked = work_next(&db.pool, fulfil).await;
        assert_eq!(worked.ending, Ending::HandedBack, "claim {claim}");
        assert_eq!(
            (worked.state.as_str(), worked.attempt),
            ("available", 0),
            "claim {claim}: its one attempt is never spent"
        );
        assert!(worked.run_at > time::OffsetDateTime::now_utc());
        assert!(
            worked
                .last_error
                .as_deref()
                .unwrap()
                .starts_with("payload cannot be decoded"),
            "{worked:?}"
        );
        sqlx::query("update jobs set run_at = now()")
            .execute(&db.pool)
            .await
            .unwrap();
    }
}
