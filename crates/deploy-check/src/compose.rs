//! How compose stops each service: SIGTERM, then SIGKILL after
//! `stop_grace_period`, with no preStop and no load balancer in between.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_norway::Value;

use crate::yaml::{self, scalar_to_string};
use crate::{Env, parse_duration};

/// Compose's default stop_grace_period.
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub service: String,
    pub stop_grace_period: Duration,
    pub env: Env,
}

/// Every service that sets any `SHUTDOWN_*` setting, i.e. runs one of our
/// binaries with its own budget.
pub fn services(path: &Path) -> anyhow::Result<Vec<Stop>> {
    let file = yaml::load_one(path)?;
    let Some(services) = file["services"].as_mapping() else {
        bail!("{}: no services", path.display());
    };
    let mut stops = Vec::new();
    for (name, service) in services {
        let name = name.as_str().unwrap_or("?").to_owned();
        let env = environment(&service["environment"])
            .with_context(|| format!("service {name}: environment"))?;
        if !env.keys().any(|key| key.starts_with("SHUTDOWN_")) {
            continue;
        }
        let stop_grace_period = match service["stop_grace_period"].as_str() {
            Some(value) => parse_duration(&format!("service {name}: stop_grace_period"), value)?,
            None => DEFAULT_STOP_GRACE,
        };
        stops.push(Stop {
            service: name,
            stop_grace_period,
            env,
        });
    }
    Ok(stops)
}

/// Compose accepts a map or a list of `KEY=VALUE`.
fn environment(value: &Value) -> anyhow::Result<Env> {
    let mut env = Env::new();
    match value {
        Value::Null => {}
        Value::Mapping(map) => {
            for (key, value) in map {
                if let (Some(key), Some(value)) = (key.as_str(), scalar_to_string(value)) {
                    env.insert(key.to_owned(), value);
                }
            }
        }
        Value::Sequence(list) => {
            for item in list {
                let Some((key, value)) = item.as_str().and_then(|item| item.split_once('=')) else {
                    bail!("expected KEY=VALUE, got {item:?}");
                };
                env.insert(key.to_owned(), value.to_owned());
            }
        }
        other => bail!("expected a map or a list, got {other:?}"),
    }
    Ok(env)
}
