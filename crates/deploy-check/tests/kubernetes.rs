//! The Kubernetes manifests against the services' shutdown budget: for
//! every Deployment in the base and in every overlay,
//!
//!   terminationGracePeriodSeconds ≥ preStop sleep + SHUTDOWN_DRAIN_DELAY
//!     + drain budget + SHUTDOWN_CANCEL_TIMEOUT + SHUTDOWN_FLUSH_TIMEOUT
//!     + SHUTDOWN_CLOSE_TIMEOUT + SHUTDOWN_MARGIN
//!
//! and SHUTDOWN_GRACE_PERIOD = terminationGracePeriodSeconds − preStop.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use deploy_check::kustomize::{self, Build};
use deploy_check::termination::{self, Termination};
use serde_norway::Value;
use testkit::repo_root;

fn k8s() -> PathBuf {
    repo_root().join("deploy/k8s")
}

/// Every overlay directory, so that a new one is checked without a new test.
fn overlays() -> Vec<PathBuf> {
    let mut overlays: Vec<PathBuf> = std::fs::read_dir(k8s().join("overlays"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("kustomization.yaml").is_file())
        .collect();
    overlays.sort();
    overlays
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn terminations(build: &Build) -> Vec<Termination> {
    termination::of_deployments(&build.resources, &build.config_maps).unwrap()
}

fn problems_of(label: &str, build: &Build) -> Vec<String> {
    terminations(build)
        .iter()
        .flat_map(|t| {
            common::budget_problems(
                &format!(
                    "{label}: Deployment {} container {}",
                    t.deployment, t.container
                ),
                t.grace_period,
                t.pre_stop_sleep,
                &t.env,
            )
        })
        .collect()
}

fn deployment_mut<'a>(build: &'a mut Build, name: &str) -> &'a mut Value {
    build
        .resources
        .iter_mut()
        .find(|r| {
            r["kind"].as_str() == Some("Deployment") && r["metadata"]["name"].as_str() == Some(name)
        })
        .unwrap()
}

#[test]
fn the_base_deployments_fit_their_grace_periods() {
    let build = kustomize::build(&k8s().join("base")).unwrap();
    let names: Vec<_> = terminations(&build)
        .into_iter()
        .map(|t| t.deployment)
        .collect();
    assert_eq!(
        names,
        ["api", "worker"],
        "the check must see both Deployments"
    );
    let problems = problems_of("base", &build);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_overlay_fits_its_grace_periods() {
    let overlays = overlays();
    let names: Vec<_> = overlays
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert!(
        names.iter().any(|n| n == "dev") && names.iter().any(|n| n == "prod"),
        "{names:?}"
    );
    let mut problems = Vec::new();
    for overlay in &overlays {
        let build = kustomize::build(overlay).unwrap();
        assert_eq!(terminations(&build).len(), 2, "{}", overlay.display());
        problems.extend(problems_of(&relative(overlay), &build));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The overlays really change the budget, so the check above is not
/// reading the base twice.
#[test]
fn the_overlays_change_the_numbers_they_claim_to() {
    let grace_of = |dir: &Path, deployment: &str| {
        let build = kustomize::build(dir).unwrap();
        let t = terminations(&build)
            .into_iter()
            .find(|t| t.deployment == deployment)
            .unwrap();
        (
            t.grace_period.as_secs(),
            t.pre_stop_sleep.as_secs(),
            t.env["SHUTDOWN_GRACE_PERIOD"].clone(),
        )
    };
    assert_eq!(grace_of(&k8s().join("base"), "api"), (35, 5, "30s".into()));
    assert_eq!(
        grace_of(&k8s().join("overlays/dev"), "api"),
        (20, 3, "17s".into())
    );
    assert_eq!(
        grace_of(&k8s().join("overlays/prod"), "worker"),
        (120, 1, "119s".into())
    );
}

#[test]
fn a_grace_period_one_second_short_is_caught() {
    let mut build = kustomize::build(&k8s().join("base")).unwrap();
    let pod = &mut deployment_mut(&mut build, "api")["spec"]["template"]["spec"];
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    pod["terminationGracePeriodSeconds"] = Value::from(grace - 1);
    let problems = problems_of("edited base", &build);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].contains("SHUTDOWN_GRACE_PERIOD is 30s"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].contains("exceeds the grace period 34s"),
        "{}",
        problems[1]
    );
}

#[test]
fn a_longer_pre_stop_sleep_alone_is_caught() {
    let mut build = kustomize::build(&k8s().join("base")).unwrap();
    let container =
        &mut deployment_mut(&mut build, "worker")["spec"]["template"]["spec"]["containers"][0];
    container["lifecycle"]["preStop"]["sleep"]["seconds"] = Value::from(10);
    let problems = problems_of("edited base", &build);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Deployment worker") && p.contains("preStop counts")),
        "{problems:#?}"
    );
}

#[test]
fn a_budget_that_cannot_fit_is_caught_with_the_services_message() {
    let mut build = kustomize::build(&k8s().join("base")).unwrap();
    build
        .config_maps
        .get_mut("api-config")
        .unwrap()
        .insert("SHUTDOWN_DRAIN_DELAY".into(), "40s".into());
    let problems = problems_of("edited base", &build);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("shutdown budget does not fit")),
        "{problems:#?}"
    );
}

#[test]
fn a_pre_stop_hook_of_unknown_length_is_refused() {
    let mut build = kustomize::build(&k8s().join("base")).unwrap();
    let container =
        &mut deployment_mut(&mut build, "api")["spec"]["template"]["spec"]["containers"][0];
    container["lifecycle"]["preStop"] =
        serde_norway::from_str("exec: {command: [sleep, '5']}").unwrap();
    assert!(termination::of_deployments(&build.resources, &build.config_maps).is_err());
}

/// Where kubectl is installed, its kustomize must agree with this crate's
/// reading of every overlay on everything the budget depends on.
#[test]
fn overlays_read_as_kubectl_kustomize_renders_them() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("skipped: kubectl is not installed; the budget tests above still ran");
        return;
    }
    for overlay in overlays() {
        let output = Command::new("kubectl")
            .arg("kustomize")
            .arg(&overlay)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rendered =
            kustomize::parse_rendered(&String::from_utf8(output.stdout).unwrap()).unwrap();
        let theirs =
            termination::of_deployments(&rendered, &kustomize::config_maps_of(&rendered)).unwrap();
        let ours = terminations(&kustomize::build(&overlay).unwrap());
        assert_eq!(
            comparable(&theirs),
            comparable(&ours),
            "{}: kubectl kustomize and deploy-check disagree",
            overlay.display()
        );
    }
}

/// What the budget depends on: the env narrowed to `SHUTDOWN_*`, since
/// kustomize rewrites other values (hashed ConfigMap names) that do not
/// matter here.
fn comparable(terminations: &[Termination]) -> Vec<Termination> {
    terminations
        .iter()
        .cloned()
        .map(|mut t| {
            t.env.retain(|key, _| key.starts_with("SHUTDOWN_"));
            t
        })
        .collect()
}

/// The rest of a zero-downtime Deployment: surge before stopping, and
/// probes on the ops port, where /readyz turns 503 at SIGTERM.
#[test]
fn deployments_surge_and_probe_the_ops_port() {
    for dir in std::iter::once(k8s().join("base")).chain(overlays()) {
        let build = kustomize::build(&dir).unwrap();
        for deployment in build
            .resources
            .iter()
            .filter(|r| r["kind"].as_str() == Some("Deployment"))
        {
            let name = format!(
                "{}: {}",
                dir.display(),
                deployment["metadata"]["name"].as_str().unwrap()
            );
            let rolling = &deployment["spec"]["strategy"]["rollingUpdate"];
            assert_eq!(rolling["maxSurge"].as_u64(), Some(1), "{name}");
            assert_eq!(rolling["maxUnavailable"].as_u64(), Some(0), "{name}");
            assert!(
                deployment["spec"]["minReadySeconds"].as_u64() > Some(0),
                "{name}"
            );
            for container in deployment["spec"]["template"]["spec"]["containers"]
                .as_sequence()
                .unwrap()
            {
                for (probe, path) in [
                    ("readinessProbe", "/readyz"),
                    ("livenessProbe", "/livez"),
                    ("startupProbe", "/livez"),
                ] {
                    let get = &container[probe]["httpGet"];
                    assert_eq!(get["path"].as_str(), Some(path), "{name} {probe}");
                    assert_eq!(get["port"].as_str(), Some("ops"), "{name} {probe}");
                }
            }
        }
    }
}

/// The in-cluster scrape jobs find pods by DNS names that include the
/// namespace, so an overlay that moves the namespace must move them too.
#[test]
fn the_scrape_config_names_each_overlays_namespace() {
    for overlay in overlays() {
        let build = kustomize::build(&overlay).unwrap();
        let namespace = build.namespace.clone().unwrap();
        let scrape = &build.config_maps["orders-prometheus-scrape"]["prometheus.yml"];
        let names: Vec<&str> = scrape
            .split_whitespace()
            .filter(|w| w.contains("._tcp."))
            .collect();
        assert_eq!(names.len(), 2, "{scrape}");
        for name in names {
            assert!(
                name.contains(&format!(".{namespace}.svc.")),
                "{}: {name}",
                overlay.display()
            );
        }
    }
}
