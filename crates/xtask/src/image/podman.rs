//! podman as xtask runs it: with a containers.conf of our own, so that
//! every podman command (the build, the stand-ins, the container test) sees
//! the same runtime and limits whatever the machine's own configuration says.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::workspace;

/// What podman needs on this kind of machine, and nothing more:
/// - `runc`: Debian's podman otherwise picks crun where it is installed,
///   and runc is what Debian ships alongside it;
/// - `default_ulimits`: podman raises a container's open-files limit to
///   1 048 576 by default, above this machine's hard limit (20 000), and
///   the runtime then refuses to start the container;
/// - `k8s-file` logs and `file` events: no journald to write to.
const CONTAINERS_CONF: &str = r#"# Written by `cargo xtask image`; see crates/xtask/src/image/podman.rs.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
events_logger = "file"
"#;

/// The file podman reads instead of the machine's containers.conf
/// (`CONTAINERS_CONF`), under the target dir.
pub fn containers_conf() -> PathBuf {
    workspace::target_dir()
        .join("image")
        .join("containers.conf")
}

#[derive(Debug, Clone)]
pub struct Podman {
    conf: PathBuf,
}

impl Podman {
    /// Writes `containers_conf()` and checks that podman answers.
    pub fn configure() -> anyhow::Result<Self> {
        let conf = containers_conf();
        std::fs::create_dir_all(conf.parent().context("target dir")?)?;
        if std::fs::read_to_string(&conf).ok().as_deref() != Some(CONTAINERS_CONF) {
            std::fs::write(&conf, CONTAINERS_CONF)
                .with_context(|| format!("cannot write {}", conf.display()))?;
        }
        let podman = Self { conf };
        let version = podman.std().arg("--version").output();
        match version {
            Ok(out) if out.status.success() => Ok(podman),
            Ok(out) => bail!(
                "podman --version failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(error) => bail!("cannot run podman: {error}"),
        }
    }

    pub fn conf(&self) -> &std::path::Path {
        &self.conf
    }

    /// `podman` with our configuration, for commands to await.
    pub fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .env("CONTAINERS_CONF", &self.conf)
            .current_dir(workspace::root());
        command
    }

    /// The same, blocking, for short queries.
    pub fn std(&self) -> std::process::Command {
        let mut command = std::process::Command::new("podman");
        command
            .env("CONTAINERS_CONF", &self.conf)
            .current_dir(workspace::root());
        command
    }

    /// Runs a short podman command and returns its trimmed stdout, or the
    /// error with its stderr.
    pub fn query(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .std()
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("cannot run podman {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "podman {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    pub fn image_exists(&self, image: &str) -> bool {
        self.std()
            .args(["image", "exists", image])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// A label of a local image, `None` when the image or the label is
    /// missing.
    pub fn image_label(&self, image: &str, label: &str) -> Option<String> {
        if !self.image_exists(image) {
            return None;
        }
        let format = format!("{{{{index .Labels \"{label}\"}}}}");
        self.query(&["image", "inspect", "--format", &format, image])
            .ok()
            .filter(|value| !value.is_empty() && value != "<no value>")
    }

    /// The image's size in bytes, as `podman images` counts it.
    pub fn image_size(&self, image: &str) -> anyhow::Result<u64> {
        let size = self.query(&["image", "inspect", "--format", "{{.Size}}", image])?;
        size.parse()
            .with_context(|| format!("podman reported size {size:?} for {image}"))
    }
}
