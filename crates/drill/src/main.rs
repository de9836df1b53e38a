//! `drill`: see the crate docs. Exit 0 on a pass, 1 on a fail, 2 on bad
//! settings, 3 when the run itself could not be done.

use std::process::ExitCode;

use clap::Parser;
use drill::cli::{Cli, Command};

const BAD_SETTINGS: u8 = 2;
const COULD_NOT_RUN: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = parse_or_exit();
    let validated = match &cli.command {
        Command::Local(args) => args.validate(),
        Command::Load(args) => args.validate(),
    };
    if let Err(error) = validated {
        eprintln!("error: {error}");
        return ExitCode::from(BAD_SETTINGS);
    }
    let ran = match cli.command {
        Command::Local(args) => drill::local::run(*args).await,
        Command::Load(args) => drill::external::run(args).await,
    };
    match ran {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("drill: error: {error:#}");
            ExitCode::from(COULD_NOT_RUN)
        }
    }
}

/// clap's errors span several lines; one line names the setting and is
/// enough. (The services' `service::parse_args_or_exit` does the same, but
/// depending on `service` would pull the whole server stack into a client.)
fn parse_or_exit() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            let rendered = error.render().to_string();
            let line: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|line| {
                    !line.starts_with("Usage:") && !line.starts_with("For more information")
                })
                .filter(|line| !line.is_empty())
                .collect();
            eprintln!("{}", line.join(" "));
            std::process::exit(i32::from(BAD_SETTINGS))
        }
    }
}
