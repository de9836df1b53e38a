//! The container tools, installed from Debian's packages when missing: by
//! CI always (a fresh machine has none of them), by a developer only when
//! asked (`--install-tools`), since it changes the machine.

use anyhow::bail;
use nix::unistd::Uid;

/// podman builds and runs; buildah is the build engine podman links in, and
/// its CLI helps to look at a failed build's stages; runc is the runtime the
/// containers.conf names; debootstrap makes the stand-in bases.
const PACKAGES: &[(&str, &str)] = &[
    ("podman", "podman"),
    ("buildah", "buildah"),
    ("runc", "runc"),
    ("debootstrap", "debootstrap"),
];

fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    // debootstrap lives in /usr/sbin, which a non-root PATH may lack.
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| dir.join(program).is_file())
}

/// Installs what is missing, or says how to.
pub fn ensure(install: bool) -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = install || std::env::var_os("CI").is_some();
    if !install {
        bail!(
            "{} not installed; on Debian: `apt-get install {}` (or pass --install-tools)",
            missing.join(", "),
            missing.join(" ")
        );
    }
    if !Uid::effective().is_root() {
        bail!(
            "{} not installed, and installing needs root: `sudo apt-get install {}`",
            missing.join(", "),
            missing.join(" ")
        );
    }
    println!("image: installing {}", missing.join(" "));
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(&missing);
    apt(&args)
}

fn apt(args: &[&str]) -> anyhow::Result<()> {
    let status = std::process::Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", args.join(" "));
    }
    Ok(())
}
