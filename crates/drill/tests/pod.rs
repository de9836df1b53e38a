//! How a pod's end is recorded: SIGKILLed is read from the exit status, not
//! from whether the kill was sent.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use drill::pod::{Pod, PodExit, PodIps, PodTemplate, Role, Termination};
use drill::timeline::Timeline;

/// Runs a shell pod that runs `setup` (e.g. a `trap`), then sleeps, and
/// stops it with a short grace period. The stop waits until `setup` has run:
/// a SIGTERM sent before a `trap` is in place would end the shell anyway.
async fn stop_after_grace(setup: &str) -> PodExit {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("pod.sh");
    let ready = dir.path().join("ready");
    let script = format!(
        "#!/bin/sh\n{setup}\n: > '{}'\nexec sleep 30\n",
        ready.display()
    );
    std::fs::write(&binary, script).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let template = PodTemplate {
        role: Role::Worker,
        binary,
        env: Vec::new(),
        log_dir: dir.path().to_owned(),
    };
    let pod = Pod::start(&template, "pod-1", PodIps::default().next(), "unused").unwrap();
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the pod never ran its setup"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let termination = Termination {
        pre_stop: Duration::ZERO,
        grace_period: Duration::from_millis(300),
    };
    let timeline = Timeline::new(Instant::now());
    pod.terminate(Instant::now(), termination, &timeline).await
}

#[tokio::test]
async fn a_pod_that_ignores_sigterm_is_sigkilled() {
    let exit = stop_after_grace("trap '' TERM").await;
    assert!(exit.sigkilled, "{exit:?}");
    assert_eq!(exit.signal, Some(9), "{exit:?}");
}

#[tokio::test]
async fn a_pod_that_dies_of_sigterm_is_not_counted_as_sigkilled() {
    let exit = stop_after_grace(":").await;
    assert!(!exit.sigkilled, "{exit:?}");
    assert_eq!(exit.signal, Some(15), "{exit:?}");
}
