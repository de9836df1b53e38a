//! The services of docker-compose.yml made of this project's image, read
//! from the file so the test runs what compose would.

use super::container::*;

/// A service of docker-compose.yml made of this project's image: its
/// command, environment and stop_grace_period, as compose would run it.
pub struct ComposeService {
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub grace: u64,
}

pub fn compose_service(name: &str) -> ComposeService {
    let path = xtask::workspace::root().join("docker-compose.yml");
    let compose: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let service = &compose["services"][name];
    assert_eq!(
        service["image"].as_str(),
        Some("graceful-rust:dev"),
        "{name} is not built from this repository"
    );
    let command = service["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|part| part.as_str().unwrap().to_owned())
        .collect();
    let env = service["environment"]
        .as_mapping()
        .map(|map| {
            map.iter()
                .map(|(key, value)| {
                    let value = match value {
                        serde_norway::Value::String(text) => text.clone(),
                        other => serde_norway::to_string(other).unwrap().trim().to_owned(),
                    };
                    (key.as_str().unwrap().to_owned(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    let grace = service["stop_grace_period"]
        .as_str()
        .map_or(10, |period| period.trim_end_matches('s').parse().unwrap());
    ComposeService {
        command,
        env,
        grace,
    }
}

impl ComposeService {
    /// The service's environment, with what only compose's network has
    /// replaced: the database is the test's (compose's `postgres` service
    /// is a registry image), addresses are loopback ports the kernel picks
    /// (the host's network instead of compose's), and no collector (also a
    /// registry image). `extra` adds or replaces settings.
    pub async fn container(
        &self,
        role: &'static str,
        database_url: &str,
        extra: &[(&str, &str)],
    ) -> Container {
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(key, _)| !key.starts_with("OTEL_"))
            .filter(|(key, _)| !extra.iter().any(|(k, _)| k == key))
            .map(|(key, value)| {
                let value = match key.as_str() {
                    "DATABASE_URL" => database_url.to_owned(),
                    "LISTEN_ADDR" | "OPS_LISTEN_ADDR" => "127.0.0.1:0".to_owned(),
                    _ => value.clone(),
                };
                (key.clone(), value)
            })
            .collect();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let command: Vec<&str> = self.command.iter().map(String::as_str).collect();
        Container::create(role, &command, &env).await
    }
}
