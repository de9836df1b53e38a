//! Settings shared by the services, read by clap from flags or env.
//!
//! Every setting is named after its environment variable in errors, because
//! that is where it is set in a Deployment. Bad config must stop the process
//! with one line and exit 2 before anything is served.

use std::time::Duration;

use clap::Parser;
use shutdown::{Shutdown, ShutdownConfig};
use sqlx::postgres::PgConnectOptions;
use telemetry::{LogFormat, Telemetry};

#[derive(Debug, Clone, clap::Args)]
pub struct ShutdownArgs {
    /// Whole time from SIGTERM to SIGKILL. Keep it equal to the pod's
    /// terminationGracePeriodSeconds minus its preStop sleep.
    #[arg(long, env = "SHUTDOWN_GRACE_PERIOD", value_name = "SHUTDOWN_GRACE_PERIOD", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace_period: Duration,

    /// Time to keep serving normally after SIGTERM while endpoint removal
    /// propagates. Set it to 0 when a preStop sleep does this instead.
    #[arg(long, env = "SHUTDOWN_DRAIN_DELAY", value_name = "SHUTDOWN_DRAIN_DELAY", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_drain_delay: Duration,

    /// Reserved for flushing telemetry.
    #[arg(long, env = "SHUTDOWN_FLUSH_TIMEOUT", value_name = "SHUTDOWN_FLUSH_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub shutdown_flush_timeout: Duration,

    /// Reserved for closing the database pool.
    #[arg(long, env = "SHUTDOWN_CLOSE_TIMEOUT", value_name = "SHUTDOWN_CLOSE_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub shutdown_close_timeout: Duration,

    /// How long cancelled work gets to hand itself back (a job released, a
    /// response finished) after the drain budget runs out, or after a second
    /// signal.
    #[arg(long, env = "SHUTDOWN_CANCEL_TIMEOUT", value_name = "SHUTDOWN_CANCEL_TIMEOUT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub shutdown_cancel_timeout: Duration,

    /// Left unused before the grace period ends.
    #[arg(long, env = "SHUTDOWN_MARGIN", value_name = "SHUTDOWN_MARGIN", default_value = "2s", value_parser = humantime::parse_duration)]
    pub shutdown_margin: Duration,

    /// `graceful`, or `immediate`: a negative control for the rolling-restart
    /// drill, which must be able to see a naive service lose requests. Never
    /// deploy `immediate`.
    #[arg(
        long,
        env = "SHUTDOWN_MODE",
        value_name = "SHUTDOWN_MODE",
        default_value = "graceful"
    )]
    pub shutdown_mode: ShutdownMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShutdownMode {
    /// Announce, delay, stop intake, drain, cancel, flush, close.
    Graceful,
    /// Exit on the first SIGTERM or SIGINT, as a process without a handler
    /// would: in-flight work is cut off.
    Immediate,
}

impl ShutdownArgs {
    pub fn config(&self) -> ShutdownConfig {
        ShutdownConfig {
            grace_period: self.shutdown_grace_period,
            drain_delay: self.shutdown_drain_delay,
            flush_timeout: self.shutdown_flush_timeout,
            close_timeout: self.shutdown_close_timeout,
            margin: self.shutdown_margin,
            cancel_timeout: self.shutdown_cancel_timeout,
        }
    }

    /// Builds the coordinator, or stops the process with exit 2: a budget
    /// that cannot fit is a configuration error like any other.
    pub fn build_or_exit(&self) -> Shutdown {
        let shutdown = match Shutdown::builder(self.config()).build() {
            Ok(shutdown) => shutdown,
            Err(error) => crate::exit::bad_config(error),
        };
        if self.shutdown_mode == ShutdownMode::Immediate {
            crate::exit::exit_at_once_on_first_signal();
        }
        shutdown
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// `json` (one object per line) or `pretty`. Filter with RUST_LOG, or
    /// with LOG_FILTER_FILE, which is re-read on SIGHUP.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        default_value = "json"
    )]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Installs logs, traces and metrics. What they need at shutdown, the
    /// flush and the SIGHUP reload, `main` registers itself
    /// ([`crate::hooks`]), so that its shutdown order is all in one place.
    pub fn init_or_exit(&self) -> Telemetry {
        match telemetry::init(self.log_format, &service_name(), crate::secrets::redact) {
            Ok(telemetry) => telemetry,
            Err(error) => crate::exit::bad_config(error),
        }
    }
}

/// The binary's name (`api`, `worker`), unless `OTEL_SERVICE_NAME` says
/// otherwise.
fn service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.file_stem()?.to_str()?.to_owned()))
        .unwrap_or_else(|| "service".to_owned())
}

/// `Debug` by hand: `PgConnectOptions`' own prints the password, and every
/// service's `Args` derives `Debug` over this.
#[derive(Clone, clap::Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", value_parser = parse_database_url, hide_env_values = true)]
    pub database_url: PgConnectOptions,

    /// Upper bound on pooled connections.
    #[arg(
        long,
        env = "DATABASE_MAX_CONNECTIONS",
        value_name = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 10
    )]
    pub database_max_connections: u32,

    /// Connections opened before the service says it is ready, and kept
    /// open: a new pod's first requests would otherwise each pay for a
    /// connection's handshake. At most DATABASE_MAX_CONNECTIONS; a larger
    /// value opens that many.
    #[arg(
        long,
        env = "DATABASE_MIN_CONNECTIONS",
        value_name = "DATABASE_MIN_CONNECTIONS",
        default_value_t = 2
    )]
    pub database_min_connections: u32,

    /// How long a request waits for a pooled connection before failing.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT", value_name = "DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub database_acquire_timeout: Duration,

    /// The server cancels any statement that runs longer (PostgreSQL's
    /// statement_timeout), so a lock wait or a runaway query holds nothing
    /// for ever.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", value_name = "DATABASE_STATEMENT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub database_statement_timeout: Duration,
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.database_url;
        f.debug_struct("DatabaseArgs")
            .field("host", &url.get_host())
            .field("port", &url.get_port())
            .field("database", &url.get_database())
            .field("username", &url.get_username())
            .field("database_max_connections", &self.database_max_connections)
            .field("database_min_connections", &self.database_min_connections)
            .field("database_acquire_timeout", &self.database_acquire_timeout)
            .field(
                "database_statement_timeout",
                &self.database_statement_timeout,
            )
            .finish_non_exhaustive()
    }
}

impl DatabaseArgs {
    /// The connections kept open, never more than the pool may hold.
    pub fn min_connections(&self) -> u32 {
        self.database_min_connections
            .min(self.database_max_connections)
    }

    /// The longest a healthy database takes to answer one call: waiting for a
    /// connection, then the statement. Past it the server is not answering
    /// at all (a half-open connection after a failover), and only the
    /// client's own timer can end the wait.
    pub fn call_bound(&self) -> Duration {
        self.database_acquire_timeout + self.database_statement_timeout
    }
}

/// sqlx parses any scheme as PostgreSQL; a `mysql://` URL pasted by mistake
/// should fail here, not as a confusing connection error later.
fn parse_database_url(url: &str) -> Result<PgConnectOptions, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("expected a postgres:// or postgresql:// URL".to_owned());
    }
    url.parse::<PgConnectOptions>()
        .map_err(|error| format!("not a PostgreSQL URL: {error}"))
}

/// Parses the command line and environment, printing a one-line error and
/// exiting 2 on bad input. clap's own rendering spans several lines, which
/// log collectors split into unrelated events.
///
/// Secrets never reach the line (see [`crate::secrets`]): clap quotes the
/// value it could not parse, and a password is part of `DATABASE_URL`.
pub fn parse_args_or_exit<T: Parser>() -> T {
    crate::secrets::redact_panics();
    match T::try_parse() {
        Ok(args) => args,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            let line = one_line(&error.render().to_string());
            eprintln!("{}", crate::secrets::redact(&line));
            std::process::exit(crate::exit::BAD_CONFIG);
        }
    }
}

fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_debug_without_the_password() {
        let args = DatabaseArgs {
            database_url: "postgres://app:s3cret-pw@db.internal:5432/app"
                .parse()
                .unwrap(),
            database_max_connections: 10,
            database_min_connections: 2,
            database_acquire_timeout: Duration::from_secs(5),
            database_statement_timeout: Duration::from_secs(5),
        };
        let printed = format!("{args:?}");
        assert!(printed.contains("db.internal"), "{printed}");
        assert!(!printed.contains("s3cret-pw"), "{printed}");
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        shutdown: ShutdownArgs,
        #[command(flatten)]
        database: DatabaseArgs,
    }

    fn render(args: &[&str]) -> String {
        let error = Cli::try_parse_from(args).unwrap_err();
        one_line(&error.render().to_string())
    }

    #[test]
    fn a_bad_duration_is_one_line_naming_the_setting() {
        let line = render(&[
            "x",
            "--database-url",
            "postgres://h/db",
            "--shutdown-grace-period",
            "soon",
        ]);
        assert!(line.contains("SHUTDOWN_GRACE_PERIOD"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_missing_database_url_is_one_line_naming_it() {
        use clap::CommandFactory;
        // The test runner exports DATABASE_URL; forget it for this parse.
        let command = Cli::command().mut_arg("database_url", |arg| arg.env(None::<&str>));
        let error = command.try_get_matches_from(["x"]).unwrap_err();
        let line = one_line(&error.render().to_string());
        assert!(line.contains("DATABASE_URL"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_database_url_that_is_not_one_is_refused() {
        let line = render(&["x", "--database-url", "mysql://nope"]);
        assert!(line.contains("DATABASE_URL"), "{line}");
    }
}
