//! The exit codes the services promise: 0 clean, 1 shutdown overran or
//! failed, 2 bad config, 69 a dependency unavailable at start, 130/143 on
//! the third signal (see `shutdown`).

use std::fmt::Display;
use std::process::ExitCode;

use shutdown::Report;
use telemetry::LogFormat;

pub const BAD_CONFIG: i32 = 2;

/// sysexits' `EX_UNAVAILABLE`: the configuration may be right, but something
/// it names (the database) did not answer at start. Distinct from 1, which
/// says a shutdown went wrong, and from 2, which says the settings are; a
/// restart (Kubernetes' back-off) may well succeed.
pub const DEPENDENCY_UNAVAILABLE: u8 = 69;

/// The database failed at start. Out of reach or going away (see
/// [`crate::db::is_unavailable`]): logged, exit 69, a restart may succeed.
/// Anything else, such as a wrong password or a database that does not
/// exist, is the settings' fault: one line naming `DATABASE_URL`, exit 2.
pub fn database_at_start(error: sqlx::Error) -> ExitCode {
    if !crate::db::is_unavailable(&error) {
        bad_config(format!("DATABASE_URL: {error}"));
    }
    let error = crate::secrets::redact(&error.to_string()).into_owned();
    tracing::error!(%error, "cannot reach what DATABASE_URL names; exiting {DEPENDENCY_UNAVAILABLE}");
    ExitCode::from(DEPENDENCY_UNAVAILABLE)
}

/// Prints one line, secrets redacted, and exits 2, before anything is
/// served.
pub fn bad_config(error: impl Display) -> ! {
    eprintln!("error: {}", crate::secrets::redact(&error.to_string()));
    std::process::exit(BAD_CONFIG)
}

/// Emits the `shutdown report` event, as one JSON event or, for
/// `LOG_FORMAT=pretty`, as a table, and turns it into the exit code.
pub fn finish(report: &Report, format: LogFormat) -> ExitCode {
    match format {
        LogFormat::Json => report.emit(),
        LogFormat::Pretty => report.emit_table(),
    }
    ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(1))
}

/// The `SHUTDOWN_MODE=immediate` negative control: dies on the first signal
/// with the status a process without a handler would show (128 + signal).
/// Tokio delivers each signal to every listener, so the coordinator's own
/// handler does not get in the way.
///
/// The listeners are registered here, before this returns, not in the
/// spawned task: a task is first polled some time later, and a signal that
/// came in between would reach only the coordinator, which would then drain
/// gracefully, the opposite of what the switch is for.
pub fn exit_at_once_on_first_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = term.recv() => 143,
            _ = int.recv() => 130,
        };
        eprintln!("SHUTDOWN_MODE=immediate: exiting at once with {code}");
        std::process::exit(code);
    });
}
