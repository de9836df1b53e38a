//! Where PostgreSQL's server binaries live differs by distribution: Debian
//! keeps them off `PATH` under a versioned directory, Homebrew and source
//! builds put them on it. The search order is part of the promise, so a
//! developer can always force a choice with `PG_BIN`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinaries {
    pub dir: PathBuf,
}

impl ServerBinaries {
    pub fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }

    pub fn pg_ctl(&self) -> PathBuf {
        self.dir.join("pg_ctl")
    }
}

/// Everything the search reads, gathered first so tests can build one.
#[derive(Debug, Clone)]
pub struct SearchPlaces {
    pub pg_bin: Option<PathBuf>,
    pub path: Option<OsString>,
    /// `pg_config --bindir`, when a `pg_config` answers.
    pub pg_config_bindir: Option<PathBuf>,
    /// Holds one directory per major version, each with a `bin/`.
    pub versioned_root: PathBuf,
}

impl SearchPlaces {
    pub fn from_env() -> Self {
        Self {
            pg_bin: std::env::var_os("PG_BIN").map(PathBuf::from),
            path: std::env::var_os("PATH"),
            pg_config_bindir: pg_config_bindir(),
            // Overridable only so the "nothing installed" path can be tested
            // on a machine that has PostgreSQL.
            versioned_root: std::env::var_os("XTASK_PG_VERSIONED_ROOT")
                .map_or_else(|| PathBuf::from("/usr/lib/postgresql"), PathBuf::from),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum FindError {
    /// `PG_BIN` was set, so guessing elsewhere would hide the mistake.
    PgBinLacksServer(PathBuf),
    NotFound,
}

impl fmt::Display for FindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PgBinLacksServer(dir) => write!(
                f,
                "PG_BIN={} has no initdb, pg_ctl and postgres; point it at PostgreSQL's server bin directory or unset it",
                dir.display()
            ),
            Self::NotFound => f.write_str(
                "no DATABASE_URL and no PostgreSQL server binaries (searched PG_BIN, PATH, \
                 `pg_config --bindir`, /usr/lib/postgresql/*/bin). Install Debian's `postgresql` \
                 package (apt-get install postgresql), or run `docker compose up -d postgres` and \
                 set DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres, or set \
                 DATABASE_URL to any PostgreSQL you can use",
            ),
        }
    }
}

impl std::error::Error for FindError {}

/// `PG_BIN`, then `PATH`, then `pg_config --bindir`, then the highest
/// `/usr/lib/postgresql/*/bin`.
pub fn find(places: &SearchPlaces) -> Result<ServerBinaries, FindError> {
    if let Some(dir) = &places.pg_bin {
        return has_server(dir)
            .then(|| ServerBinaries { dir: dir.clone() })
            .ok_or_else(|| FindError::PgBinLacksServer(dir.clone()));
    }
    let on_path = places
        .path
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| has_server(dir));
    on_path
        .or_else(|| places.pg_config_bindir.clone().filter(|d| has_server(d)))
        .or_else(|| highest_versioned(&places.versioned_root))
        .map(|dir| ServerBinaries { dir })
        .ok_or(FindError::NotFound)
}

fn has_server(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|name| is_executable(&dir.join(name)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| PathBuf::from(dir.trim()))
}

/// Debian installs side by side (`/usr/lib/postgresql/15`, `16`, …); the
/// newest is what a fresh `apt-get install postgresql` would have picked.
fn highest_versioned(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_server(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        for name in ["initdb", "pg_ctl", "postgres"] {
            let file = dir.join(name);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir.to_owned()
    }

    fn nowhere(root: &Path) -> SearchPlaces {
        SearchPlaces {
            pg_bin: None,
            path: None,
            pg_config_bindir: None,
            versioned_root: root.join("none"),
        }
    }

    #[test]
    fn pg_bin_wins_over_everything_else() {
        let root = tempfile::tempdir().unwrap();
        let forced = fake_server(&root.path().join("forced"));
        let on_path = fake_server(&root.path().join("path"));
        let places = SearchPlaces {
            pg_bin: Some(forced.clone()),
            path: Some(on_path.into_os_string()),
            ..nowhere(root.path())
        };
        assert_eq!(find(&places).unwrap().dir, forced);
    }

    #[test]
    fn a_wrong_pg_bin_is_an_error_not_a_fallback() {
        let root = tempfile::tempdir().unwrap();
        let on_path = fake_server(&root.path().join("path"));
        let places = SearchPlaces {
            pg_bin: Some(root.path().join("empty")),
            path: Some(on_path.into_os_string()),
            ..nowhere(root.path())
        };
        assert!(matches!(find(&places), Err(FindError::PgBinLacksServer(_))));
    }

    #[test]
    fn path_comes_before_pg_config_and_the_versioned_root() {
        let root = tempfile::tempdir().unwrap();
        let on_path = fake_server(&root.path().join("path"));
        let places = SearchPlaces {
            path: Some(
                std::env::join_paths([root.path().join("nothing"), on_path.clone()]).unwrap(),
            ),
            pg_config_bindir: Some(fake_server(&root.path().join("pgconfig"))),
            versioned_root: root.path().join("lib"),
            ..nowhere(root.path())
        };
        fake_server(&root.path().join("lib/16/bin"));
        assert_eq!(find(&places).unwrap().dir, on_path);
    }

    #[test]
    fn pg_config_comes_before_the_versioned_root() {
        let root = tempfile::tempdir().unwrap();
        let from_pg_config = fake_server(&root.path().join("pgconfig"));
        fake_server(&root.path().join("lib/16/bin"));
        let places = SearchPlaces {
            pg_config_bindir: Some(from_pg_config.clone()),
            versioned_root: root.path().join("lib"),
            ..nowhere(root.path())
        };
        assert_eq!(find(&places).unwrap().dir, from_pg_config);
    }

    #[test]
    fn the_highest_version_wins_numerically() {
        let root = tempfile::tempdir().unwrap();
        fake_server(&root.path().join("lib/9/bin"));
        let newest = fake_server(&root.path().join("lib/16/bin"));
        fake_server(&root.path().join("lib/15/bin"));
        let places = SearchPlaces {
            versioned_root: root.path().join("lib"),
            ..nowhere(root.path())
        };
        assert_eq!(find(&places).unwrap().dir, newest);
    }

    #[test]
    fn nothing_found_names_every_way_out() {
        let root = tempfile::tempdir().unwrap();
        let error = find(&nowhere(root.path())).unwrap_err().to_string();
        for hint in [
            "apt-get install postgresql",
            "docker compose up -d postgres",
            "DATABASE_URL",
        ] {
            assert!(error.contains(hint), "{error}");
        }
    }
}
