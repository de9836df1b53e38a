//! `cargo xtask image`: the repository's own Dockerfile, built unchanged by
//! podman; and `cargo xtask image-test`: the built image run as Kubernetes
//! runs it (crates/xtask/tests/image.rs).
//!
//! Which bases the build uses (`--bases`):
//! - `registry`: the real ones, pulled by their full names
//!   (`docker.io/library/rust:<version>-slim-bookworm`,
//!   `gcr.io/distroless/cc-debian12:nonroot`) before the build;
//! - `local`: stand-ins made on this machine ([`standin`]) under the same
//!   names, for machines that reach no container registry, such as CI here;
//! - `auto`, the default: `registry` when both registries' names resolve in
//!   DNS and both pulls succeed, else `local`. Where no registry can be
//!   reached the names do not resolve, so the probe costs milliseconds and
//!   sends nothing out.
//!
//! `<version>` is the toolchain this workspace builds with (pinned by
//! rust-toolchain.toml), passed to the Dockerfile as `RUST_VERSION`, so the
//! image is built by the same compiler as CI's tests. podman's layer cache
//! keeps cargo-chef, the dependencies and the workspace's own code in
//! layers of their own between runs; the builder stage is tagged
//! (`BUILDER_CACHE`) so that those layers survive the prune that, under CI,
//! removes what earlier builds left.

pub mod podman;
mod standin;
mod tools;

use std::net::ToSocketAddrs;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::children::{Signals, run_forwarding};
use crate::with_db::run_with_database;
use crate::workspace;
use podman::Podman;

pub const DEFAULT_TAG: &str = "graceful-rust:dev";
/// The Dockerfile's `builder` stage, tagged only to keep its layers cached.
const BUILDER_CACHE: &str = "localhost/graceful-rust/build-cache:builder";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bases {
    Auto,
    Local,
    Registry,
}

/// `cargo xtask image`.
pub async fn run(
    bases: Bases,
    tag: &str,
    install_tools: bool,
    signals: &mut Signals,
) -> anyhow::Result<u8> {
    let started = Instant::now();
    tools::ensure(install_tools)?;
    let podman = Podman::configure()?;
    let rust_version = rust_version()?;
    let builder = standin::builder(&rust_version);
    let bases = match bases {
        Bases::Auto if registries_resolve() => {
            if pull(&podman, &[&builder, standin::RUNTIME], signals).await? {
                Bases::Registry
            } else {
                println!("image: the registries resolve but a pull failed; using local stand-ins");
                Bases::Local
            }
        }
        Bases::Auto => {
            println!("image: no container registry resolves; using local stand-ins for the bases");
            Bases::Local
        }
        Bases::Registry => {
            if !pull(&podman, &[&builder, standin::RUNTIME], signals).await? {
                bail!("cannot pull the base images");
            }
            Bases::Registry
        }
        Bases::Local => Bases::Local,
    };
    if bases == Bases::Local {
        standin::ensure(&podman, &rust_version, signals).await?;
    }

    let built = Instant::now();
    println!("image: podman build {tag} (RUST_VERSION={rust_version}, {bases:?} bases)");
    // The builder stage first, under a tag of its own: that keeps its layers
    // (cargo-chef, the cooked dependencies) referenced, so that pruning
    // what earlier builds left behind does not throw the cache away. The
    // second build finds every builder layer in the cache.
    for (target, image) in [(Some("builder"), BUILDER_CACHE), (None, tag)] {
        let mut build = podman.command();
        build.args([
            "build",
            "--network",
            "host",
            // The bases are in local storage by now, real or stand-in.
            "--pull=never",
            "--layers",
            "--build-arg",
            &format!("RUST_VERSION={rust_version}"),
            "--tag",
            image,
            "--file",
            "Dockerfile",
        ]);
        if let Some(target) = target {
            build.args(["--target", target]);
        }
        build.arg(".");
        let code = run_forwarding("podman build", &mut build, signals).await?;
        if code != 0 {
            return Ok(code);
        }
    }
    if std::env::var_os("CI").is_some() {
        prune(&podman);
    }
    let size = podman.image_size(tag)?;
    println!(
        "image: {tag} built in {:.0}s ({:.0}s in all, {bases:?} bases), {:.1} MB",
        built.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    Ok(0)
}

/// `cargo xtask image-test`: the container test against a throwaway
/// PostgreSQL (or `DATABASE_URL`), one test at a time, since each measures
/// timings and runs its own containers.
pub async fn test(tag: &str, extra_args: &[String], signals: &mut Signals) -> anyhow::Result<u8> {
    let podman = Podman::configure()?;
    if !podman.image_exists(tag) {
        bail!("no image {tag}: build it first with `cargo xtask image`");
    }
    let mut cargo = workspace::cargo();
    cargo
        .args(["test", "-p", "xtask", "--test", "image", "--"])
        .args(["--ignored", "--test-threads=1", "--nocapture"])
        .args(extra_args)
        .env("IMAGE", tag)
        .env("CONTAINERS_CONF", podman.conf());
    run_with_database("image-test", &mut cargo, signals).await
}

/// The toolchain's version (`release:` of `rustc -vV`), asked from the
/// workspace root so that rust-toolchain.toml applies.
fn rust_version() -> anyhow::Result<String> {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .current_dir(workspace::root())
        .output()
        .context("cannot run rustc")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("release: "))
        .map(str::to_owned)
        .context("rustc -vV named no release")
}

fn registries_resolve() -> bool {
    ["registry-1.docker.io:443", "gcr.io:443"]
        .iter()
        .all(|host| {
            host.to_socket_addrs()
                .is_ok_and(|mut addrs| addrs.next().is_some())
        })
}

/// Removes the layers no tagged image uses any more: earlier builds' code
/// and dependencies, a few GB per change of Cargo.lock. Only under CI,
/// whose machine runs nothing else with podman; elsewhere the dangling
/// images may be someone else's (`podman image prune` does it by hand).
fn prune(podman: &Podman) {
    match podman.query(&["image", "prune", "--force"]) {
        Ok(pruned) => println!("image: pruned {} unused layers", pruned.lines().count()),
        Err(error) => println!("image: {error:#}"),
    }
}

/// Pulls each image by its full name; false if any pull fails.
async fn pull(podman: &Podman, images: &[&str], signals: &mut Signals) -> anyhow::Result<bool> {
    for image in images {
        println!("image: pulling {image}");
        let mut pull = podman.command();
        pull.args(["pull", "--quiet", image]);
        if run_forwarding("podman pull", &mut pull, signals).await? != 0 {
            return Ok(false);
        }
    }
    Ok(true)
}
