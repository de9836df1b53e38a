//! Everything that can start a shutdown, and what repeated signals mean.
//!
//! Once tokio registers a handler for a signal, the OS default action is gone
//! for the life of the process: a second Ctrl-C no longer kills anything
//! unless someone handles it. So this module handles every repeat on purpose:
//!
//! | signal | effect |
//! |---|---|
//! | 1st SIGTERM/SIGINT | start the shutdown (announce, then the phases in order) |
//! | 2nd | skip what remains of the delay and the drain: go straight to cancel, flush and close |
//! | 3rd | exit at once with 128 + signal number: 130 after SIGINT, 143 after SIGTERM |
//! | SIGHUP | run the reload hooks; never a shutdown |

use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::hook::HookError;
use crate::phase::Phase;
use crate::readiness::Readiness;

pub(crate) type ReloadHook = Box<dyn Fn() -> Result<(), HookError> + Send + Sync>;

/// State shared by the coordinator, its handles and the signal listener.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) readiness: Readiness,
    /// Cancelled by the first trigger.
    pub(crate) triggered: CancellationToken,
    /// Cancelled by the second signal.
    pub(crate) hurry: CancellationToken,
    /// One token per phase, cancelled when that phase starts.
    pub(crate) phase_started: [CancellationToken; Phase::ALL.len()],
    pub(crate) started: Mutex<Option<(Instant, String)>>,
    pub(crate) reload_hooks: Mutex<Vec<(String, ReloadHookDebug)>>,
}

/// Reload hooks are closures; this wrapper lets `Shared` derive `Debug`.
pub(crate) struct ReloadHookDebug(pub(crate) ReloadHook);

impl std::fmt::Debug for ReloadHookDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReloadHook")
    }
}

impl Shared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            readiness: Readiness::default(),
            triggered: CancellationToken::new(),
            hurry: CancellationToken::new(),
            phase_started: Default::default(),
            started: Mutex::new(None),
            reload_hooks: Mutex::new(Vec::new()),
        })
    }

    /// Starts the shutdown. Only the first call counts; readiness flips here,
    /// synchronously, so `/readyz` fails before anything else happens.
    pub(crate) fn fire(&self, reason: &str) {
        if !self.readiness.begin_shutdown() {
            return;
        }
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        *started = Some((Instant::now(), reason.to_owned()));
        drop(started);
        self.mark_phase(Phase::Announce);
        crate::notify::stopping();
        self.triggered.cancel();
    }

    pub(crate) fn mark_phase(&self, phase: Phase) {
        self.phase_started[phase as usize].cancel();
    }

    pub(crate) fn reload(&self) {
        let hooks = self.reload_hooks.lock().unwrap_or_else(|p| p.into_inner());
        for (name, hook) in hooks.iter() {
            match (hook.0)() {
                Ok(()) => tracing::info!(hook = %name, "reloaded"),
                Err(error) => {
                    tracing::warn!(hook = %name, %error, "reload failed; keeping the old setting")
                }
            }
        }
    }
}

/// Listens for signals for the life of the process.
pub(crate) fn listen_for_signals(shared: Arc<Shared>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            let mut seen = 0u32;
            loop {
                let (name, number) = tokio::select! {
                    _ = term.recv() => ("SIGTERM", 15),
                    _ = int.recv() => ("SIGINT", 2),
                    _ = hup.recv() => {
                        shared.reload();
                        continue;
                    }
                };
                seen += 1;
                on_signal(&shared, seen, name, number);
            }
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            let mut seen = 0u32;
            while tokio::signal::ctrl_c().await.is_ok() {
                seen += 1;
                on_signal(&shared, seen, "CTRL_C", 2);
            }
        });
    }
    Ok(())
}

fn on_signal(shared: &Shared, seen: u32, name: &str, number: i32) {
    match seen {
        1 => shared.fire(name),
        2 => {
            tracing::warn!(
                signal = name,
                "second signal: skipping the rest of delay and drain"
            );
            shared.hurry.cancel();
        }
        _ => {
            let code = 128 + number;
            // No tracing here: a subscriber could block, and this path exists
            // precisely for when something is stuck.
            eprintln!("third signal ({name}): exiting now with {code}");
            std::process::exit(code);
        }
    }
}
