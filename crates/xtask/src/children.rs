//! Child processes that only their supervisor signals.
//!
//! A terminal's Ctrl-C goes to every process in the foreground process
//! group. Each child gets a group of its own, so the only signals it sees
//! are the ones the supervisor decides to send, in the order it decides.

use std::process::ExitStatus;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug)]
pub struct Child {
    pub name: String,
    process: tokio::process::Child,
    group: Pid,
}

impl Child {
    /// Spawns `command` in a new process group. With `prefix`, its output
    /// is printed line by line as `name | line`.
    pub fn spawn(name: &str, command: &mut Command, prefix: bool) -> anyhow::Result<Self> {
        command.process_group(0).kill_on_drop(true);
        if prefix {
            command
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
        }
        let mut process = command
            .spawn()
            .map_err(|error| anyhow::anyhow!("cannot start {name}: {error}"))?;
        let group = Pid::from_raw(process.id().map_or(0, |id| id as i32));
        if prefix {
            let label = format!("{name:>6} |");
            if let Some(out) = process.stdout.take() {
                tokio::spawn(print_prefixed(label.clone(), out));
            }
            if let Some(err) = process.stderr.take() {
                tokio::spawn(print_prefixed(label, err));
            }
        }
        Ok(Self {
            name: name.to_owned(),
            process,
            group,
        })
    }

    /// Signals the child's whole group, so grandchildren (cargo's rustc,
    /// a test's services) hear it too.
    pub fn signal(&self, signal: Signal) {
        let _ = killpg(self.group, signal);
    }

    pub async fn wait(&mut self) -> ExitStatus {
        match self.process.wait().await {
            Ok(status) => status,
            Err(_) => std::os::unix::process::ExitStatusExt::from_raw(1 << 8),
        }
    }
}

async fn print_prefixed(label: String, stream: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{label} {line}");
    }
}

/// SIGINT and SIGTERM as one stream, installed before anything is started
/// so that an early Ctrl-C still stops what was started.
#[derive(Debug)]
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::SIGINT,
            _ = self.terminate.recv() => Signal::SIGTERM,
        }
    }
}

/// The shell's convention: the exit code, or 128 + the signal that ended it.
pub fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    u8::try_from(code).unwrap_or(1)
}

/// Runs a command to completion, passing on any SIGINT or SIGTERM.
pub async fn run_forwarding(
    name: &str,
    command: &mut Command,
    signals: &mut Signals,
) -> anyhow::Result<u8> {
    let mut child = Child::spawn(name, command, false)?;
    loop {
        tokio::select! {
            status = child.wait() => return Ok(exit_code(status)),
            signal = signals.next() => child.signal(signal),
        }
    }
}
