//! How long an idle service takes from SIGTERM to exit with
//! `SHUTDOWN_DRAIN_DELAY=0`: the coordinator's own overhead, which every
//! rolling restart pays once per pod. Median of N runs, side by side for
//! each binary given.
//!
//! ```text
//! cargo build --release -p service -p api -p worker --bins --examples
//! DATABASE_URL=postgres://… target/release/examples/idle_shutdown 20 shutdown-probe worker api
//! ```

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use testkit::{ANY_PORT, Service};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .map_or(20, |n| n.parse().expect("runs: a number"));
    let binaries: Vec<String> = args.collect();
    let bin_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let database_url = std::env::var("DATABASE_URL").unwrap_or_default();

    let mut samples: Vec<(String, Vec<Duration>)> =
        binaries.iter().map(|b| (b.clone(), Vec::new())).collect();
    // Interleaved, so a noisy moment on the machine hits every binary alike.
    for _ in 0..runs {
        for (binary, times) in &mut samples {
            let mut service = Service::spawn(
                bin_dir.join(binary.as_str()),
                &[
                    ("DATABASE_URL", database_url.clone()),
                    ("LISTEN_ADDR", ANY_PORT.to_owned()),
                    ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
                    ("SHUTDOWN_DRAIN_DELAY", "0s".into()),
                    ("RUST_LOG", "info".into()),
                ],
            );
            service
                .wait_for("ready", Duration::from_secs(10), |event| {
                    event["message"]
                        .as_str()
                        .is_some_and(|m| m.ends_with("ready"))
                })
                .await;
            let signalled = Instant::now();
            service.signal(Signal::SIGTERM);
            let status = service.wait_exit(Duration::from_secs(30)).await;
            times.push(signalled.elapsed());
            assert!(status.success(), "{binary} exited {status}");
        }
    }
    println!("| binary | runs | median | min | max |\n|---|---|---|---|---|");
    for (binary, mut times) in samples {
        times.sort();
        println!(
            "| {binary} | {runs} | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(times[times.len() / 2]),
            ms(times[0]),
            ms(times[times.len() - 1])
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
