//! An OTLP/HTTP collector for tests: it decodes what a real service process
//! exports (protobuf, as the services send it) and keeps it for asserts.
//! Also a collector that accepts connections and never answers, to prove a
//! dead collector cannot hold a process past its deadline.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use prost::Message;
use tokio::net::TcpListener;

#[derive(Debug, Default)]
struct Received {
    metrics: Vec<ExportMetricsServiceRequest>,
    traces: Vec<ExportTraceServiceRequest>,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    /// For `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    received: Arc<Mutex<Received>>,
}

/// A span as received: its name, hex trace id, string attributes and status.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    pub trace_id: String,
    pub attributes: Vec<(String, String)>,
    /// OTLP's status code: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
}

impl Receiver {
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/metrics", post(metrics))
            .route("/v1/traces", post(traces))
            .with_state(received.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            endpoint: format!("http://{addr}"),
            received,
        }
    }

    /// A sum's total over all its data points, as of the latest export
    /// that carried it (exports are cumulative).
    pub fn counter_total(&self, name: &str) -> Option<f64> {
        let points = self.latest(name, |data| match data {
            Data::Sum(sum) => sum
                .data_points
                .iter()
                .map(|point| match point.value {
                    Some(Value::AsInt(v)) => v as f64,
                    Some(Value::AsDouble(v)) => v,
                    None => 0.0,
                })
                .collect(),
            _ => Vec::new(),
        });
        (!points.is_empty()).then(|| points.iter().sum())
    }

    /// A histogram's total count of recordings, as of the latest export.
    pub fn histogram_count(&self, name: &str) -> Option<u64> {
        let counts = self.latest(name, |data| match data {
            Data::Histogram(histogram) => histogram.data_points.iter().map(|p| p.count).collect(),
            _ => Vec::new(),
        });
        (!counts.is_empty()).then(|| counts.iter().sum())
    }

    /// Like [`Self::histogram_count`], over the data points whose attribute
    /// `key` is `value` (a string, or an integer written as one), so that a
    /// test can count one route or status among others.
    pub fn histogram_count_where(&self, name: &str, key: &str, value: &str) -> Option<u64> {
        let counts = self.latest(name, |data| match data {
            Data::Histogram(histogram) => histogram
                .data_points
                .iter()
                .filter(|p| has_attribute(&p.attributes, key, value))
                .map(|p| p.count)
                .collect(),
            _ => Vec::new(),
        });
        (!counts.is_empty()).then(|| counts.iter().sum())
    }

    /// `points` of every metric called `name` in the latest export that
    /// has any.
    fn latest<T>(&self, name: &str, points: impl Fn(&Data) -> Vec<T>) -> Vec<T> {
        let received = self.received.lock().unwrap();
        received
            .metrics
            .iter()
            .rev()
            .map(|export| {
                export
                    .resource_metrics
                    .iter()
                    .flat_map(|r| &r.scope_metrics)
                    .flat_map(|s| &s.metrics)
                    .filter(|m| m.name == name)
                    .filter_map(|m| m.data.as_ref())
                    .flat_map(&points)
                    .collect::<Vec<T>>()
            })
            .find(|found| !found.is_empty())
            .unwrap_or_default()
    }

    pub fn metric_exports(&self) -> usize {
        self.received.lock().unwrap().metrics.len()
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let received = self.received.lock().unwrap();
        received
            .traces
            .iter()
            .flat_map(|export| &export.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|span| ReceivedSpan {
                name: span.name.clone(),
                status_code: span.status.as_ref().map_or(0, |status| status.code),
                trace_id: span.trace_id.iter().map(|b| format!("{b:02x}")).collect(),
                attributes: span
                    .attributes
                    .iter()
                    .map(|kv| {
                        let value = kv
                            .value
                            .as_ref()
                            .and_then(|v| v.value.as_ref())
                            .map(|v| format!("{v:?}"))
                            .unwrap_or_default();
                        (kv.key.clone(), value)
                    })
                    .collect(),
            })
            .collect()
    }
}

fn has_attribute(attributes: &[KeyValue], key: &str, value: &str) -> bool {
    attributes.iter().any(|kv| {
        kv.key == key
            && match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s == value,
                Some(AnyValue::IntValue(i)) => i.to_string() == value,
                _ => false,
            }
    })
}

async fn metrics(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> &'static str {
    if let Ok(export) = ExportMetricsServiceRequest::decode(body) {
        received.lock().unwrap().metrics.push(export);
    }
    ""
}

async fn traces(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> &'static str {
    if let Ok(export) = ExportTraceServiceRequest::decode(body) {
        received.lock().unwrap().traces.push(export);
    }
    ""
}

/// Accepts connections, reads nothing, answers nothing, closes nothing.
pub async fn dead_collector() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}
