//! Builds a kustomization the way `kustomize build` would, for the fields
//! the budget check reads.
//!
//! `kubectl kustomize` is not on every developer's machine, and the check
//! must run in `cargo test`; so this reads the subset the overlays here
//! use, and refuses any kustomization field it does not know rather than
//! ignoring it. The tests compare its output with `kubectl kustomize`
//! where kubectl is installed.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail, ensure};
use serde_norway::Value;

use crate::Env;
use crate::merge;
use crate::yaml::{self, scalar_to_string};

/// Fields this reader understands. `labels` and `images` change nothing it
/// checks; `secretGenerator` only makes Secrets, whose values are not read.
const UNDERSTOOD: &[&str] = &[
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "labels",
    "configMapGenerator",
    "secretGenerator",
    "patches",
    "images",
];

/// The resources of a kustomization, with its generated ConfigMaps under
/// their names before the hash suffix (the names Deployments refer to).
#[derive(Debug, Clone, Default)]
pub struct Build {
    pub namespace: Option<String>,
    pub resources: Vec<Value>,
    pub config_maps: BTreeMap<String, Env>,
}

pub fn build(dir: &Path) -> anyhow::Result<Build> {
    let path = dir.join("kustomization.yaml");
    let kustomization = yaml::load_one(&path)?;
    build_from(dir, &kustomization).with_context(|| format!("building {}", path.display()))
}

fn build_from(dir: &Path, kustomization: &Value) -> anyhow::Result<Build> {
    let Some(fields) = kustomization.as_mapping() else {
        bail!("not a mapping");
    };
    for key in fields.keys() {
        let key = key.as_str().unwrap_or_default();
        ensure!(
            UNDERSTOOD.contains(&key),
            "deploy-check does not understand the kustomization field `{key}`; \
             teach crates/deploy-check/src/kustomize.rs about it"
        );
    }

    let mut build = Build::default();
    for entry in strings(&kustomization["resources"])? {
        let path = dir.join(&entry);
        if path.is_dir() {
            let base = self::build(&path)?;
            build.resources.extend(base.resources);
            build.config_maps.extend(base.config_maps);
            build.namespace = build.namespace.or(base.namespace);
        } else {
            build.resources.extend(yaml::load_documents(&path)?);
        }
    }
    for generator in items(&kustomization["configMapGenerator"]) {
        generate_config_map(dir, generator, &mut build.config_maps)?;
    }
    for patch in items(&kustomization["patches"]) {
        ensure!(
            patch.get("target").is_none() && patch.get("patch").is_none(),
            "only `patches: - path: FILE` (strategic merge, matched by kind and name) is supported"
        );
        let Some(file) = patch["path"].as_str() else {
            bail!("a patch without a path");
        };
        for document in yaml::load_documents(&dir.join(file))? {
            apply_patch(&mut build.resources, &document).with_context(|| file.to_owned())?;
        }
    }
    if let Some(namespace) = kustomization["namespace"].as_str() {
        build.namespace = Some(namespace.to_owned());
    }
    Ok(build)
}

fn generate_config_map(
    dir: &Path,
    generator: &Value,
    config_maps: &mut BTreeMap<String, Env>,
) -> anyhow::Result<()> {
    let Some(name) = generator["name"].as_str() else {
        bail!("a configMapGenerator without a name");
    };
    let mut data = Env::new();
    for file in strings(&generator["envs"])? {
        let path = dir.join(&file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = split_pair(line).with_context(|| path.display().to_string())?;
            data.insert(key, value);
        }
    }
    for literal in strings(&generator["literals"])? {
        let (key, value) = split_pair(&literal)?;
        data.insert(key, value);
    }
    for file in strings(&generator["files"])? {
        let (key, file) = match file.split_once('=') {
            Some((key, file)) => (key.to_owned(), file.to_owned()),
            None => (file.rsplit('/').next().unwrap_or(&file).to_owned(), file),
        };
        let path = dir.join(&file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        data.insert(key, text);
    }

    let behavior = generator["behavior"].as_str().unwrap_or("create");
    match (behavior, config_maps.get_mut(name)) {
        ("create", None) | ("replace", Some(_)) => {
            config_maps.insert(name.to_owned(), data);
        }
        ("merge", Some(existing)) => existing.extend(data),
        (behavior, existing) => bail!(
            "configMapGenerator {name}: behavior {behavior} with {} base ConfigMap",
            if existing.is_some() { "a" } else { "no" }
        ),
    }
    Ok(())
}

fn split_pair(line: &str) -> anyhow::Result<(String, String)> {
    match line.split_once('=') {
        Some((key, value)) => Ok((key.trim().to_owned(), value.to_owned())),
        None => bail!("expected KEY=VALUE, got {line:?}"),
    }
}

fn apply_patch(resources: &mut [Value], patch: &Value) -> anyhow::Result<()> {
    let kind = &patch["kind"];
    let name = &patch["metadata"]["name"];
    let Some(target) = resources
        .iter_mut()
        .find(|resource| &resource["kind"] == kind && &resource["metadata"]["name"] == name)
    else {
        bail!("the patch for {kind:?} {name:?} matches no resource");
    };
    merge::strategic(target, patch)
}

/// ConfigMaps found among rendered resources (`kubectl kustomize` output),
/// by their full names.
pub fn config_maps_of(resources: &[Value]) -> BTreeMap<String, Env> {
    resources
        .iter()
        .filter(|resource| resource["kind"].as_str() == Some("ConfigMap"))
        .filter_map(|resource| {
            let name = resource["metadata"]["name"].as_str()?.to_owned();
            let data = resource["data"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter_map(|(key, value)| {
                    Some((key.as_str()?.to_owned(), scalar_to_string(value)?))
                })
                .collect();
            Some((name, data))
        })
        .collect()
}

/// Parses rendered manifests, e.g. the output of `kubectl kustomize`.
pub fn parse_rendered(text: &str) -> anyhow::Result<Vec<Value>> {
    yaml::parse_documents(text)
}

fn items(value: &Value) -> &[Value] {
    value.as_sequence().map(Vec::as_slice).unwrap_or_default()
}

fn strings(value: &Value) -> anyhow::Result<Vec<String>> {
    items(value)
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .with_context(|| format!("expected a string, got {item:?}"))
        })
        .collect()
}
