//! `cargo xtask dev | test | ci | drill | image | image-test | new | with-db -- CMD…`

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::children::Signals;
use xtask::pg::FindError;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "The workspace's own commands")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run api and worker against a persistent PostgreSQL under target/dev-pg.
    Dev,
    /// Run every test against a throwaway PostgreSQL (or DATABASE_URL).
    Test {
        /// Passed on to `cargo nextest run` (or `cargo test`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// fmt --check, clippy -D warnings, then the tests: what CI runs.
    Ci,
    /// The rolling-restart drill, locally, against a throwaway PostgreSQL,
    /// on release builds.
    Drill {
        /// Load-test debug builds instead: quicker to build, several times
        /// slower to serve.
        #[arg(long)]
        debug: bool,
        /// An upgrade drill from this git revision's build (release N) to
        /// the current one, e.g. `HEAD~3` or a release tag.
        #[arg(long, value_name = "REV")]
        upgrade_from: Option<String>,
        /// Passed on to `drill local`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the Dockerfile with podman (real bases, or local stand-ins
    /// where no registry can be reached).
    Image {
        /// Where the base images come from: auto probes for a registry.
        #[arg(long, value_enum, default_value = "auto")]
        bases: xtask::image::Bases,
        #[arg(long, default_value = xtask::image::DEFAULT_TAG)]
        tag: String,
        /// Install podman, buildah, runc and debootstrap with apt-get if
        /// missing (always done under CI).
        #[arg(long)]
        install_tools: bool,
    },
    /// Run the built image's api and worker as Kubernetes would, against a
    /// throwaway PostgreSQL, and signal them (crates/xtask/tests/image.rs).
    ImageTest {
        #[arg(long, default_value = xtask::image::DEFAULT_TAG)]
        tag: String,
        /// Passed on to the test binary (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Add a job kind or a route: its files, its registration lines, and a
    /// test that fails until it is written.
    #[command(subcommand)]
    New(New),
    /// Run a command with DATABASE_URL set to a throwaway PostgreSQL.
    WithDb {
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum New {
    /// A job kind, e.g. `refund_order`: its payload type in crates/domain,
    /// its handler in crates/worker.
    Job { name: String },
    /// A route, e.g. `GET /v1/orders/{id}/receipt`: its handler in
    /// crates/api/src/routes, named after the path's last segment.
    Route { method: String, path: String },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before anything starts: an early Ctrl-C must still stop what did.
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(error) => return fail(&error),
    };
    let outcome = match &cli.command {
        Cmd::Dev => xtask::dev::run(&mut signals).await,
        Cmd::Test { args } => xtask::test::run(args, &mut signals).await,
        Cmd::Ci => xtask::ci::run(&mut signals).await,
        Cmd::Drill {
            debug,
            upgrade_from,
            args,
        } => {
            let profile = if *debug {
                xtask::workspace::Profile::Debug
            } else {
                xtask::workspace::Profile::Release
            };
            xtask::drill::run(profile, upgrade_from.as_deref(), args, &mut signals).await
        }
        Cmd::Image {
            bases,
            tag,
            install_tools,
        } => xtask::image::run(*bases, tag, *install_tools, &mut signals).await,
        Cmd::ImageTest { tag, args } => xtask::image::test(tag, args, &mut signals).await,
        Cmd::New(New::Job { name }) => xtask::new::job(name),
        Cmd::New(New::Route { method, path }) => xtask::new::route(method, path),
        Cmd::WithDb { command } => xtask::with_db::run(command, &mut signals).await,
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => fail(&error),
    }
}

/// No PostgreSQL to be had is the developer's setup, not a crash: exit 2,
/// like any other configuration error in this workspace.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    if error.downcast_ref::<FindError>().is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}
