//! `shutdown-probe`: a service with no work of its own, for the process-level
//! shutdown tests. It serves the real ops server and registers one hook per
//! entry of `PROBE_HOOKS`, a comma-separated list of `phase:name:behaviour`,
//! where behaviour is a duration to sleep (`250ms`), `panic` or `error`.
//!
//! Example: `PROBE_HOOKS=drain:requests:2s,flush:exporter:100ms,close:pool:panic`

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use service::hooks;
use service::ops::{self, OpsState};
use service::{LogArgs, ShutdownArgs};
use shutdown::{HookContext, HookError, Phase, Shutdown};

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    shutdown: ShutdownArgs,
    #[command(flatten)]
    log: LogArgs,
    #[arg(
        long,
        env = "OPS_LISTEN_ADDR",
        value_name = "OPS_LISTEN_ADDR",
        default_value = "127.0.0.1:0"
    )]
    ops_listen_addr: SocketAddr,
    #[arg(long, env = "PROBE_HOOKS", value_name = "PROBE_HOOKS", default_value = "", value_parser = parse_hooks)]
    probe_hooks: ProbeHooks,
}

#[derive(Debug, Clone)]
enum Behaviour {
    Sleep(Duration),
    Panic,
    Error,
}

#[derive(Debug, Clone)]
struct ProbeHooks(Vec<(Phase, String, Behaviour)>);

fn parse_hooks(text: &str) -> Result<ProbeHooks, String> {
    let hooks = text
        .split(',')
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let mut parts = entry.splitn(3, ':');
            let (Some(phase), Some(name), Some(behaviour)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("`{entry}` is not phase:name:behaviour"));
            };
            let phase = Phase::ALL
                .into_iter()
                .find(|p| p.as_str() == phase)
                .ok_or_else(|| format!("unknown phase `{phase}`"))?;
            let behaviour = match behaviour {
                "panic" => Behaviour::Panic,
                "error" => Behaviour::Error,
                duration => Behaviour::Sleep(
                    humantime::parse_duration(duration).map_err(|e| e.to_string())?,
                ),
            };
            Ok((phase, name.to_owned(), behaviour))
        })
        .collect::<Result<_, _>>()?;
    Ok(ProbeHooks(hooks))
}

async fn behave(behaviour: Behaviour, ctx: HookContext) -> Result<(), HookError> {
    match behaviour {
        Behaviour::Sleep(duration) => {
            tokio::time::sleep(duration).await;
            ctx.counts().set(
                "slept_ms",
                u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            );
            Ok(())
        }
        Behaviour::Panic => panic!(
            "probe hook panicked on purpose, holding [{}]",
            std::env::var("PGPASSWORD").unwrap_or_default()
        ),
        Behaviour::Error => Err("probe hook failed on purpose".into()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = service::parse_args_or_exit();
    let mut shutdown: Shutdown = args.shutdown.build_or_exit();
    let telemetry = args.log.init_or_exit();
    service::shutdown_metrics::record(&mut shutdown);
    let handle = shutdown.handle();

    let ops_state = OpsState::new(handle.readiness(), None, &telemetry);
    let ops = ops::serve_or_exit(
        args.ops_listen_addr,
        ops_state,
        handle.phase_started(Phase::Close),
    )
    .await;
    for (phase, name, behaviour) in args.probe_hooks.0 {
        shutdown.on(phase, name, move |ctx| behave(behaviour, ctx));
    }
    let ops_addr = ops.addr;
    shutdown.on_reload("log filter", hooks::reload_logs(&telemetry));
    shutdown.on(
        Phase::Flush,
        "telemetry",
        hooks::flush_telemetry(&telemetry),
    );
    shutdown.on(Phase::Close, "ops server", move |_ctx| ops.stopped());
    handle.readiness().mark_started();
    tracing::info!(%ops_addr, "ready");

    let report = shutdown.run().await;
    service::exit::finish(&report, args.log.log_format)
}
