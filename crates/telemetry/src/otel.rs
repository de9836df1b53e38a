//! OpenTelemetry traces and metrics: one instrumentation API, two ways out.
//!
//! Every instrument is an OpenTelemetry one. Prometheus reads them through
//! `opentelemetry-prometheus` on `/metrics`; when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set they are also pushed over OTLP/HTTP
//! (protobuf), which is the only way increments made after the last scrape
//! survive a shutdown. The exporters read the standard `OTEL_*` variables
//! themselves (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_EXPORTER_OTLP_*`, `OTEL_METRIC_EXPORT_INTERVAL`).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error("OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("cannot build the Prometheus exporter: {0}")]
    Prometheus(String),
}

/// The providers, kept so the flush phase can drain them.
#[derive(Debug, Clone)]
pub struct Otel {
    pub(crate) meters: SdkMeterProvider,
    pub(crate) tracers: Option<SdkTracerProvider>,
    pub(crate) registry: prometheus::Registry,
}

impl Otel {
    /// Builds the providers and installs them globally. `service_name` is
    /// used unless `OTEL_SERVICE_NAME` says otherwise.
    pub fn install(service_name: &str) -> Result<(Self, Option<SdkTracer>), OtelError> {
        let resource = resource(service_name);
        let registry = prometheus::Registry::new();
        let prometheus = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|e| OtelError::Prometheus(e.to_string()))?;
        let mut meters = SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_reader(prometheus);
        let mut tracers = None;
        if exporting() {
            let metric_exporter = MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build()
                .map_err(|e| OtelError::Exporter(e.to_string()))?;
            meters = meters.with_reader(PeriodicReader::builder(metric_exporter).build());
            let span_exporter = SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build()
                .map_err(|e| OtelError::Exporter(e.to_string()))?;
            tracers = Some(
                SdkTracerProvider::builder()
                    .with_resource(resource)
                    .with_batch_exporter(span_exporter)
                    .build(),
            );
        }
        let meters = meters.build();
        opentelemetry::global::set_meter_provider(meters.clone());
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let tracer = tracers.as_ref().map(|provider| {
            opentelemetry::global::set_tracer_provider(provider.clone());
            provider.tracer(service_name.to_owned())
        });
        Ok((
            Self {
                meters,
                tracers,
                registry,
            },
            tracer,
        ))
    }

    /// The Prometheus text exposition of every instrument.
    pub fn prometheus_text(&self) -> String {
        use prometheus::Encoder;
        let mut text = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }
}

/// Nothing is exported, and nothing fails, without an endpoint.
fn exporting() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ]
    .iter()
    .any(|key| std::env::var(key).is_ok_and(|value| !value.is_empty()))
}

fn resource(service_name: &str) -> Resource {
    let builder = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder.with_service_name(service_name.to_owned()).build()
    }
}
