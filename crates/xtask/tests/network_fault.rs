//! The services when the network between them and PostgreSQL goes silent
//! under load, for longer than a lease: a partition, through a TCP proxy
//! that passes no byte either way and closes nothing (`testkit::TcpProxy`).
//! PostgreSQL itself keeps running.

mod common;

use std::time::{Duration, SystemTime};

use testkit::{TcpProxy, TestDb, workspace_binary};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use common::{
    Load, QUICK_SHUTDOWN, SHORT_LEASE, assert_fulfilled_exactly_once, cluster, spawn, stop_cleanly,
    wait_ready,
};

/// The api's request timeout here: no request may wait longer for an answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// The workers' lease (SHORT_LEASE); the partition lasts longer.
const LEASE: Duration = Duration::from_secs(6);
const PARTITION: Duration = Duration::from_secs(9);
/// Stated bound: from the heal, every request sent after this succeeds.
const RECOVERY: Duration = Duration::from_secs(8);

#[tokio::test]
async fn a_silent_partition_longer_than_the_lease_costs_only_503s_and_loses_or_doubles_no_order() {
    let (Some(api_bin), Some(worker_bin)) = (workspace_binary("api"), workspace_binary("worker"))
    else {
        return;
    };
    let pg = cluster().await;
    let db = TestDb::on(pg.url()).await;
    let (proxy, proxied_url) = TcpProxy::in_front_of(&db.url).await;
    let through_proxy = [("DATABASE_URL", proxied_url.as_str())];
    let api_env = [
        ("DATABASE_ACQUIRE_TIMEOUT", "1s"),
        ("API_REQUEST_TIMEOUT", "3s"),
    ];
    let mut api = spawn(
        &api_bin,
        &db,
        &[through_proxy.as_slice(), &api_env, &QUICK_SHUTDOWN].concat(),
    );
    // Jobs of 4 s, so that many are mid-work when the link goes silent.
    let worker_env = [
        ("WORK_TIME", "4s"),
        ("WORKER_CONCURRENCY", "200"),
        ("DATABASE_MAX_CONNECTIONS", "20"),
    ];
    let mut worker = spawn(
        &worker_bin,
        &db,
        &[
            through_proxy.as_slice(),
            &worker_env,
            &SHORT_LEASE,
            &QUICK_SHUTDOWN,
        ]
        .concat(),
    );
    let (base, readyz) = wait_ready(&api, &worker).await;

    let t0 = Instant::now();
    let load = Load::start(
        &base,
        &readyz,
        t0,
        REQUEST_TIMEOUT + Duration::from_secs(5),
        Duration::from_millis(250),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.partition();
    let (partitioned, partitioned_at) = (t0.elapsed(), SystemTime::now());
    tokio::time::sleep(PARTITION).await;
    proxy.heal();
    let healed = t0.elapsed();
    tokio::time::sleep(RECOVERY + Duration::from_secs(4)).await;
    let seen = load.stop().await;

    assert!(api.exited().is_none(), "the api exited: {}", api.stderr());
    assert!(
        worker.exited().is_none(),
        "the worker exited: {}",
        worker.stderr()
    );

    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for outcome in seen
        .outcomes
        .iter()
        .filter(|o| o.sent >= partitioned && o.sent < healed)
    {
        let key = match (outcome.status, &outcome.error_code) {
            (Some(status), Some(code)) => format!("{status} {code}"),
            (Some(status), None) => status.to_string(),
            (None, _) => "no response".to_owned(),
        };
        *by_status.entry(key).or_default() += 1;
    }
    let first_success_after_heal = seen
        .outcomes
        .iter()
        .filter(|o| o.sent >= healed && matches!(o.status, Some(200 | 201)))
        .map(|o| o.sent - healed)
        .min();
    let slowest = seen.outcomes.iter().map(|o| o.took).max();
    eprintln!(
        "partition: {partitioned:?} to {healed:?}; requests sent meanwhile by answer: {by_status:?}; \
         first success {first_success_after_heal:?} after the heal; slowest answer {slowest:?}; \
         {} requests in all, {} orders acknowledged",
        seen.outcomes.len(),
        seen.acknowledged.len()
    );
    for outcome in &seen.outcomes {
        outcome.assert_success_or_retryable_503();
        assert!(
            outcome.took < REQUEST_TIMEOUT + Duration::from_secs(1),
            "answered past the request timeout: {outcome:?}"
        );
        if outcome.sent >= healed + RECOVERY {
            assert!(
                matches!(outcome.status, Some(200 | 201)),
                "still failing {RECOVERY:?} after the heal: {outcome:?}"
            );
        }
    }
    assert!(
        by_status.keys().any(|answer| answer.starts_with("503")),
        "the partition was seen: {by_status:?}"
    );

    // Unready within a second of the partition, every probe answered in
    // time, until the heal.
    seen.assert_unready(partitioned + Duration::from_secs(1), healed);

    // The worker cancelled its running jobs before their leases could
    // lapse: each lease was last renewed before the partition, so it ran
    // out no later than a lease after it.
    let lease_gone = partitioned_at + LEASE;
    let cancels: Vec<SystemTime> = worker
        .events()
        .iter()
        .filter(|event| {
            event["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("lease not renewed in time"))
        })
        .map(|event| {
            let at = OffsetDateTime::parse(event["timestamp"].as_str().unwrap(), &Rfc3339).unwrap();
            SystemTime::from(at)
        })
        .collect();
    assert!(!cancels.is_empty(), "no job was running at the partition");
    for cancelled in &cancels {
        assert!(
            *cancelled < lease_gone,
            "a job cancelled {:?} after its lease could have lapsed",
            cancelled.duration_since(lease_gone).unwrap_or_default()
        );
    }
    eprintln!(
        "partition: {} jobs cancelled, the last {:?} after the partition began",
        cancels.len(),
        cancels
            .iter()
            .max()
            .map(|last| last.duration_since(partitioned_at).unwrap_or_default())
    );

    assert_fulfilled_exactly_once(&db.pool, &seen.acknowledged, Duration::from_secs(60)).await;
    stop_cleanly(&mut [&mut api, &mut worker]).await;
}
