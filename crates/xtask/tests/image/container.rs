//! Running the image under podman, hardened the way Kubernetes runs it, and
//! reading what the container logs and reports.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::bound_addr;
use testkit::report::decode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn image() -> String {
    std::env::var("IMAGE").unwrap_or_else(|_| xtask::image::DEFAULT_TAG.to_owned())
}

pub fn containers_conf() -> String {
    std::env::var("CONTAINERS_CONF").unwrap_or_else(|_| {
        xtask::image::podman::containers_conf()
            .display()
            .to_string()
    })
}

/// Runs podman to completion: (exit code, stdout, stderr).
pub async fn podman(args: &[&str]) -> (i32, String, String) {
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

pub async fn podman_ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = podman(args).await;
    assert_eq!(code, 0, "podman {}: {stderr}", args.join(" "));
    stdout.trim().to_owned()
}

/// What every container here runs with: the Deployments' securityContext
/// (readOnlyRootFilesystem with no writable volume, runAsUser 65532,
/// capabilities drop ALL, allowPrivilegeEscalation false), on the host's
/// network so that it reaches the test's PostgreSQL on loopback.
pub const HARDENED: &[&str] = &[
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
pub struct Container {
    pub name: String,
    pub role: &'static str,
}

impl Container {
    pub async fn create(role: &'static str, command: &[&str], env: &[(&str, String)]) -> Self {
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

    pub async fn start(&self) -> Instant {
        let started = Instant::now();
        podman_ok(&["start", &self.name]).await;
        started
    }

    /// The container's stdout as JSON events, and its stderr as text.
    pub async fn logs(&self) -> (Vec<Value>, String) {
        let (_, stdout, stderr) = podman(&["logs", &self.name]).await;
        let events = stdout
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        (events, stderr)
    }

    pub async fn wait_for(
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

    pub async fn wait_for_message(&self, message: &str, within: Duration) -> Value {
        self.wait_for(message, within, |event| event["message"] == message)
            .await
    }

    /// The `shutdown report` event, its phases decoded.
    pub async fn report(&self) -> Value {
        decode(
            self.wait_for_message("shutdown report", Duration::from_secs(2))
                .await,
        )
    }

    pub async fn inspect(&self, format: &str) -> String {
        podman_ok(&["inspect", "--format", format, &self.name]).await
    }

    pub async fn kill(&self, signal: &str) {
        podman_ok(&["kill", "--signal", signal, &self.name]).await;
    }

    /// `podman stop -t grace`: SIGTERM (the image's STOPSIGNAL), then
    /// SIGKILL once `grace` seconds have passed. Returns how long it took.
    pub async fn stop(&self, grace: u64) -> Duration {
        let started = Instant::now();
        podman_ok(&["stop", "--time", &grace.to_string(), &self.name]).await;
        started.elapsed()
    }

    /// Waits for the exit; its code.
    pub async fn exit_code(&self, within: Duration) -> i32 {
        let waited = tokio::time::timeout(within, podman(&["wait", &self.name])).await;
        let (code, stdout, stderr) =
            waited.unwrap_or_else(|_| panic!("{} still running after {within:?}", self.role));
        assert_eq!(code, 0, "podman wait: {stderr}");
        stdout.trim().parse().expect("an exit code")
    }

    /// `/proc/<pid>/status` of the container's main process, seen from the
    /// host.
    pub async fn proc_status(&self) -> String {
        let pid = self.inspect("{{.State.Pid}}").await;
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status")
    }

    /// From `podman start` to `/readyz` 200 on the ops port, and from the
    /// container's start (`State.StartedAt`) to the service's ready event.
    pub async fn time_to_ready(
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
        let timestamp = ready["timestamp"].as_str().expect("a timestamp");
        let ready_at = OffsetDateTime::parse(timestamp, &Rfc3339)
            .expect("an RFC 3339 timestamp")
            .unix_timestamp_nanos();
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

pub fn assert_hardened(role: &str, status: &str) {
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
