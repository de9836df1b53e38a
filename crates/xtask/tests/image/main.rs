//! The built image, run the way Kubernetes runs it: a read-only root, user
//! 65532, every capability dropped, no init (the service is PID 1), against
//! a real PostgreSQL, and stopped the way the kubelet and `podman stop`
//! stop it. Run by `cargo xtask image-test` after `cargo xtask image`;
//! ignored otherwise, since it needs the image and podman.
//!
//! Each test prints what it measured (`image-test:` lines): CI's log keeps
//! the image size, the start-to-ready time and the exit codes.

mod compose;
mod container;
mod support;

use std::time::{Duration, Instant};

use sqlx::PgPool;
use testkit::otlp::dead_collector;
use testkit::report::phase;
use testkit::{TestDb, bound_addr};

use compose::*;
use container::*;
use support::*;

#[tokio::test]
#[ignore = "needs the image and podman: run `cargo xtask image-test`"]
async fn the_image_is_distroless_nonroot_and_records_its_size() {
    let image = image();
    let size: u64 = podman_ok(&["image", "inspect", "--format", "{{.Size}}", &image])
        .await
        .parse()
        .unwrap();
    println!("image-test: {image} is {:.1} MB", size as f64 / 1e6);
    assert!(
        size < 200_000_000,
        "{size} bytes: the runtime stage is not distroless"
    );
    assert_eq!(
        podman_ok(&["image", "inspect", "--format", "{{.Config.User}}", &image]).await,
        "65532:65532"
    );
    // No shell to run a preStop `sleep` or anything else with.
    let (code, _, stderr) = podman(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "/bin/sh",
        &image,
        "-c",
        "true",
    ])
    .await;
    assert_ne!(code, 0, "the image has a shell");
    assert!(stderr.contains("no such file"), "{stderr}");
    for bin in ["api", "worker", "drill"] {
        let path = format!("/usr/local/bin/{bin}");
        let (code, stdout, stderr) = podman(&[
            "run",
            "--rm",
            "--network",
            "host",
            "--read-only",
            "--user",
            "65532",
            &image,
            &path,
            "--help",
        ])
        .await;
        assert_eq!(code, 0, "{bin} --help: {stderr}");
        assert!(stdout.contains("Usage"), "{bin} --help: {stdout}");
    }
}

/// docker-compose.yml's migrate, api and worker, under podman: migrate
/// fills an empty database and exits 0 (compose's
/// `service_completed_successfully`), then `podman stop -t
/// <stop_grace_period>` (what `docker compose stop` and, after preStop,
/// the kubelet do) while requests and jobs are in flight.
#[tokio::test]
#[ignore = "needs the image and podman: run `cargo xtask image-test`"]
async fn compose_services_migrate_then_sigterm_under_load_exits_0_clean_and_nothing_lost() {
    let (name, url) = empty_database().await;
    let migrate = compose_service("migrate")
        .container("migrate", &url, &[])
        .await;
    migrate.start().await;
    let code = migrate.exit_code(Duration::from_secs(30)).await;
    assert_eq!(code, 0, "api migrate failed: {:?}", migrate.logs().await);
    let pool = PgPool::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&pool)
        .await
        .unwrap();
    let files = std::fs::read_dir(xtask::workspace::root().join("migrations"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "sql")
        })
        .count();
    assert_eq!(
        applied,
        i64::try_from(files).unwrap(),
        "migrations applied by the image's `api migrate`"
    );
    println!("image-test: migrate (compose) applied {applied} migrations and exited 0");

    let api_service = compose_service("api");
    let worker_service = compose_service("worker");
    // Work that is still running when the signal comes: requests of 3 s
    // (the api's test route), jobs of 2 s.
    let api = api_service
        .container("api", &url, &[("API_TEST_ROUTES", "1")])
        .await;
    let worker = worker_service
        .container(
            "worker",
            &url,
            &[
                ("WORK_TIME", "2s"),
                ("WORKER_CONCURRENCY", "4"),
                ("QUEUE_POLL_INTERVAL", "200ms"),
                // No schedule's ticks among the jobs the test follows.
                ("WORKER_SCHEDULES", "none"),
            ],
        )
        .await;
    let started = api.start().await;
    let (ready, host, inside) = api.time_to_ready(started, "api ready").await;
    println!(
        "image-test: api start to ready: {} ms in the container (StartedAt to `api ready`), {} ms from `podman start` to /readyz 200",
        inside.as_millis(),
        host.as_millis()
    );
    let started = worker.start().await;
    let (_, host, inside) = worker.time_to_ready(started, "worker ready").await;
    println!(
        "image-test: worker start to ready: {} ms in the container, {} ms from `podman start` to /readyz 200",
        inside.as_millis(),
        host.as_millis()
    );
    assert_hardened("api", &api.proc_status().await);
    assert_hardened("worker", &worker.proc_status().await);

    let base = format!("http://{}", bound_addr(&ready, "listen_addr"));
    let ops = format!("http://{}", bound_addr(&ready, "ops_addr"));
    let client = reqwest::Client::new();
    create_orders(&client, &base, 6).await;
    wait_for_running_jobs(&pool).await;
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let request = client.get(format!("{base}/test/slow?ms=3000")).send();
            tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while requests_in_flight(&client, &ops).await < 3.0 {
        assert!(Instant::now() < deadline, "the slow requests never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_flight_jobs = running_jobs(&pool).await;
    assert!(!in_flight_jobs.is_empty());

    let (api_took, worker_took) = tokio::join!(
        api.stop(api_service.grace),
        worker.stop(worker_service.grace)
    );
    for (container, took, grace) in [
        (&api, api_took, api_service.grace),
        (&worker, worker_took, worker_service.grace),
    ] {
        let code = container.exit_code(Duration::from_secs(5)).await;
        let report = container.report().await;
        println!(
            "image-test: {} after SIGTERM (podman stop -t {grace}): exit {code} in {} ms, shutdown report {} ({} ms of a {} ms deadline)",
            container.role,
            took.as_millis(),
            report["outcome"],
            report["elapsed_ms"],
            report["deadline_ms"]
        );
        assert_eq!(code, 0, "{} exit code", container.role);
        assert!(
            took < Duration::from_secs(grace),
            "{} needed the SIGKILL",
            container.role
        );
        assert_eq!(report["trigger"], "SIGTERM");
        assert_eq!(report["outcome"], "clean", "{report}");
    }
    for request in slow {
        assert_eq!(
            request.await.unwrap().ok(),
            Some(200),
            "an in-flight request lost its response"
        );
    }
    let states: Vec<(i64, String)> =
        sqlx::query_as("select id, state from jobs where id = any($1) order by id")
            .bind(&in_flight_jobs)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        states.iter().all(|(_, state)| state == "completed"),
        "jobs running at SIGTERM did not complete: {states:?}"
    );
    assert!(
        running_jobs(&pool).await.is_empty(),
        "a job was left running"
    );
    println!(
        "image-test: 3 requests in flight at SIGTERM answered 200; {} jobs running at SIGTERM, all completed",
        in_flight_jobs.len()
    );
    pool.close().await;
    drop_database(&name).await;
}

/// PID 1 gets no default signal actions from the kernel, so every repeat
/// is the service's own doing: a second SIGINT skips the delay and the
/// drain (a running job is cancelled and released), and the process still
/// exits 0 with a clean report.
#[tokio::test]
#[ignore = "needs the image and podman: run `cargo xtask image-test`"]
async fn a_second_sigint_to_pid_1_skips_delay_and_drain_and_releases_the_job() {
    let db = TestDb::new().await;
    let (api, worker, ready) = services(&db, &[]).await;
    let client = reqwest::Client::new();
    create_orders(
        &client,
        &format!("http://{}", bound_addr(&ready, "listen_addr")),
        1,
    )
    .await;
    // The order's fulfilment takes 60 s (WORK_TIME), so it is still running
    // at the signals; its receipt may be done already.
    let deadline = Instant::now() + Duration::from_secs(15);
    let running = loop {
        let running: Vec<i64> = sqlx::query_scalar(
            "select id from jobs where state = 'running' and kind = 'fulfil_order'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        if !running.is_empty() {
            break running;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never claimed the fulfilment"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    for container in [&api, &worker] {
        let signalled = Instant::now();
        container.kill("SIGINT").await;
        container
            .wait_for_message("shutdown started", Duration::from_secs(5))
            .await;
        container.kill("SIGINT").await;
        let code = container.exit_code(Duration::from_secs(10)).await;
        let took = signalled.elapsed();
        let report = container.report().await;
        println!(
            "image-test: {} after SIGINT twice: exit {code} in {} ms, report {}, delay {}, drain {}",
            container.role,
            took.as_millis(),
            report["outcome"],
            phase(&report, "delay")["outcome"],
            phase(&report, "drain")["outcome"]
        );
        assert_eq!(code, 0);
        assert!(
            took < Duration::from_secs(5),
            "the second signal did not hurry: {took:?}"
        );
        assert_eq!(report["trigger"], "SIGINT");
        assert_eq!(report["outcome"], "clean", "{report}");
        assert_eq!(phase(&report, "delay")["outcome"], "skipped");
        assert_eq!(phase(&report, "drain")["outcome"], "skipped");
    }
    let states: Vec<(String, Option<String>)> =
        sqlx::query_as("select state, locked_by from jobs where id = any($1)")
            .bind(&running)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(
        states
            .iter()
            .all(|(state, locked_by)| state == "available" && locked_by.is_none()),
        "the cancelled job was not released: {states:?}"
    );
    println!(
        "image-test: the job running at the second SIGINT was released, not left to its lease"
    );
}

/// A third SIGINT exits at once with 130, even while the shutdown hangs
/// on a dead collector, and without a report.
#[tokio::test]
#[ignore = "needs the image and podman: run `cargo xtask image-test`"]
async fn a_third_sigint_to_pid_1_exits_at_once_with_130() {
    let db = TestDb::new().await;
    let endpoint = format!("http://{}", dead_collector().await);
    let (api, worker, _) = services(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("SHUTDOWN_FLUSH_TIMEOUT", "20s".to_owned()),
        ],
    )
    .await;
    for container in [&api, &worker] {
        container.kill("SIGINT").await;
        container
            .wait_for_message("shutdown started", Duration::from_secs(5))
            .await;
        container.kill("SIGINT").await;
        container
            .wait_for("second-signal warning", Duration::from_secs(5), |event| {
                event["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("second signal"))
            })
            .await;
        let signalled = Instant::now();
        container.kill("SIGINT").await;
        let code = container.exit_code(Duration::from_secs(5)).await;
        let took = signalled.elapsed();
        let (events, stderr) = container.logs().await;
        println!(
            "image-test: {} after SIGINT three times: exit {code} {} ms after the third",
            container.role,
            took.as_millis()
        );
        assert_eq!(code, 130);
        assert!(
            took < Duration::from_secs(2),
            "the third signal took {took:?}"
        );
        assert!(
            stderr.contains("third signal (SIGINT): exiting now with 130"),
            "{stderr}"
        );
        assert!(
            !events
                .iter()
                .any(|event| event["message"] == "shutdown report"),
            "a third signal exits without a report"
        );
    }
}
