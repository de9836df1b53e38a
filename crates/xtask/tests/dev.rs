//! `cargo xtask dev` as a developer restarts it all day: the second start in
//! a row compiles nothing before both services are ready. Runs the real
//! alias from the workspace root, as a shell would, against a fresh
//! database; the stack listens on its usual ports, so this test runs alone
//! (`.config/nextest.toml`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::TestDb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use xtask::workspace;

struct Dev {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

/// Starts `cargo xtask dev` and waits until both services say they are ready.
async fn start(database_url: &str, within: Duration) -> Dev {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // A developer's shell has none of the variables cargo sets for this test.
    workspace::forget_cargo_run_env(command.as_std_mut());
    let mut child = command
        .args(["xtask", "dev"])
        .current_dir(workspace::root())
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        readers.push(tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                output.lock().unwrap().push(line);
            }
        }));
    }
    let deadline = Instant::now() + within;
    loop {
        let seen = output.lock().unwrap().join("\n");
        if seen.contains("api ready") && seen.contains("worker ready") {
            return Dev { child, output };
        }
        // `cargo xtask dev` that gave up (a failed build or migration)
        // fails the test now, not at the deadline minutes later.
        if let Some(status) = child.try_wait().unwrap() {
            // Its last lines; a pipe a grandchild still holds ends the
            // wait at the bound.
            for reader in readers {
                let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
            }
            let seen = output.lock().unwrap().join("\n");
            panic!("`cargo xtask dev` exited before ready ({status}):\n{seen}");
        }
        assert!(
            Instant::now() < deadline,
            "not ready within {within:?}:\n{seen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Ctrl-C, as a terminal sends it, and a clean exit.
async fn stop(mut dev: Dev) {
    let pid = Pid::from_raw(i32::try_from(dev.child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), dev.child.wait())
        .await
        .expect("cargo xtask dev stops on Ctrl-C")
        .unwrap();
    assert!(
        status.success(),
        "{status}\n{}",
        dev.output.lock().unwrap().join("\n")
    );
}

/// Every build output, with when it was last written.
fn build_outputs() -> BTreeMap<PathBuf, SystemTime> {
    let deps = workspace::target_dir().join("debug/deps");
    std::fs::read_dir(deps)
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            Some((entry.path(), entry.metadata().ok()?.modified().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn a_second_start_in_a_row_compiles_nothing_before_ready() {
    let db = TestDb::new().await;
    // The first start may build whatever is missing.
    stop(start(&db.url, Duration::from_secs(400)).await).await;

    let before = build_outputs();
    let started = Instant::now();
    let dev = start(&db.url, Duration::from_secs(120)).await;
    let ready_in = started.elapsed();
    let after = build_outputs();
    stop(dev).await;

    let rewritten: Vec<_> = after
        .iter()
        .filter(|(path, written)| before.get(*path) != Some(*written))
        .map(|(path, _)| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    eprintln!("second start: both services ready {ready_in:?} after `cargo xtask dev`");
    assert!(
        rewritten.is_empty(),
        "a second start with nothing changed compiled again: {rewritten:?}"
    );
}
