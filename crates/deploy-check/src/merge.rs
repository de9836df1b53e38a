//! The part of Kubernetes' strategic merge patch that overlays use on
//! Deployments: maps merge key by key, lists of named items (containers,
//! env) merge by name, anything else is replaced, and `null` removes a key.
//!
//! Written here rather than taken from a crate because no maintained Rust
//! crate implements strategic merge; the directives it does not know
//! (`$patch`, `$retainKeys`, …) are refused, so an overlay cannot use one
//! without the check noticing.

use anyhow::bail;
use serde_norway::Value;

pub fn strategic(target: &mut Value, patch: &Value) -> anyhow::Result<()> {
    refuse_directives(patch)?;
    merge(target, patch);
    Ok(())
}

fn refuse_directives(patch: &Value) -> anyhow::Result<()> {
    match patch {
        Value::Mapping(map) => {
            for (key, value) in map {
                if key.as_str().is_some_and(|key| key.starts_with('$')) {
                    bail!("strategic merge directive {key:?} is not supported");
                }
                refuse_directives(value)?;
            }
        }
        Value::Sequence(items) => items.iter().try_for_each(refuse_directives)?,
        _ => {}
    }
    Ok(())
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Mapping(target), Value::Mapping(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                    continue;
                }
                match target.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Sequence(target), Value::Sequence(patch))
            if all_named(target) && all_named(patch) =>
        {
            for item in patch {
                let name = &item["name"];
                match target.iter_mut().find(|existing| &existing["name"] == name) {
                    Some(existing) => merge(existing, item),
                    None => target.push(item.clone()),
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn all_named(items: &[Value]) -> bool {
    items
        .iter()
        .all(|item| item.get("name").is_some_and(|name| name.is_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_norway::from_str(text).unwrap()
    }

    #[test]
    fn named_items_merge_by_name_and_the_rest_is_kept() {
        let mut target = yaml(
            "containers:\n- name: api\n  image: a\n  lifecycle: {preStop: {sleep: {seconds: 5}}}\n- name: side\n  image: s\n",
        );
        let patch =
            yaml("containers:\n- name: api\n  lifecycle: {preStop: {sleep: {seconds: 3}}}\n");
        strategic(&mut target, &patch).unwrap();
        assert_eq!(target["containers"][0]["image"], yaml("a"));
        assert_eq!(
            target["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"],
            yaml("3")
        );
        assert_eq!(target["containers"][1]["name"], yaml("side"));
    }

    #[test]
    fn unnamed_lists_are_replaced_and_null_removes() {
        let mut target = yaml("args: [a, b]\nkeep: 1\ndrop: 2\n");
        strategic(&mut target, &yaml("args: [c]\ndrop: null\n")).unwrap();
        assert_eq!(target, yaml("args: [c]\nkeep: 1\n"));
    }

    #[test]
    fn directives_are_refused() {
        let mut target = yaml("containers: []\n");
        let patch = yaml("containers:\n- name: api\n  $patch: delete\n");
        assert!(strategic(&mut target, &patch).is_err());
    }
}
