//! The built image, run the way Kubernetes runs it: a read-only root, user
//! 65532, every capability dropped, no init (the service is PID 1), against
//! a real PostgreSQL, and stopped the way the kubelet and `podman stop`
//! stop it. Run by `cargo xtask image-test` after `cargo xtask image`;
//! ignored otherwise, since it needs the image and podman.
//!
//! Each test prints what it measured (`image-test:` lines): CI's log keeps
//! the image size, the start-to-ready time and the exit codes.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection, PgPool};
use testkit::{TestDb, bound_addr};

fn image() -> String {
    std::env::var("IMAGE").unwrap_or_else(|_| xtask::image::DEFAULT_TAG.to_owned())
}

fn containers_conf() -> String {
    std::env::var("CONTAINERS_CONF").unwrap_or_else(|_| {
        xtask::image::podman::containers_conf()
            .display()
            .to_string()
    })
}

/// Runs podman to completion: (exit code, stdout, stderr).
async fn podman(args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new("podman")
        .args(args)
        .env("CONTAINERS_CONF", containers_conf())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("podman runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn podman_ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = podman(args).await;
    assert_eq!(code, 0, "podman {}: {stderr}", args.join(" "));
    stdout.trim().to_owned()
}

/// What every container here runs with: the Deployments' securityContext
/// (readOnlyRootFilesystem with no writable volume, runAsUser 65532,
/// capabilities drop ALL, allowPrivilegeEscalation false), on the host's
/// network so that it reaches the test's PostgreSQL on loopback.
const HARDENED: &[&str] = &[
    "--read-only",
    "--read-only-tmpfs=false",
    "--user",
    "65532:65532",
    "--cap-drop",
    "all",
    "--security-opt",
    "no-new-privileges",
    "--network",
    "host",
];

#[derive(Debug)]
struct Container {
    name: String,
    role: &'static str,
}

impl Container {
    async fn create(role: &'static str, command: &[&str], env: &[(&str, String)]) -> Self {
        let name = format!(
            "graceful-rust-test-{role}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut args: Vec<String> = ["create", "--name", &name]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.extend(HARDENED.iter().map(|s| (*s).to_owned()));
        let defaults = [
            ("LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        // podman keeps the last of repeated --env settings.
        for (key, value) in defaults.iter().chain(env) {
            args.push("--env".into());
            args.push(format!("{key}={value}"));
        }
        args.push(image());
        args.extend(command.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        podman_ok(&refs).await;
        Self { name, role }
    }

    async fn start(&self) -> Instant {
        let started = Instant::now();
        podman_ok(&["start", &self.name]).await;
        started
    }

    /// The container's stdout as JSON events, and its stderr as text.
    async fn logs(&self) -> (Vec<Value>, String) {
        let (_, stdout, stderr) = podman(&["logs", &self.name]).await;
        let events = stdout
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        (events, stderr)
    }

    async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (events, stderr) = self.logs().await;
            if let Some(event) = events.into_iter().find(&matches) {
                return event;
            }
            if Instant::now() > deadline {
                let (_, stdout, _) = podman(&["logs", &self.name]).await;
                panic!(
                    "{}: no {what} within {within:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
                    self.role
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn wait_for_message(&self, message: &str, within: Duration) -> Value {
        self.wait_for(message, within, |event| event["message"] == message)
            .await
    }

    /// The `shutdown report` event, its phases decoded.
    async fn report(&self) -> Value {
        let mut report = self
            .wait_for_message("shutdown report", Duration::from_secs(2))
            .await;
        let phases: Value =
            serde_json::from_str(report["phases"].as_str().expect("phases is JSON text")).unwrap();
        report["phases"] = phases;
        report
    }

    async fn inspect(&self, format: &str) -> String {
        podman_ok(&["inspect", "--format", format, &self.name]).await
    }

    async fn kill(&self, signal: &str) {
        podman_ok(&["kill", "--signal", signal, &self.name]).await;
    }

    /// `podman stop -t grace`: SIGTERM (the image's STOPSIGNAL), then
    /// SIGKILL once `grace` seconds have passed. Returns how long it took.
    async fn stop(&self, grace: u64) -> Duration {
        let started = Instant::now();
        podman_ok(&["stop", "--time", &grace.to_string(), &self.name]).await;
        started.elapsed()
    }

    /// Waits for the exit; its code.
    async fn exit_code(&self, within: Duration) -> i32 {
        let waited = tokio::time::timeout(within, podman(&["wait", &self.name])).await;
        let (code, stdout, stderr) =
            waited.unwrap_or_else(|_| panic!("{} still running after {within:?}", self.role));
        assert_eq!(code, 0, "podman wait: {stderr}");
        stdout.trim().parse().expect("an exit code")
    }

    /// `/proc/<pid>/status` of the container's main process, seen from the
    /// host.
    async fn proc_status(&self) -> String {
        let pid = self.inspect("{{.State.Pid}}").await;
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status")
    }

    /// From `podman start` to `/readyz` 200 on the ops port, and from the
    /// container's start (`State.StartedAt`) to the service's ready event.
    async fn time_to_ready(
        &self,
        started: Instant,
        ready_message: &str,
    ) -> (Value, Duration, Duration) {
        let ready = self
            .wait_for_message(ready_message, Duration::from_secs(20))
            .await;
        let readyz = format!("http://{}/readyz", bound_addr(&ready, "ops_addr"));
        let client = reqwest::Client::new();
        loop {
            if client
                .get(&readyz)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{}: /readyz never 200",
                self.role
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let host = started.elapsed();
        let container_started: i128 = self
            .inspect("{{.State.StartedAt.UnixNano}}")
            .await
            .parse()
            .unwrap();
        let ready_at = unix_nanos(ready["timestamp"].as_str().expect("a timestamp"));
        let inside = Duration::from_nanos(u64::try_from(ready_at - container_started).unwrap_or(0));
        (ready, host, inside)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::process::Command::new("podman")
            .args(["rm", "--force", "--time", "0", &self.name])
            .env("CONTAINERS_CONF", containers_conf())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `2026-11-30T07:41:12.345678Z` (tracing-subscriber's JSON timestamps) as
/// nanoseconds since the epoch.
fn unix_nanos(rfc3339: &str) -> i128 {
    let (date, time) = rfc3339.trim_end_matches('Z').split_once('T').unwrap();
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, d) = (
        ymd.next().unwrap(),
        ymd.next().unwrap(),
        ymd.next().unwrap(),
    );
    // Days from civil (proleptic Gregorian), after H. Hinnant.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms = hms.split(':').map(|p| p.parse::<i64>().unwrap());
    let secs =
        days * 86_400 + hms.next().unwrap() * 3600 + hms.next().unwrap() * 60 + hms.next().unwrap();
    let nanos: i128 = format!("{frac:0<9}")[..9].parse().unwrap();
    i128::from(secs) * 1_000_000_000 + nanos
}

/// A database with nothing in it, for the migrate Job's container to fill.
async fn empty_database() -> (String, String) {
    let server: PgConnectOptions = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL: run with `cargo xtask image-test`")
        .parse()
        .unwrap();
    let name = format!("image_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&server).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!("create database {name}")))
        .await
        .unwrap();
    admin.close().await.unwrap();
    (
        name.clone(),
        server.database(&name).to_url_lossy().to_string(),
    )
}

fn assert_hardened(role: &str, status: &str) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in /proc status"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        field("NSpid:").last(),
        Some(&"1"),
        "{role} is not PID 1 in its container"
    );
    assert!(
        field("Uid:").iter().all(|uid| *uid == "65532"),
        "{role} uids: {:?}",
        field("Uid:")
    );
    assert_eq!(
        field("CapEff:"),
        ["0000000000000000"],
        "{role} has capabilities"
    );
    assert_eq!(field("NoNewPrivs:"), ["1"], "{role} may gain privileges");
}

fn phase<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == name)
        .unwrap_or_else(|| panic!("no {name} phase in {report}"))
}

async fn create_orders(client: &reqwest::Client, base: &str, count: usize) {
    for n in 0..count {
        let response = client
            .post(format!("{base}/v1/orders"))
            .json(&json!({"customer_id": format!("c-{n}"), "items": [{"sku": "sku-1", "qty": 1}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
    }
}

async fn running_jobs(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("select id from jobs where state = 'running' order by id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn wait_for_running_jobs(pool: &PgPool) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let running = running_jobs(pool).await;
        if !running.is_empty() {
            return running;
        }
        assert!(Instant::now() < deadline, "the worker claimed no job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The api's own count of requests in flight, from its `/metrics`.
async fn requests_in_flight(client: &reqwest::Client, ops: &str) -> f64 {
    let text = client
        .get(format!("{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("http_server_active_requests"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

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

/// A service of docker-compose.yml made of this project's image: its
/// command, environment and stop_grace_period, as compose would run it.
struct ComposeService {
    command: Vec<String>,
    env: Vec<(String, String)>,
    grace: u64,
}

fn compose_service(name: &str) -> ComposeService {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docker-compose.yml");
    let compose: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let service = &compose["services"][name];
    assert_eq!(
        service["image"].as_str(),
        Some("graceful-rust:dev"),
        "{name} is not built from this repository"
    );
    let command = service["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|part| part.as_str().unwrap().to_owned())
        .collect();
    let env = service["environment"]
        .as_mapping()
        .map(|map| {
            map.iter()
                .map(|(key, value)| {
                    let value = match value {
                        serde_norway::Value::String(text) => text.clone(),
                        other => serde_norway::to_string(other).unwrap().trim().to_owned(),
                    };
                    (key.as_str().unwrap().to_owned(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    let grace = service["stop_grace_period"]
        .as_str()
        .map_or(10, |period| period.trim_end_matches('s').parse().unwrap());
    ComposeService {
        command,
        env,
        grace,
    }
}

impl ComposeService {
    /// The service's environment, with what only compose's network has
    /// replaced: the database is the test's (compose's `postgres` service
    /// is a registry image), addresses are loopback ports the kernel picks
    /// (the host's network instead of compose's), and no collector (also a
    /// registry image). `extra` adds or replaces settings.
    async fn container(
        &self,
        role: &'static str,
        database_url: &str,
        extra: &[(&str, &str)],
    ) -> Container {
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(key, _)| !key.starts_with("OTEL_"))
            .filter(|(key, _)| !extra.iter().any(|(k, _)| k == key))
            .map(|(key, value)| {
                let value = match key.as_str() {
                    "DATABASE_URL" => database_url.to_owned(),
                    "LISTEN_ADDR" | "OPS_LISTEN_ADDR" => "127.0.0.1:0".to_owned(),
                    _ => value.clone(),
                };
                (key.clone(), value)
            })
            .collect();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let command: Vec<&str> = self.command.iter().map(String::as_str).collect();
        Container::create(role, &command, &env).await
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
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
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

async fn drop_database(name: &str) {
    let server: PgConnectOptions = std::env::var("DATABASE_URL").unwrap().parse().unwrap();
    let mut admin = PgConnection::connect_with(&server).await.unwrap();
    let _ = admin
        .execute(AssertSqlSafe(format!(
            "drop database if exists {name} with (force)"
        )))
        .await;
}

/// A collector that accepts connections and never answers: the flush phase
/// hangs on it until its budget, so a shutdown is still running when the
/// third signal comes.
fn dead_collector() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    (listener, endpoint)
}

async fn services(db: &TestDb, extra: &[(&'static str, String)]) -> (Container, Container, Value) {
    let common = |more: &[(&'static str, String)]| {
        let mut env = vec![
            ("DATABASE_URL", db.url.clone()),
            ("OPS_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("SHUTDOWN_GRACE_PERIOD", "60s".to_owned()),
            ("SHUTDOWN_DRAIN_DELAY", "30s".to_owned()),
        ];
        env.extend(extra.iter().cloned());
        env.extend(more.iter().cloned());
        env
    };
    let api = Container::create(
        "api",
        &["/usr/local/bin/api"],
        &common(&[("LISTEN_ADDR", "127.0.0.1:0".to_owned())]),
    )
    .await;
    let worker = Container::create(
        "worker",
        &["/usr/local/bin/worker"],
        &common(&[
            ("WORK_TIME", "60s".to_owned()),
            ("QUEUE_POLL_INTERVAL", "200ms".to_owned()),
        ]),
    )
    .await;
    api.start().await;
    worker.start().await;
    let ready = api
        .wait_for_message("api ready", Duration::from_secs(20))
        .await;
    worker
        .wait_for_message("worker ready", Duration::from_secs(20))
        .await;
    (api, worker, ready)
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
    let (_collector, endpoint) = dead_collector();
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
