//! Loading YAML files, one or many documents each.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde_norway::Value;

pub fn load_documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_documents(&text).with_context(|| format!("parsing {}", path.display()))
}

pub fn parse_documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(document)?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

pub fn load_one(path: &Path) -> anyhow::Result<Value> {
    let mut documents = load_documents(path)?;
    anyhow::ensure!(
        documents.len() == 1,
        "{}: expected one YAML document, found {}",
        path.display(),
        documents.len()
    );
    Ok(documents.remove(0))
}

/// An environment value as the container sees it: YAML's `5000` and
/// `"5000"` are the same string there.
pub fn scalar_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
