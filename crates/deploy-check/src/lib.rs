//! Reads the deploy files the way Kubernetes and compose will, so that
//! tests can hold them to the services' shutdown arithmetic.
//!
//! A grace period is set in two places that nothing else ties together:
//! the orchestrator's (terminationGracePeriodSeconds, preStop,
//! stop_grace_period) and the process's (`SHUTDOWN_*`). When they drift,
//! the kubelet's SIGKILL lands in the middle of a drain, and nothing shows
//! it until a deploy loses requests. The tests in `tests/` read both and
//! fail on any drift.

pub mod compose;
pub mod kustomize;
pub mod merge;
pub mod termination;
mod yaml;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;

/// A container's environment, as far as plain values go.
pub type Env = BTreeMap<String, String>;

/// Parses a duration the way the services do (humantime), naming the
/// setting when it cannot.
pub fn parse_duration(setting: &str, value: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(value).with_context(|| format!("{setting}={value:?}"))
}
