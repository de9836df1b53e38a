//! The exit codes the services promise: 0 clean, 1 shutdown overran or
//! failed, 2 bad config, 130/143 on the third signal (see `shutdown`).

use std::fmt::Display;
use std::process::ExitCode;

use shutdown::Report;

pub const BAD_CONFIG: i32 = 2;

/// Prints one line and exits 2, before anything is served.
pub fn bad_config(error: impl Display) -> ! {
    eprintln!("error: {error}");
    std::process::exit(BAD_CONFIG)
}

/// Emits the `shutdown report` event and turns it into the exit code.
pub fn finish(report: &Report) -> ExitCode {
    report.emit();
    ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(1))
}
