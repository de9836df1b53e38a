//! How each Deployment's containers are stopped: the kubelet's side of the
//! budget (grace period, preStop) and the process's (its environment).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_norway::Value;

use crate::Env;
use crate::yaml::scalar_to_string;

/// Kubernetes' default terminationGracePeriodSeconds.
const DEFAULT_GRACE_SECONDS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    pub deployment: String,
    pub container: String,
    /// terminationGracePeriodSeconds: from the start of preStop to SIGKILL.
    pub grace_period: Duration,
    /// The preStop sleep, which counts against the grace period.
    pub pre_stop_sleep: Duration,
    /// envFrom ConfigMaps, then plain `env` values over them.
    pub env: Env,
}

/// Every container of every Deployment among `resources`. `config_maps`
/// resolves `envFrom` references by the name the Deployment uses.
pub fn of_deployments(
    resources: &[Value],
    config_maps: &BTreeMap<String, Env>,
) -> anyhow::Result<Vec<Termination>> {
    let mut terminations = Vec::new();
    for deployment in resources
        .iter()
        .filter(|resource| resource["kind"].as_str() == Some("Deployment"))
    {
        let name = deployment["metadata"]["name"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        let pod = &deployment["spec"]["template"]["spec"];
        let grace_seconds = match &pod["terminationGracePeriodSeconds"] {
            Value::Null => DEFAULT_GRACE_SECONDS,
            value => value
                .as_u64()
                .with_context(|| format!("Deployment {name}: terminationGracePeriodSeconds"))?,
        };
        let containers = pod["containers"].as_sequence().into_iter().flatten();
        for container in containers {
            let container_name = container["name"].as_str().unwrap_or("?").to_owned();
            let pre_stop_sleep = pre_stop_sleep(&container["lifecycle"]["preStop"])
                .with_context(|| format!("Deployment {name}, container {container_name}"))?;
            let env = env_of(container, config_maps)
                .with_context(|| format!("Deployment {name}, container {container_name}"))?;
            terminations.push(Termination {
                deployment: name.clone(),
                container: container_name,
                grace_period: Duration::from_secs(grace_seconds),
                pre_stop_sleep,
                env,
            });
        }
    }
    Ok(terminations)
}

/// Only the sleep action has a known length; an exec or httpGet hook could
/// take anything up to the whole grace period, so it is refused.
fn pre_stop_sleep(pre_stop: &Value) -> anyhow::Result<Duration> {
    if pre_stop.is_null() {
        return Ok(Duration::ZERO);
    }
    match pre_stop["sleep"]["seconds"].as_u64() {
        Some(seconds) if pre_stop.as_mapping().is_some_and(|hook| hook.len() == 1) => {
            Ok(Duration::from_secs(seconds))
        }
        _ => bail!("preStop must be a `sleep` action, whose length the budget can count"),
    }
}

fn env_of(container: &Value, config_maps: &BTreeMap<String, Env>) -> anyhow::Result<Env> {
    let mut env = Env::new();
    for source in container["envFrom"].as_sequence().into_iter().flatten() {
        let Some(name) = source["configMapRef"]["name"].as_str() else {
            continue;
        };
        let Some(data) = config_maps.get(name) else {
            bail!("envFrom names ConfigMap {name}, which is not generated");
        };
        env.extend(data.clone());
    }
    for variable in container["env"].as_sequence().into_iter().flatten() {
        let (Some(name), Some(value)) = (
            variable["name"].as_str(),
            scalar_to_string(&variable["value"]),
        ) else {
            continue;
        };
        env.insert(name.to_owned(), value);
    }
    Ok(env)
}
