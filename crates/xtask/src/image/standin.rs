//! Local stand-ins for the Dockerfile's two base images, for machines that
//! reach no container registry, tagged with the names the Dockerfile uses
//! so that it builds unchanged:
//!
//! - `docker.io/library/rust:<version>-slim-bookworm`: a Debian bookworm
//!   root from `debootstrap --variant=minbase`, with what the official
//!   slim image adds (gcc, libc6-dev, ca-certificates), this machine's own
//!   Rust toolchain (`rustc --print sysroot`: it cannot be downloaded here)
//!   and this machine's CA bundle (a TLS-inspecting proxy's CA included,
//!   so that cargo reaches crates.io from inside the build);
//! - `gcr.io/distroless/cc-debian12:nonroot`: `FROM scratch` with the files
//!   of libc6, libgcc-s1, libgomp1, libstdc++6 and libssl3 taken from that
//!   root, the CA bundle, zoneinfo, and a passwd naming `nonroot` (65532).
//!   No shell, no package manager, user 65532, as distroless.
//!
//! Both carry the label `graceful-rust.stand-in` holding a key of their
//! inputs (this recipe, the toolchain's `rustc -vV`, the CA bundle). The
//! slow part, debootstrap and the import, is skipped while the builder's
//! key matches; a new import would give the image a new id and so void
//! podman's layer cache of every stage built on it.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::unistd::Uid;

use super::podman::Podman;
use crate::children::{Signals, run_forwarding};
use crate::workspace;

pub const LABEL: &str = "graceful-rust.stand-in";
pub const RUNTIME: &str = "gcr.io/distroless/cc-debian12:nonroot";

pub fn builder(rust_version: &str) -> String {
    format!("docker.io/library/rust:{rust_version}-slim-bookworm")
}

/// What the official `rust:*-slim-bookworm` installs on top of Debian.
const BUILDER_PACKAGES: &str = "gcc,libc6-dev,ca-certificates";
const SUITE: &str = "bookworm";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The toolchain's parts that a build needs (no docs, no rustfmt/clippy).
const TOOLCHAIN_BINS: &[&str] = &["cargo", "rustc", "rustdoc"];
const BUILDER_PATH: &str = "/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The runtime: files copied out of the builder stand-in (which has a shell
/// and dpkg) into a stage `FROM scratch` (which has neither). Paths are
/// resolved first, so the result is merged-/usr like bookworm itself.
const RUNTIME_CONTAINERFILE: &str = r#"# Written by `cargo xtask image`: a stand-in for distroless cc-debian12:nonroot.
FROM {builder} AS files
RUN set -eu; \
    mkdir -p /out/etc/ssl/certs /out/tmp /out/home/nonroot /out/usr/share; \
    dpkg -L libc6 libgcc-s1 libgomp1 libstdc++6 libssl3 \
      | grep -v -e '^/usr/share/doc' -e '^/usr/share/lintian' -e '^/usr/share/man' \
      | while read -r f; do \
          if [ -f "$f" ] || [ -L "$f" ]; then \
            cp -a --parents "$(readlink -f "$(dirname "$f")")/$(basename "$f")" /out; \
          fi; \
        done; \
    ln -s usr/lib /out/lib; ln -s usr/lib64 /out/lib64; \
    cp -a /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/; \
    cp -a /usr/share/zoneinfo /out/usr/share/; \
    cp -aL /etc/os-release /out/etc/os-release; \
    printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >/out/etc/passwd; \
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >/out/etc/group; \
    chmod 1777 /out/tmp; chown 65532:65532 /out/home/nonroot; \
    ! test -e /out/bin/sh
FROM scratch
COPY --from=files /out/ /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532
WORKDIR /home/nonroot
LABEL graceful-rust.stand-in="{key}"
"#;

/// Makes both stand-ins unless they are there with the current key.
pub async fn ensure(
    podman: &Podman,
    rust_version: &str,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let sysroot = toolchain_sysroot()?;
    let key = key(&sysroot)?;
    let builder = builder(rust_version);
    if podman.image_label(&builder, LABEL).as_deref() == Some(key.as_str()) {
        println!("image: stand-in {builder} is up to date");
    } else {
        make_builder(podman, &builder, &sysroot, rust_version, &key, signals).await?;
    }
    if podman.image_label(RUNTIME, LABEL).as_deref() == Some(key.as_str()) {
        println!("image: stand-in {RUNTIME} is up to date");
        return Ok(());
    }
    make_runtime(podman, &builder, &key, signals).await
}

/// The sysroot of the toolchain this workspace builds with (its
/// rust-toolchain.toml applies, since we ask from the workspace root).
fn toolchain_sysroot() -> anyhow::Result<PathBuf> {
    let out = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(workspace::root())
        .output()
        .context("cannot run rustc")?;
    if !out.status.success() {
        bail!(
            "rustc --print sysroot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(sysroot.canonicalize().unwrap_or(sysroot))
}

fn key(sysroot: &Path) -> anyhow::Result<String> {
    let rustc = std::process::Command::new(sysroot.join("bin/rustc"))
        .arg("-vV")
        .output()?
        .stdout;
    let mut hasher = std::hash::DefaultHasher::new();
    (
        RUNTIME_CONTAINERFILE,
        BUILDER_PACKAGES,
        SUITE,
        TOOLCHAIN_BINS,
        BUILDER_PATH,
        rustc,
        std::fs::read(CA_BUNDLE).unwrap_or_default(),
        // Bumped by hand when the steps below change in a way the
        // constants above do not show.
        2u32,
    )
        .hash(&mut hasher);
    Ok(format!("{:016x}", hasher.finish()))
}

async fn make_builder(
    podman: &Podman,
    image: &str,
    sysroot: &Path,
    rust_version: &str,
    key: &str,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    if !Uid::effective().is_root() {
        bail!(
            "making the stand-in {image} needs root (debootstrap); run as root, or use \
             --bases registry where a registry can be reached"
        );
    }
    let work = workspace::target_dir().join("image").join("stand-in");
    let root = work.join("root");
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&work)?;
    println!("image: debootstrap {SUITE} (minbase + {BUILDER_PACKAGES}) for {image}");
    let mut debootstrap = tokio::process::Command::new("debootstrap");
    debootstrap
        .args([
            "--variant=minbase",
            &format!("--include={BUILDER_PACKAGES}"),
            SUITE,
        ])
        .arg(&root)
        .env("PATH", path_with_sbin())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let code = run_forwarding("debootstrap", &mut debootstrap, signals).await?;
    if code != 0 {
        bail!(
            "debootstrap failed ({code}); its log is {}",
            root.join("debootstrap/debootstrap.log").display()
        );
    }
    // What the official image leaves out too: package lists and archives.
    for dir in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
    ] {
        empty_dir(&root.join(dir))?;
    }
    std::fs::copy(CA_BUNDLE, root.join(&CA_BUNDLE[1..]))
        .with_context(|| format!("cannot copy {CA_BUNDLE}"))?;
    copy_toolchain(sysroot, &root.join("usr/local/rust"))?;
    std::fs::create_dir_all(root.join("usr/local/cargo/bin"))?;

    println!(
        "image: importing {image} (Rust {rust_version} from {})",
        sysroot.display()
    );
    let changes = [
        format!("ENV PATH={BUILDER_PATH}"),
        "ENV CARGO_HOME=/usr/local/cargo".to_owned(),
        format!("ENV RUST_VERSION={rust_version}"),
        format!("LABEL {LABEL}={key}"),
    ];
    let mut script = String::from("tar -C \"$1\" -c . | podman import --quiet");
    for (index, _) in changes.iter().enumerate() {
        script.push_str(&format!(" --change \"${}\"", index + 3));
    }
    script.push_str(" - \"$2\" >/dev/null");
    let mut import = tokio::process::Command::new("sh");
    import
        .args(["-c", &script, "import"])
        .arg(&root)
        .arg(image)
        .args(&changes)
        .env("CONTAINERS_CONF", podman.conf());
    let code = run_forwarding("import", &mut import, signals).await?;
    std::fs::remove_dir_all(&root)?;
    if code != 0 {
        bail!("podman import of {image} failed ({code})");
    }
    Ok(())
}

async fn make_runtime(
    podman: &Podman,
    builder: &str,
    key: &str,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    println!("image: building stand-in {RUNTIME}");
    let dir = workspace::target_dir().join("image").join("runtime");
    std::fs::create_dir_all(&dir)?;
    let containerfile = RUNTIME_CONTAINERFILE
        .replace("{builder}", builder)
        .replace("{key}", key);
    std::fs::write(dir.join("Containerfile"), containerfile)?;
    let mut build = podman.command();
    build
        .args([
            "build",
            "--quiet",
            "--network",
            "host",
            "--pull=never",
            "--tag",
            RUNTIME,
        ])
        .arg(&dir);
    let code = run_forwarding("podman build (runtime stand-in)", &mut build, signals).await?;
    if code != 0 {
        bail!("the runtime stand-in did not build ({code})");
    }
    Ok(())
}

fn copy_toolchain(sysroot: &Path, dest: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dest.join("bin"))?;
    for bin in TOOLCHAIN_BINS {
        std::fs::copy(sysroot.join("bin").join(bin), dest.join("bin").join(bin))
            .with_context(|| format!("cannot copy {bin} from {}", sysroot.display()))?;
    }
    // lib/ holds rustc's own libraries, the standard library and rust-lld.
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(sysroot.join("lib"))
        .arg(dest)
        .status()?;
    if !status.success() {
        bail!("cannot copy {}/lib", sysroot.display());
    }
    Ok(())
}

fn empty_dir(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn path_with_sbin() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("/usr/local/sbin:/usr/sbin:/sbin:{path}")
}
