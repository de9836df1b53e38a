//! The throwaway PostgreSQL as a developer meets it: real server binaries,
//! real connections, real signals, and no process left behind.

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sqlx::Connection;
use xtask::pg::{Cluster, DataDir, SearchPlaces, find};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

async fn start() -> Cluster {
    let binaries = find(&SearchPlaces::from_env()).expect("PostgreSQL server binaries");
    Cluster::start(&binaries, DataDir::Throwaway).await.unwrap()
}

fn is_running(pid: Pid) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    kill(pid, None).is_ok()
        && !stat
            .rsplit_once(')')
            .is_some_and(|(_, s)| s.trim_start().starts_with('Z'))
}

async fn accepts(url: &str) -> bool {
    match sqlx::PgConnection::connect(url).await {
        Ok(mut connection) => sqlx::query_scalar::<_, i32>("select 1")
            .fetch_one(&mut connection)
            .await
            .is_ok_and(|one| one == 1),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_throwaway_cluster_starts_accepts_a_connection_and_stops_without_a_trace() {
    let cluster = start().await;
    let url = cluster.url().to_owned();
    let postmaster = cluster.postmaster_pid().unwrap();
    assert!(accepts(&url).await);

    cluster.stop().unwrap();
    assert!(
        !is_running(postmaster),
        "postmaster {postmaster} outlived stop"
    );
    assert!(!accepts(&url).await);
}

#[tokio::test]
async fn dropping_a_cluster_stops_it_too() {
    let cluster = start().await;
    let postmaster = cluster.postmaster_pid().unwrap();
    drop(cluster);
    assert!(
        !is_running(postmaster),
        "postmaster {postmaster} outlived drop"
    );
}

#[test]
fn a_given_database_url_is_used_and_nothing_is_started() {
    let given = "postgres://someone@192.0.2.1:1/elsewhere";
    let output = Command::new(XTASK)
        .args(["with-db", "--", "sh", "-c", "printf %s \"$DATABASE_URL\""])
        .env("DATABASE_URL", given)
        // Had xtask looked for binaries, this would have failed it.
        .env("PG_BIN", "/nonexistent")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), given);
}

#[test]
fn no_binaries_and_no_database_url_is_one_clear_line_and_exit_2() {
    let output = Command::new(XTASK)
        .args(["with-db", "--", "true"])
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("XTASK_PG_VERSIONED_ROOT", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    for hint in [
        "DATABASE_URL",
        "postgresql",
        "docker compose up -d postgres",
    ] {
        assert!(stderr.contains(hint), "missing {hint:?} in {stderr}");
    }
}

#[tokio::test]
async fn ctrl_c_stops_the_command_and_its_cluster() {
    let mut xtask = tokio::process::Command::new(XTASK)
        .args([
            "with-db",
            "--",
            "sh",
            "-c",
            "psql \"$DATABASE_URL\" -tAc 'select pg_backend_pid()' >/dev/null; echo \"$DATABASE_URL\"; exec sleep 60",
        ])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(xtask.stdout.take().unwrap());
    let mut url = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        use tokio::io::AsyncBufReadExt;
        stdout.read_line(&mut url).await.unwrap();
    })
    .await
    .expect("the command never started");
    let url = url.trim();
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    let postmaster: i32 =
        sqlx::query_scalar("select pid from pg_stat_activity where backend_type = 'checkpointer'")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    drop(connection);

    kill(Pid::from_raw(xtask.id().unwrap() as i32), Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), xtask.wait())
        .await
        .expect("xtask did not stop on SIGINT")
        .unwrap();
    assert_eq!(status.code(), Some(130), "the command's own status");
    assert!(!accepts(url).await, "the cluster still accepts connections");
    assert!(
        !is_running(Pid::from_raw(postmaster)),
        "a server process outlived xtask"
    );
}
