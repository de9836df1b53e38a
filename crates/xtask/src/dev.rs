//! `cargo xtask dev`: the whole stack on one machine, against a persistent
//! PostgreSQL under `target/dev-pg` (or `DATABASE_URL`).
//!
//! The supervisor is the only thing the terminal's Ctrl-C reaches. It
//! passes the signal on as SIGTERM, the way a kubelet would, waits for the
//! services' own graceful shutdown, then stops PostgreSQL. A second Ctrl-C
//! kills the services at once.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::Command;

use crate::children::{Child, Signals, exit_code};
use crate::pg::{DataDir, Database};
use crate::workspace;

const API_ADDR: &str = "127.0.0.1:8080";
const API_OPS_ADDR: &str = "127.0.0.1:9090";
const WORKER_OPS_ADDR: &str = "127.0.0.1:9091";

/// What the services get unless the developer's environment says otherwise:
/// readable logs, and a short drain delay, since no load balancer needs
/// time to notice that a laptop process is leaving.
const DEV_DEFAULTS: &[(&str, &str)] = &[
    ("LOG_FORMAT", "pretty"),
    ("RUST_LOG", "info"),
    ("SHUTDOWN_DRAIN_DELAY", "1s"),
];

/// Longer than the services' default grace period, so their own deadline
/// acts first.
const STOP_WAIT: Duration = Duration::from_secs(35);

pub async fn run(signals: &mut Signals) -> anyhow::Result<u8> {
    let database =
        Database::from_env_or_start(DataDir::Persistent(workspace::target_dir().join("dev-pg")))
            .await?;
    let build =
        workspace::build_bins(&["api", "worker"], workspace::Profile::Debug, signals).await?;
    if build != 0 {
        return Ok(build);
    }
    let bin = workspace::target_dir().join("debug");
    migrate(&bin, database.url()).await?;
    let mut children = vec![
        spawn(
            "api",
            &bin,
            database.url(),
            &[("LISTEN_ADDR", API_ADDR), ("OPS_LISTEN_ADDR", API_OPS_ADDR)],
        )?,
        spawn(
            "worker",
            &bin,
            database.url(),
            &[("OPS_LISTEN_ADDR", WORKER_OPS_ADDR)],
        )?,
    ];
    println!(
        "\n  api      http://{API_ADDR}/v1/orders   (OpenAPI: http://{API_ADDR}/openapi.json)\
         \n  api ops  http://{API_OPS_ADDR}/livez /readyz /metrics\
         \n  worker   http://{WORKER_OPS_ADDR}/livez /readyz /metrics\
         \n  database {}\n\n  Ctrl-C stops everything; a second Ctrl-C kills at once.\n",
        database.url()
    );

    let code = supervise(&mut children, signals).await;
    database.stop()?;
    Ok(code)
}

/// `api migrate`, as the migrate Job runs it before a release serves: one
/// runner of migrations for production, development and the tests.
async fn migrate(bin: &Path, url: &str) -> anyhow::Result<()> {
    let status = Command::new(bin.join("api"))
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env("LOG_FORMAT", "pretty")
        .status()
        .await?;
    anyhow::ensure!(status.success(), "`api migrate` failed: {status}");
    Ok(())
}

fn spawn(name: &str, bin: &Path, url: &str, addrs: &[(&str, &str)]) -> anyhow::Result<Child> {
    let mut command = Command::new(bin.join(name));
    for (key, value) in DEV_DEFAULTS {
        if std::env::var_os(key).is_none() {
            command.env(key, value);
        }
    }
    // The services write into our pipe, so they cannot see that it ends at
    // a terminal; tell them.
    if std::io::stdout().is_terminal() && std::env::var_os("CLICOLOR_FORCE").is_none() {
        command.env("CLICOLOR_FORCE", "1");
    }
    command.envs(addrs.iter().copied()).env("DATABASE_URL", url);
    Child::spawn(name, &mut command, true)
}

/// Runs until a signal or until any service exits on its own; then stops
/// the rest. Returns 0 only for a clean stop on request.
async fn supervise(children: &mut [Child], signals: &mut Signals) -> u8 {
    let unexpected = tokio::select! {
        signal = signals.next() => {
            eprintln!("xtask dev: {signal}, stopping the services (again to kill)");
            None
        }
        (name, status) = first_exit(children) => {
            eprintln!("xtask dev: {name} exited ({status}); stopping the rest");
            Some(exit_code(status).max(1))
        }
    };
    for child in children.iter() {
        child.signal(Signal::SIGTERM);
    }
    let mut code = 0;
    let all_exit = async {
        for child in children.iter_mut() {
            let status = child.wait().await;
            if !status.success() {
                eprintln!("xtask dev: {} exited with {status}", child.name);
                code = exit_code(status);
            }
        }
    };
    tokio::select! {
        () = all_exit => {}
        _ = signals.next() => eprintln!("xtask dev: killing the services"),
        () = tokio::time::sleep(STOP_WAIT) => eprintln!("xtask dev: services overran; killing them"),
    }
    for child in children.iter_mut() {
        child.signal(Signal::SIGKILL);
        child.wait().await;
    }
    unexpected.unwrap_or(code)
}

async fn first_exit(children: &mut [Child]) -> (String, std::process::ExitStatus) {
    let waits = children.iter_mut().map(|child| {
        Box::pin(async move {
            let status = child.wait().await;
            (child.name.clone(), status)
        })
    });
    futures::future::select_all(waits).await.0
}
