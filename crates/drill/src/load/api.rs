//! The requests the load sends: creates with an Idempotency-Key, which are
//! retried after a connection failure (and only then), and reads, which are
//! never retried.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::{Value, json};
use uuid::Uuid;

use super::classify;
use super::record::{Failure, Outcome};

/// Attempts per create: a first one and this many minus one retries.
const CREATE_ATTEMPTS: u8 = 3;
/// Pause before a retry, so it lands on a fresh connection.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct Api {
    pub http: reqwest::Client,
    /// `http://host:port`, no trailing slash.
    pub base: String,
    pub request_timeout: Duration,
}

/// The outcome of one logical request, retries included.
#[derive(Debug, Clone)]
pub struct Answer {
    pub result: Result<Uuid, Failure>,
    pub retries: u8,
}

impl Answer {
    pub fn outcome(&self) -> Outcome {
        self.result
            .as_ref()
            .map_or_else(|f| f.outcome, |_| Outcome::Ok)
    }
}

impl Api {
    /// The HTTP/1.1 keep-alive pool a production client would have.
    pub fn client(connections: usize) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(connections)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(2))
            .build()
    }

    /// `POST /v1/orders`. A connection failure means the order may or may
    /// not exist, so the retry reuses the key: the API then answers 200 with
    /// the same order instead of creating a second.
    pub async fn create(&self, key: &str, order: &Value) -> Answer {
        let mut retries = 0;
        loop {
            let result = self.try_create(key, order).await;
            match &result {
                Err(failure)
                    if failure.outcome.is_connection_failure() && retries + 1 < CREATE_ATTEMPTS =>
                {
                    retries += 1;
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                _ => return Answer { result, retries },
            }
        }
    }

    async fn try_create(&self, key: &str, order: &Value) -> Result<Uuid, Failure> {
        let response = self
            .http
            .post(format!("{}/v1/orders", self.base))
            .header("idempotency-key", key)
            .json(order)
            .timeout(self.request_timeout)
            .send()
            .await
            .map_err(|error| classify::error(&error))?;
        let status = classify::status(response.status());
        let body = response
            .bytes()
            .await
            .map_err(|error| classify::error(&error))?;
        status?;
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|order| order["id"].as_str()?.parse().ok())
            .ok_or_else(|| Failure::new(Outcome::Unexpected, "201 without an order id"))
    }

    /// `GET /v1/orders/{id}`: an acknowledged order must be there.
    pub async fn read(&self, order: Uuid) -> Answer {
        let result = async {
            let response = self
                .http
                .get(format!("{}/v1/orders/{order}", self.base))
                .timeout(self.request_timeout)
                .send()
                .await
                .map_err(|error| classify::error(&error))?;
            let status = classify::status(response.status());
            response
                .bytes()
                .await
                .map_err(|error| classify::error(&error))?;
            status.map(|()| order)
        }
        .await;
        Answer { result, retries: 0 }
    }

    /// Opens `GET /v1/orders/{id}/events`.
    pub async fn watch(&self, order: Uuid, within: Duration) -> Result<reqwest::Response, Failure> {
        let response = self
            .http
            .get(format!("{}/v1/orders/{order}/events", self.base))
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
            .timeout(within)
            .send()
            .await
            .map_err(|error| classify::error(&error))?;
        classify::status(response.status())?;
        Ok(response)
    }
}

/// A small, valid order; the customer and items vary so that the API's
/// request hash does too.
pub fn sample_order(i: u64) -> Value {
    json!({
        "customer_id": format!("drill-customer-{}", i % 97),
        "items": [{ "sku": format!("sku-{}", i % 13), "qty": 1 + i % 3 }],
    })
}

/// Latency from the due time, in µs.
pub fn since(due: Instant) -> u64 {
    u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX)
}
