//! The open-loop schedule: it keeps its rate whatever the requests do, and
//! late requests keep their due time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drill::load::schedule::OpenLoop;

#[test]
fn due_times_are_evenly_spaced_from_the_start() {
    let start = Instant::now();
    let schedule = OpenLoop {
        start,
        rate: 200.0,
        duration: Duration::from_secs(2),
        starve: Duration::ZERO,
    };
    assert_eq!(schedule.count(), 400);
    assert_eq!(schedule.intended(0), start);
    assert_eq!(schedule.intended(1), start + Duration::from_millis(5));
    assert_eq!(schedule.intended(399), start + Duration::from_millis(1995));
}

#[tokio::test]
async fn slow_answers_do_not_slow_the_schedule() {
    let schedule = OpenLoop {
        start: Instant::now(),
        rate: 100.0,
        duration: Duration::from_millis(500),
        starve: Duration::ZERO,
    };
    let answered = Arc::new(Mutex::new(0));
    let began = Instant::now();
    let mut requests = Vec::new();
    schedule
        .drive(|_, _| {
            let answered = answered.clone();
            // Each answer takes far longer than the gap between requests.
            requests.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                *answered.lock().unwrap() += 1;
            }));
        })
        .await;
    let all_sent_after = began.elapsed();
    assert_eq!(requests.len(), 50);
    assert!(
        all_sent_after < Duration::from_millis(700),
        "a closed loop would need 50 × 300 ms; took {all_sent_after:?}"
    );
    for request in requests {
        request.await.unwrap();
    }
    assert_eq!(*answered.lock().unwrap(), 50);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stalled_sender_keeps_the_due_times_so_the_stall_counts_as_latency() {
    let start = Instant::now();
    let schedule = OpenLoop {
        start,
        rate: 100.0,
        duration: Duration::from_millis(300),
        starve: Duration::ZERO,
    };
    let mut fired = Vec::new();
    schedule
        .drive(|i, due| {
            fired.push((i, due, Instant::now()));
            if i == 0 {
                // The drill itself stalls (a GC pause, a busy core).
                std::thread::sleep(Duration::from_millis(200));
            }
        })
        .await;
    assert_eq!(fired.len(), 30);
    let (_, due, sent) = fired[5];
    assert_eq!(due, start + Duration::from_millis(50));
    assert!(
        sent.duration_since(due) >= Duration::from_millis(140),
        "request 5 was sent late, and its latency must show it"
    );
    // After the stall the schedule catches up instead of shifting.
    let (_, due, sent) = fired[29];
    assert_eq!(due, start + Duration::from_millis(290));
    assert!(sent.duration_since(due) < Duration::from_millis(50));
}

#[tokio::test(flavor = "current_thread")]
async fn a_starved_schedule_sends_late_once_a_second() {
    let start = Instant::now();
    let schedule = OpenLoop {
        start,
        rate: 100.0,
        duration: Duration::from_millis(2500),
        starve: Duration::from_millis(300),
    };
    let mut lags = Vec::new();
    schedule.drive(|_, due| lags.push(due.elapsed())).await;
    assert_eq!(lags.len(), 250);
    // Each of the 3 stalls makes the requests due in the next 300 ms late;
    // about 24 of them by more than 50 ms.
    let late = lags
        .iter()
        .filter(|lag| **lag > Duration::from_millis(50))
        .count();
    assert!(late >= 60, "{late} requests sent more than 50 ms late");
    assert!(lags.iter().max().unwrap() >= &Duration::from_millis(250));
}
