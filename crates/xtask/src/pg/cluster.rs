//! A PostgreSQL cluster owned by one xtask command: started with `pg_ctl`,
//! which detaches the server into its own session so a terminal's Ctrl-C
//! never reaches it behind our back, and always stopped again, on success,
//! on error, on Ctrl-C and on panic (by `Drop`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::kill;
use nix::unistd::{Pid, Uid, User};
use tempfile::TempDir;

use super::find::ServerBinaries;

/// Throwaway clusters trade durability for speed: they die with the command.
const THROWAWAY_SETTINGS: &[&str] = &[
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
];

/// Enough for the test suite's parallel processes, each with its own pool.
const MAX_CONNECTIONS: &str = "-c max_connections=400";

#[derive(Debug)]
pub enum DataDir {
    /// A fresh directory under the system temp dir, removed on stop.
    Throwaway,
    /// Created on first use, kept between runs (`cargo xtask dev`).
    Persistent(PathBuf),
}

#[derive(Debug)]
pub struct Cluster {
    binaries: ServerBinaries,
    /// Holds `data/`, the unix socket and `postgres.log`.
    home: PathBuf,
    url: String,
    /// The server's command-line options, kept for a restart.
    options: String,
    stopped: bool,
    _throwaway: Option<TempDir>,
}

impl Cluster {
    pub async fn start(binaries: &ServerBinaries, data: DataDir) -> anyhow::Result<Self> {
        let (home, throwaway) = match data {
            DataDir::Throwaway => {
                let dir = tempfile::Builder::new().prefix("xtask-pg-").tempdir()?;
                (dir.path().to_owned(), Some(dir))
            }
            DataDir::Persistent(home) => (home, None),
        };
        std::fs::create_dir_all(&home)?;
        give_to_server_user(&home)?;
        let mut cluster = Self {
            binaries: binaries.clone(),
            url: String::new(),
            options: String::new(),
            home,
            stopped: true,
            _throwaway: throwaway,
        };
        if !cluster.data().join("PG_VERSION").exists() {
            cluster.initdb(cluster._throwaway.is_some())?;
        } else {
            // A dev cluster left running by a killed supervisor holds the
            // data directory; stop it rather than fail on its lock file.
            let _ = cluster.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "10"]);
        }
        let port = free_port()?;
        cluster.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        cluster.options = format!(
            "-h 127.0.0.1 -p {port} -k {} {MAX_CONNECTIONS}",
            cluster.home.display()
        );
        if cluster._throwaway.is_some() {
            cluster.options.push(' ');
            cluster.options.push_str(&THROWAWAY_SETTINGS.join(" "));
        }
        cluster.start_server().await?;
        Ok(cluster)
    }

    async fn start_server(&mut self) -> anyhow::Result<()> {
        let log = self.home.join("postgres.log");
        let started = self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            path_str(&log)?,
            "-o",
            &self.options,
        ])?;
        if !started.status.success() {
            bail!(
                "PostgreSQL did not start ({}):\n{}",
                started.status,
                tail(&log)
            );
        }
        self.stopped = false;
        self.wait_until_accepting().await
    }

    /// Stops the server as `pg_ctl -m fast` does at a restart: clients are
    /// disconnected, and the port refuses connections until
    /// [`Cluster::start_again`]. For fault tests.
    pub fn stop_for_restart(&mut self) -> anyhow::Result<()> {
        self.stop_now()
    }

    /// Starts the server again on the same port, with the same data.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        self.start_server().await
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the postmaster and every
    /// backend: connections stay open but nothing answers, as with a server
    /// that hangs or a network path that silently drops packets. For fault
    /// tests.
    pub fn freeze(&self, frozen: bool) -> anyhow::Result<()> {
        let postmaster = self.postmaster_pid().context("no postmaster")?;
        let signal = if frozen {
            nix::sys::signal::Signal::SIGSTOP
        } else {
            nix::sys::signal::Signal::SIGCONT
        };
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc")? {
            let Ok(pid) = entry?.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok());
            if parent == Some(postmaster.as_raw()) {
                pids.push(Pid::from_raw(pid));
            }
        }
        for pid in pids {
            kill(pid, signal)?;
        }
        Ok(())
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The postmaster's pid, from its lock file.
    pub fn postmaster_pid(&self) -> Option<Pid> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        Some(Pid::from_raw(text.lines().next()?.trim().parse().ok()?))
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.stopped, true) {
            return Ok(());
        }
        let postmaster = self.postmaster_pid();
        // Fast: disconnect clients and shut down cleanly; immediate only if
        // that hangs, so the data of a dev cluster survives.
        let fast = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "20"]);
        if !fast.as_ref().is_ok_and(|out| out.status.success()) {
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "10"]);
        }
        // pg_ctl returns once the lock file is gone, a moment before the
        // postmaster has exited; "no process left" means waiting for that.
        if let Some(pid) = postmaster
            && !exits_within(pid, Duration::from_secs(10))
        {
            let _ = kill(pid, nix::sys::signal::Signal::SIGKILL);
            bail!("PostgreSQL (pid {pid}) ignored pg_ctl stop and was killed");
        }
        Ok(())
    }

    fn data(&self) -> PathBuf {
        self.home.join("data")
    }

    fn initdb(&self, throwaway: bool) -> anyhow::Result<()> {
        let data = self.data();
        let mut args = vec![
            "-D",
            path_str(&data)?,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        ];
        if throwaway {
            args.push("--no-sync");
        }
        let output = self.as_server_user(&self.binaries.initdb(), &args)?;
        if !output.status.success() {
            bail!(
                "initdb failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        let data = self.data();
        let mut full = vec!["-D", path_str(&data)?];
        full.extend_from_slice(args);
        self.as_server_user(&self.binaries.pg_ctl(), &full)
    }

    /// initdb refuses to run as root, so root runs the server tools as the
    /// `postgres` system user; anyone else runs them as themselves.
    fn as_server_user(&self, program: &Path, args: &[&str]) -> anyhow::Result<Output> {
        let mut command = if Uid::effective().is_root() {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .current_dir(&self.home)
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", program.display()))
    }

    async fn wait_until_accepting(&self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match sqlx::PgConnection::connect(&self.url).await {
                Ok(connection) => return Ok(connection.close().await?),
                Err(error) if tokio::time::Instant::now() > deadline => {
                    bail!("PostgreSQL never accepted connections: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(error) = self.stop_now() {
            eprintln!("xtask: {error:#}");
        }
    }
}

fn give_to_server_user(dir: &Path) -> anyhow::Result<()> {
    if !Uid::effective().is_root() {
        return Ok(());
    }
    let user = User::from_name("postgres")?
        .context("running as root needs a `postgres` system user to own the cluster")?;
    nix::unistd::chown(dir, Some(user.uid), Some(user.gid))
        .with_context(|| format!("cannot chown {} to postgres", dir.display()))?;
    Ok(())
}

fn exits_within(pid: Pid, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while kill(pid, None).is_ok() && !is_zombie(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// An exited postmaster waits as a zombie until PID 1 reaps it, which in
/// some containers takes seconds; it holds no port, file or memory.
fn is_zombie(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
