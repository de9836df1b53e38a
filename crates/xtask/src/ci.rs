//! `cargo xtask ci`: what CI runs, in the order that fails fastest.

use crate::children::{Signals, run_forwarding};
use crate::workspace;

pub async fn run(signals: &mut Signals) -> anyhow::Result<u8> {
    let steps: [(&str, &[&str]); 2] = [
        ("fmt", &["fmt", "--all", "--check"]),
        (
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
    ];
    for (name, args) in steps {
        eprintln!("xtask ci: cargo {}", args.join(" "));
        let code = run_forwarding(name, workspace::cargo().args(args), signals).await?;
        if code != 0 {
            return Ok(code);
        }
    }
    eprintln!("xtask ci: tests");
    crate::test::run(&[], signals).await
}
