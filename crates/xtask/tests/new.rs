//! The generators in a scratch copy of the workspace, as a developer runs
//! them, and the result built and tested: every other test still passes,
//! the new kind is registered and routed, and the two stubs fail until they
//! are written. So a change to the files the generators edit cannot leave
//! them writing code that no longer compiles.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use xtask::workspace;

/// The tests that must fail, and only they: the stubs the generators wrote
/// (sorted).
const STUBS: [&str; 2] = [
    "get_receipt_answers",
    "handlers::refund_order::tests::refund_order_completes_with_its_effect_once",
];

#[test]
fn generated_job_and_route_compile_register_and_fail_until_written() {
    let scratch = tempfile::tempdir().unwrap();
    copy_workspace(workspace::root(), scratch.path());
    let target = scratch.path().join("target");
    seed_target_dir(&workspace::target_dir(), &target);

    let job = xtask_new(scratch.path(), &["job", "refund_order"]);
    for line in [
        "crates/domain/src/refund_order.rs",
        "crates/worker/src/handlers/refund_order.rs",
        "JobKind::RefundOrder => Registered::new(RefundOrderHandler),",
    ] {
        assert!(job.contains(line), "{line} missing from:\n{job}");
    }
    let route = xtask_new(scratch.path(), &["route", "GET", "/v1/orders/{id}/receipt"]);
    for line in [
        "crates/api/src/routes/receipt.rs",
        ".routes(routes!(receipt::get_receipt))",
    ] {
        assert!(route.contains(line), "{line} missing from:\n{route}");
    }
    let again = run(Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["new", "job", "refund_order"])
        .current_dir(scratch.path()));
    assert!(
        !again.status.success(),
        "a second `refund_order` is refused"
    );

    let fmt = run(cargo(scratch.path(), &target).args(["fmt", "--all", "--check"]));
    assert!(fmt.status.success(), "{}", text(&fmt));
    let tests = run(cargo(scratch.path(), &target).args([
        "test",
        "-p",
        "domain",
        "-p",
        "worker",
        "-p",
        "api",
        "--lib",
        "--test",
        "openapi",
        "--test",
        "receipt",
        "--no-fail-fast",
    ]));
    let output = text(&tests);
    let failed: BTreeSet<&str> = output
        .lines()
        .filter_map(|line| line.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
        .collect();
    assert_eq!(failed, BTreeSet::from(STUBS), "{output}");
    for passed in [
        "handlers::tests::every_declared_kind_is_claimed_by_its_own_handler",
        "every_annotated_handler_is_routed",
        "every_served_route_and_method_is_in_the_document_and_every_documented_one_is_served",
    ] {
        assert!(
            output.contains(&format!("test {passed} ... ok")),
            "{passed} did not pass:\n{output}"
        );
    }
}

fn xtask_new(root: &Path, args: &[&str]) -> String {
    let output = run(Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("new")
        .args(args)
        .current_dir(root));
    assert!(output.status.success(), "{}", text(&output));
    text(&output)
}

/// The files git knows, as a fresh clone with the working tree's changes.
fn copy_workspace(from: &Path, to: &Path) {
    let listed = run(Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(from));
    assert!(listed.status.success(), "{}", text(&listed));
    for file in listed.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let file = Path::new(std::str::from_utf8(file).unwrap());
        let source = from.join(file);
        // Listed but deleted in the working tree.
        if !source.exists() {
            continue;
        }
        let dest = to.join(file);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&source, &dest).unwrap();
    }
}

/// The workspace's own build of the dependencies, so only the workspace's
/// crates compile again: their paths differ, so their artifacts get names
/// of their own and never overwrite the originals. The dependencies'
/// artifacts are hard links (gigabytes); their fingerprints and build
/// script outputs are copies, with their times, since cargo may rewrite
/// those.
fn seed_target_dir(from: &Path, to: &Path) {
    let debug = to.join("debug");
    std::fs::create_dir_all(&debug).unwrap();
    for (dir, link) in [("deps", true), ("build", false), (".fingerprint", false)] {
        let source = from.join("debug").join(dir);
        if !source.exists() {
            continue;
        }
        let flags = if link { "-al" } else { "-a" };
        let copied = run(Command::new("cp").arg(flags).arg(&source).arg(&debug));
        assert!(copied.status.success(), "{}", text(&copied));
    }
}

fn cargo(root: &Path, target: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    workspace::forget_cargo_run_env(&mut command);
    command.current_dir(root).env("CARGO_TARGET_DIR", target);
    command
}

fn run(command: &mut Command) -> std::process::Output {
    command
        .output()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"))
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
