//! A real service process whose JSON log lines the test can wait for.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::time::{Instant, timeout};

/// What a test service listens on: the kernel picks a free port at bind
/// time, and the test reads it back from the ready event (`bound_addr`).
/// Choosing a port beforehand could lose it to a test running in parallel.
pub const ANY_PORT: &str = "127.0.0.1:0";

/// The address a ready event names in `field`.
pub fn bound_addr(ready: &Value, field: &str) -> SocketAddr {
    ready[field]
        .as_str()
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in `{field}` of {ready}"))
}

/// A loopback address nobody listens on right now, for a test that checks
/// that nothing comes to listen there.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[derive(Debug, Default)]
struct Lines {
    stdout: Mutex<Vec<String>>,
    stderr: Mutex<Vec<String>>,
    changed: Notify,
}

#[derive(Debug)]
pub struct Service {
    child: Child,
    lines: Arc<Lines>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Service {
    /// Starts `binary` with JSON logs and the given environment on top of a
    /// cleared one, so nothing from the developer's shell leaks in.
    pub fn spawn(binary: impl AsRef<Path>, env: &[(&str, String)]) -> Self {
        let mut envs: HashMap<String, String> = HashMap::new();
        for key in ["PATH", "HOME"] {
            if let Ok(value) = std::env::var(key) {
                envs.insert(key.into(), value);
            }
        }
        envs.insert("LOG_FORMAT".into(), "json".into());
        envs.insert("RUST_LOG".into(), "info".into());
        envs.extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let mut child = Command::new(binary.as_ref())
            .env_clear()
            .envs(envs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.as_ref().display()));
        let lines = Arc::new(Lines::default());
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut readers = Vec::new();
        for (pipe, is_stdout) in [
            (
                Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                true,
            ),
            (Box::new(stderr), false),
        ] {
            let lines = lines.clone();
            readers.push(tokio::spawn(async move {
                let mut reader = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    let store = if is_stdout {
                        &lines.stdout
                    } else {
                        &lines.stderr
                    };
                    store.lock().unwrap().push(line);
                    lines.changed.notify_waiters();
                }
            }));
        }
        Self {
            child,
            lines,
            readers,
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id().expect("still running")).unwrap())
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).unwrap();
    }

    /// Every stdout line parsed as JSON (non-JSON lines are skipped).
    pub fn events(&self) -> Vec<Value> {
        self.lines
            .stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    pub fn stderr(&self) -> String {
        self.lines.stderr.lock().unwrap().join("\n")
    }

    /// Waits for the first JSON event matching `matches`.
    pub async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_until(what, within, || self.events().into_iter().find(&matches))
            .await
    }

    /// Every stdout line as written, for logs that are not JSON.
    pub fn stdout(&self) -> Vec<String> {
        self.lines.stdout.lock().unwrap().clone()
    }

    /// Waits for a stdout line containing `text`, for logs that are not JSON.
    pub async fn wait_for_text(&self, text: &str, within: Duration) -> String {
        self.wait_until(text, within, || {
            self.stdout().into_iter().find(|line| line.contains(text))
        })
        .await
    }

    async fn wait_until<T>(
        &self,
        what: &str,
        within: Duration,
        found: impl Fn() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            let changed = self.lines.changed.notified();
            if let Some(found) = found() {
                return found;
            }
            if timeout(deadline.saturating_duration_since(Instant::now()), changed)
                .await
                .is_err()
            {
                panic!(
                    "no {what} within {within:?}\nstdout:\n{}\nstderr:\n{}",
                    self.lines.stdout.lock().unwrap().join("\n"),
                    self.stderr()
                );
            }
        }
    }

    /// Waits for the event whose message is exactly `message`.
    pub async fn wait_for_message(&self, message: &str, within: Duration) -> Value {
        self.wait_for(message, within, |event| event["message"] == message)
            .await
    }

    /// The `shutdown report` event, with its `phases` field decoded.
    pub async fn report(&self, within: Duration) -> Value {
        crate::report::decode(self.wait_for_message("shutdown report", within).await)
    }

    /// Waits for the exit, and for every line the process wrote before it.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let status = match timeout(within, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("still running after {within:?}\nstderr:\n{}", self.stderr()),
        };
        for reader in self.readers.drain(..) {
            // A grandchild holding the pipe open must not hang the test.
            let _ = timeout(Duration::from_secs(2), reader).await;
        }
        status
    }
}

/// A binary of another package of this workspace (Cargo gives a test
/// `CARGO_BIN_EXE_` only for its own package's): taken from the target dir
/// (`$CARGO_TARGET_DIR`, else `target/` at the workspace root), debug
/// profile. `None`, with the reason printed, when it is missing or does not
/// answer `--help`, so the test can skip; under `CI` it fails instead,
/// because a skip there would be a pass that proved nothing.
pub fn workspace_binary(name: &str) -> Option<std::path::PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || crate::repo_root().join("target"),
        std::path::PathBuf::from,
    );
    let path = target.join("debug").join(name);
    let help = std::process::Command::new(&path).arg("--help").output();
    if help.is_ok_and(|out| {
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Usage")
    }) {
        return Some(path);
    }
    let missing = format!(
        "{} is missing or does not answer --help; run `cargo build -p {name}` first",
        path.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{missing}");
    eprintln!("SKIPPED: {missing}");
    None
}
