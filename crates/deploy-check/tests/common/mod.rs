//! The budget rule, stated once for the Kubernetes and compose tests, with
//! the services' own arithmetic (`shutdown::ShutdownConfig::budget`) so
//! that the check and the services cannot disagree.

use std::time::Duration;

use deploy_check::{Env, parse_duration};
use shutdown::ShutdownConfig;

/// The services' shutdown settings as a container's environment sets them.
/// Unset ones take the services' defaults, which `ShutdownConfig::default`
/// holds (the services' clap defaults are the same values).
pub fn shutdown_config(env: &Env) -> anyhow::Result<ShutdownConfig> {
    let mut config = ShutdownConfig::default();
    for (setting, field) in [
        ("SHUTDOWN_GRACE_PERIOD", &mut config.grace_period),
        ("SHUTDOWN_DRAIN_DELAY", &mut config.drain_delay),
        ("SHUTDOWN_FLUSH_TIMEOUT", &mut config.flush_timeout),
        ("SHUTDOWN_CLOSE_TIMEOUT", &mut config.close_timeout),
        ("SHUTDOWN_MARGIN", &mut config.margin),
    ] {
        if let Some(value) = env.get(setting) {
            *field = parse_duration(setting, value)?;
        }
    }
    Ok(config)
}

/// What is wrong with one container's budget; empty when it fits.
///
/// `grace_period` is the orchestrator's time from the first stop action
/// (preStop, or SIGTERM when there is none) to SIGKILL, and `pre_stop` the
/// part of it spent before SIGTERM.
pub fn budget_problems(
    who: &str,
    grace_period: Duration,
    pre_stop: Duration,
    env: &Env,
) -> Vec<String> {
    let config = match shutdown_config(env) {
        Ok(config) => config,
        Err(error) => return vec![format!("{who}: {error:#}")],
    };
    let budget = match config.budget() {
        Ok(budget) => budget,
        Err(error) => return vec![format!("{who}: {error}")],
    };
    let mut problems = Vec::new();
    let after_pre_stop = grace_period.checked_sub(pre_stop);
    if after_pre_stop != Some(config.grace_period) {
        problems.push(format!(
            "{who}: SHUTDOWN_GRACE_PERIOD is {}, but the grace period ({}) minus the preStop sleep ({}) is {}: \
             preStop counts against the grace period, so the two must agree",
            secs(config.grace_period),
            secs(grace_period),
            secs(pre_stop),
            after_pre_stop.map_or_else(|| "negative".to_owned(), secs),
        ));
    }
    let needed = pre_stop
        + budget.drain_delay
        + budget.drain
        + budget.cancel
        + budget.flush
        + budget.close
        + config.margin;
    if needed > grace_period {
        problems.push(format!(
            "{who}: preStop {} + SHUTDOWN_DRAIN_DELAY {} + drain {} + cancel {} + SHUTDOWN_FLUSH_TIMEOUT {} \
             + SHUTDOWN_CLOSE_TIMEOUT {} + SHUTDOWN_MARGIN {} = {} exceeds the grace period {}: \
             the SIGKILL would land before the shutdown ends",
            secs(pre_stop),
            secs(budget.drain_delay),
            secs(budget.drain),
            secs(budget.cancel),
            secs(budget.flush),
            secs(budget.close),
            secs(config.margin),
            secs(needed),
            secs(grace_period),
        ));
    }
    problems
}

fn secs(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}
