//! Structured logs, with a filter that can be reloaded without a restart.
//!
//! A process's environment cannot be changed from outside once it runs, so
//! reloading "`RUST_LOG`" on SIGHUP only means something if the filter lives
//! somewhere that can change: `LOG_FILTER_FILE`, e.g. a mounted ConfigMap key.
//! Without it, a reload re-reads `RUST_LOG` (useful only to processes that set
//! it themselves) and so keeps the filter they started with.

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::str::FromStr;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::redacted_stdout::{Redact, RedactedStdout};
use crate::span_fields::SpanFieldsJson;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line on stdout, for log shippers.
    #[default]
    Json,
    /// Human-readable, for terminals.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(format!("expected `json` or `pretty`, got `{other}`")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("invalid log filter `{filter}` (from {source_name}): {reason}")]
    Filter {
        filter: String,
        source_name: String,
        reason: String,
    },
    #[error("cannot read LOG_FILTER_FILE {path}: {reason}")]
    File { path: String, reason: String },
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Re-reads the filter on demand (the services call it on SIGHUP).
#[derive(Debug, Clone)]
pub struct LogReload {
    handle: reload::Handle<EnvFilter, Registry>,
    filter_file: Option<PathBuf>,
}

impl LogReload {
    /// Replaces the filter, or keeps the old one and says why.
    pub fn reload(&self) -> Result<(), LogsError> {
        let filter = read_filter(self.filter_file.as_deref())?;
        self.handle.reload(filter).map_err(|error| LogsError::File {
            path: "<reload>".into(),
            reason: error.to_string(),
        })
    }
}

/// Installs the global subscriber, with spans also going to `tracer` when
/// traces are exported, and every line through `redact`.
pub(crate) fn init_logs(
    format: LogFormat,
    tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
    redact: Redact,
) -> Result<LogReload, LogsError> {
    let filter_file = std::env::var_os("LOG_FILTER_FILE").map(PathBuf::from);
    let (filter, handle) = reload::Layer::new(read_filter(filter_file.as_deref())?);
    let traces = tracer.map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer));
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    let installed = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .fmt_fields(SpanFieldsJson)
                    .with_writer(RedactedStdout(redact)),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(wants_colour(
                        std::env::var_os("NO_COLOR"),
                        std::env::var_os("CLICOLOR_FORCE"),
                        std::io::stdout().is_terminal(),
                    ))
                    .with_writer(RedactedStdout(redact)),
            )
            .try_init(),
    };
    installed.map_err(|_| LogsError::AlreadyInstalled)?;
    Ok(LogReload {
        handle,
        filter_file,
    })
}

/// tracing-subscriber colours whenever `NO_COLOR` is unset, so pretty logs
/// sent to a file or a pipe were full of escape codes. Colour goes to
/// terminals only, unless `CLICOLOR_FORCE` asks for it (as `cargo xtask dev`
/// does, whose pipes end at a terminal); `NO_COLOR` always wins.
fn wants_colour(
    no_color: Option<OsString>,
    clicolor_force: Option<OsString>,
    stdout_is_terminal: bool,
) -> bool {
    let set = |value: &Option<OsString>| value.as_ref().is_some_and(|value| !value.is_empty());
    if set(&no_color) {
        return false;
    }
    let forced = set(&clicolor_force) && clicolor_force.as_deref() != Some(OsStr::new("0"));
    forced || stdout_is_terminal
}

fn read_filter(filter_file: Option<&std::path::Path>) -> Result<EnvFilter, LogsError> {
    let (text, source_name) = match filter_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| LogsError::File {
                path: path.display().to_string(),
                reason: error.to_string(),
            })?;
            (
                text.trim().to_owned(),
                format!("LOG_FILTER_FILE {}", path.display()),
            )
        }
        None => (
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            "RUST_LOG".to_owned(),
        ),
    };
    EnvFilter::builder()
        .parse(&text)
        .map_err(|error| LogsError::Filter {
            filter: text.clone(),
            source_name,
            reason: error.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_unknown_ones_say_what_is_expected() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("pretty".parse::<LogFormat>(), Ok(LogFormat::Pretty));
        let error = "yaml".parse::<LogFormat>().unwrap_err();
        assert!(error.contains("`json` or `pretty`"), "{error}");
    }

    #[test]
    fn colour_goes_to_terminals_unless_forced_and_no_color_wins() {
        let some = |value: &str| Some(OsString::from(value));
        assert!(wants_colour(None, None, true));
        assert!(!wants_colour(None, None, false));
        assert!(wants_colour(None, some("1"), false));
        assert!(!wants_colour(None, some("0"), false));
        assert!(!wants_colour(None, some(""), false));
        assert!(!wants_colour(some("1"), some("1"), true));
        assert!(wants_colour(some(""), None, true));
    }

    #[test]
    fn a_filter_file_is_read_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("filter");
        std::fs::write(&path, "warn,api=debug\n").unwrap();
        assert!(read_filter(Some(&path)).is_ok());
        std::fs::write(&path, "api=notalevel").unwrap();
        let error = read_filter(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("LOG_FILTER_FILE"), "{error}");
    }
}
