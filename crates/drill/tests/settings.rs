//! Bad settings stop the drill with one line naming the setting, exit 2,
//! before any pod starts.

use std::process::{Command, Output};

fn drill(args: &[&str], database_url: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drill"));
    command.args(args).env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.output().unwrap()
}

fn assert_bad_setting(output: &Output, setting: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(setting), "names {setting}: {stderr}");
}

const URL: Option<&str> = Some("postgres://postgres@127.0.0.1:1/none");

#[test]
fn a_missing_database_url_is_named() {
    assert_bad_setting(&drill(&["local"], None), "DATABASE_URL");
}

#[test]
fn a_zero_rate_is_named() {
    assert_bad_setting(&drill(&["local", "--rate", "0"], URL), "DRILL_RATE");
}

#[test]
fn a_bad_duration_is_named() {
    assert_bad_setting(
        &drill(&["local", "--duration", "soon"], URL),
        "DRILL_DURATION",
    );
}

#[test]
fn a_rollout_that_cannot_progress_is_refused() {
    let output = drill(
        &["local", "--max-surge", "0", "--max-unavailable", "0"],
        URL,
    );
    assert_bad_setting(&output, "DRILL_MAX_SURGE");
}

#[test]
fn an_upgrade_that_rolls_one_deployment_is_refused() {
    let output = drill(
        &[
            "local",
            "--roll",
            "api",
            "--upgrade-from-api-bin",
            "/bin/true",
            "--upgrade-from-worker-bin",
            "/bin/true",
        ],
        URL,
    );
    assert_bad_setting(&output, "DRILL_ROLL");
}

#[test]
fn a_generator_starved_for_a_second_or_more_is_refused() {
    assert_bad_setting(
        &drill(&["local", "--starve-generator", "1s"], URL),
        "DRILL_STARVE_GENERATOR",
    );
}

#[test]
fn an_external_target_must_be_a_url() {
    assert_bad_setting(
        &drill(&["load", "--target", "api:8080"], URL),
        "DRILL_TARGET",
    );
}

#[test]
fn a_missing_binary_is_named() {
    let out = tempfile::tempdir().unwrap();
    let output = drill(
        &[
            "local",
            "--api-bin",
            "/nonexistent/api",
            "--out",
            out.path().to_str().unwrap(),
        ],
        URL,
    );
    assert_bad_setting(&output, "DRILL_API_BIN");
}

#[test]
fn docs_drill_md_documents_every_setting_help_lists() {
    for command in ["local", "load"] {
        let missing = testkit::settings_missing_from_doc(
            env!("CARGO_BIN_EXE_drill"),
            &[command, "--help"],
            "docs/drill.md",
        );
        assert!(
            missing.is_empty(),
            "docs/drill.md lacks {missing:?} of `drill {command}`"
        );
    }
}
