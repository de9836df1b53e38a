//! The load the fault tests put on the api while they break its database,
//! and what they check afterwards.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Outcome, send};

/// One `/readyz` probe: when it was sent, its status (`None` without an
/// answer), and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub sent: Duration,
    pub status: Option<u16>,
    pub took: Duration,
}

/// Eight clients creating orders, each with its own Idempotency-Key as a
/// careful client sends, and reading the last one back, then pausing for
/// `pace`; and a `/readyz` probe every 100 ms, with the kubelet's 1 s
/// timeout.
pub struct Load {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    probes: Arc<Mutex<Vec<Probe>>>,
}

/// What the load saw.
pub struct Seen {
    pub outcomes: Vec<Outcome>,
    /// The ids of the orders answered 201.
    pub acknowledged: Vec<String>,
    pub probes: Vec<Probe>,
}

impl Load {
    pub fn start(
        base: &str,
        readyz: &str,
        t0: Instant,
        client_timeout: Duration,
        pace: Duration,
    ) -> Self {
        let load = Self {
            stop: CancellationToken::new(),
            tasks: Vec::new(),
            outcomes: Arc::default(),
            acknowledged: Arc::default(),
            probes: Arc::default(),
        };
        let mut tasks: Vec<JoinHandle<()>> = (0..8)
            .map(|client_no| {
                let (stop, outcomes, acknowledged, base) = (
                    load.stop.clone(),
                    load.outcomes.clone(),
                    load.acknowledged.clone(),
                    base.to_owned(),
                );
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .timeout(client_timeout)
                        .build()
                        .unwrap();
                    let mut last: Option<String> = None;
                    let mut n = 0u64;
                    while !stop.is_cancelled() {
                        n += 1;
                        let body = json!({"customer_id": format!("c-{client_no}-{n}"), "items": [{"sku": "s", "qty": 1}]});
                        let create = client
                            .post(format!("{base}/v1/orders"))
                            .header("Idempotency-Key", format!("load-{client_no}-{n}"))
                            .json(&body);
                        let (outcome, order) = send(create, t0).await;
                        if outcome.status == Some(201) {
                            let id = order.unwrap()["id"].as_str().unwrap().to_owned();
                            acknowledged.lock().unwrap().push(id.clone());
                            last = Some(id);
                        }
                        outcomes.lock().unwrap().push(outcome);
                        if let Some(id) = &last {
                            let (outcome, _) = send(client.get(format!("{base}/v1/orders/{id}")), t0).await;
                            outcomes.lock().unwrap().push(outcome);
                        }
                        tokio::time::sleep(pace).await;
                    }
                })
            })
            .collect();
        let (stop, probes, readyz) = (load.stop.clone(), load.probes.clone(), readyz.to_owned());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .unwrap();
            while !stop.is_cancelled() {
                let sent = t0.elapsed();
                let status = client
                    .get(&readyz)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                let took = t0.elapsed() - sent;
                probes.lock().unwrap().push(Probe { sent, status, took });
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
        Self { tasks, ..load }
    }

    pub async fn stop(self) -> Seen {
        self.stop.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
        Seen {
            outcomes: self.outcomes.lock().unwrap().clone(),
            acknowledged: self.acknowledged.lock().unwrap().clone(),
            probes: self.probes.lock().unwrap().clone(),
        }
    }
}

impl Seen {
    /// Every `/readyz` probe sent in `[from, until)` got 503 within the
    /// kubelet's 1 s timeout, and there was at least one.
    pub fn assert_unready(&self, from: Duration, until: Duration) {
        let during: Vec<_> = self
            .probes
            .iter()
            .filter(|probe| probe.sent >= from && probe.sent < until)
            .collect();
        assert!(
            !during.is_empty(),
            "no probe between {from:?} and {until:?}"
        );
        for probe in during {
            assert_eq!(
                probe.status,
                Some(503),
                "readyz while the database was out of reach: {probe:?}"
            );
            assert!(
                probe.took < Duration::from_secs(1),
                "readyz too slow: {probe:?}"
            );
        }
    }
}

/// Waits until every acknowledged order is fulfilled, within `within`,
/// then asserts that none was fulfilled more than once.
pub async fn assert_fulfilled_exactly_once(
    pool: &PgPool,
    acknowledged: &[String],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let unfulfilled: i64 = sqlx::query_scalar(
            "select count(*) from orders where id::text = any($1) and status <> 'fulfilled'",
        )
        .bind(acknowledged)
        .fetch_one(pool)
        .await
        .unwrap();
        if unfulfilled == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{unfulfilled} acknowledged orders never fulfilled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let doubled: i64 = sqlx::query_scalar("select count(*) from orders where fulfil_count > 1")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(doubled, 0, "orders fulfilled more than once");
}
