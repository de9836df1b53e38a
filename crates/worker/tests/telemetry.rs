//! What the real `worker` exports, read back by an in-test OTLP collector:
//! the final flush carries every job, a job continues the trace that
//! enqueued it, and a dead collector cannot hold the process past its
//! deadline.

use std::time::{Duration, Instant};

use domain::Noop;
use nix::sys::signal::Signal;
use queue::NewJob;
use serde_json::Value;
use testkit::otlp::{Receiver, dead_collector};
use testkit::{ANY_PORT, Service, TestDb};

const WORKER: &str = env!("CARGO_BIN_EXE_worker");

async fn start(db: &TestDb, endpoint: &str) -> Service {
    let worker = Service::spawn(
        WORKER,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
            // Far longer than the test: only the final flush can deliver.
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000".into()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000".into()),
            ("SHUTDOWN_GRACE_PERIOD", "10s".into()),
            ("SHUTDOWN_DRAIN_DELAY", "0s".into()),
            ("SHUTDOWN_FLUSH_TIMEOUT", "1s".into()),
            ("SHUTDOWN_CLOSE_TIMEOUT", "1s".into()),
            ("SHUTDOWN_MARGIN", "1s".into()),
        ],
    );
    worker
        .wait_for_message("worker ready", Duration::from_secs(10))
        .await;
    worker
}

async fn wait_all_completed(db: &TestDb, jobs: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done: i64 = sqlx::query_scalar("select count(*) from jobs where state = 'completed'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if done == jobs {
            return;
        }
        assert!(Instant::now() < deadline, "{done}/{jobs} jobs completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn flush_hook(report: &Value) -> Value {
    testkit::report::hook(report, "flush", "telemetry").clone()
}

#[tokio::test]
async fn the_final_flush_exports_every_job_and_continues_the_enqueuers_trace() {
    let db = TestDb::new().await;
    let receiver = Receiver::start().await;
    let mut worker = start(&db, &receiver.endpoint).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traced =
        NewJob::new(&Noop {}).trace_context(Some(format!("00-{trace_id}-00f067aa0ba902b7-01")));
    let mut jobs = vec![traced];
    jobs.extend((0..24).map(|_| NewJob::new(&Noop {})));
    testkit::enqueue(&db.pool, &jobs).await;
    wait_all_completed(&db, 25).await;

    assert_eq!(
        receiver.metric_exports(),
        0,
        "only the final flush may deliver"
    );
    worker.signal(Signal::SIGTERM);
    let status = worker.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
    assert_eq!(
        flush_hook(&worker.report(Duration::ZERO).await)["outcome"],
        "done"
    );

    assert_eq!(receiver.counter_total("queue.jobs.claimed"), Some(25.0));
    assert_eq!(receiver.counter_total("queue.jobs.ended"), Some(25.0));
    assert_eq!(receiver.counter_total("queue.jobs.in_flight"), Some(0.0));
    assert_eq!(receiver.histogram_count("queue.job.duration"), Some(25));
    let job_spans: Vec<_> = receiver
        .spans()
        .into_iter()
        .filter(|s| s.name == "job")
        .collect();
    assert_eq!(job_spans.len(), 25);
    assert_eq!(
        job_spans.iter().filter(|s| s.trace_id == trace_id).count(),
        1,
        "the traced job continues its enqueuer's trace, and only it"
    );
}

#[tokio::test]
async fn a_collector_that_never_answers_cannot_hold_the_process_past_its_deadline() {
    let db = TestDb::new().await;
    let dead = dead_collector().await;
    let mut worker = start(&db, &format!("http://{dead}")).await;
    testkit::enqueue(&db.pool, &[NewJob::new(&Noop {})]).await;
    wait_all_completed(&db, 1).await;

    let signalled = Instant::now();
    worker.signal(Signal::SIGTERM);
    let status = worker.wait_exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();

    let report = worker.report(Duration::ZERO).await;
    assert_eq!(flush_hook(&report)["outcome"], "timed_out", "{report}");
    assert_eq!(report["outcome"], "overran");
    assert_eq!(status.code(), Some(1));
    // Grace 10s − margin 1s is the bound; the flush budget (1s) cuts it far sooner.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}
