//! OTLP/HTTP export, set up as the reference's `configure_telemetry`.

use std::collections::HashMap;

use opentelemetry::global;
use opentelemetry_otlp::{
    MetricExporter, Protocol, SpanExporter, WithExportConfig, WithHttpConfig,
};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use super::{otel, TELEMETRY_API_KEY_HEADER, TELEMETRY_SERVICE_NAME};
use crate::TelemetryOptions;

/// The environment variable read when the options name no endpoint.
const ENDPOINT_VARIABLE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The providers made global by [`configure`]; shut down when dropped.
pub(super) struct Providers {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
}

impl Drop for Providers {
    fn drop(&mut self) {
        // Later spans and measurements go nowhere instead of to a provider
        // that is shut down (which would log about each of them).
        global::set_tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new());
        global::set_meter_provider(opentelemetry::metrics::noop::NoopMeterProvider::new());
        otel::reset_instruments();
        if let Err(error) = self.tracer.shutdown() {
            tracing::warn!(%error, "telemetry: cannot flush the last spans");
        }
        if let Err(error) = self.meter.shutdown() {
            tracing::warn!(%error, "telemetry: cannot flush the last metrics");
        }
        tracing::debug!("telemetry export shut down");
    }
}

fn endpoint(options: &TelemetryOptions) -> Option<String> {
    let usable = |e: &String| !e.trim().is_empty();
    options
        .endpoint
        .clone()
        .filter(usable)
        .or_else(|| std::env::var(ENDPOINT_VARIABLE).ok().filter(usable))
        .map(|e| e.trim().trim_end_matches('/').to_owned())
}

/// Builds the exporters and providers and makes them global; `None`, with a
/// log line saying why, when that is not possible.
pub(super) fn configure(options: &TelemetryOptions) -> Option<Providers> {
    let Some(endpoint) = endpoint(options) else {
        tracing::warn!(
            "telemetry is enabled but no endpoint is set (TelemetryOptions::endpoint or \
             {ENDPOINT_VARIABLE}); nothing is exported"
        );
        return None;
    };
    let mut headers = HashMap::new();
    if !options.api_key.is_empty() {
        if options.api_key.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            tracing::warn!(
                "telemetry api key has characters an HTTP header cannot carry; nothing is exported"
            );
            return None;
        }
        headers.insert(TELEMETRY_API_KEY_HEADER.to_owned(), options.api_key.clone());
    }
    let traces_url = format!("{endpoint}/v1/traces");
    let metrics_url = format!("{endpoint}/v1/metrics");
    let spans = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(&traces_url)
        .with_headers(headers.clone())
        .build();
    let metrics = MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(&metrics_url)
        .with_headers(headers)
        .build();
    let (spans, metrics) = match (spans, metrics) {
        (Ok(spans), Ok(metrics)) => (spans, metrics),
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%endpoint, %error, "cannot set up telemetry export; nothing is exported");
            return None;
        }
    };

    let resource = Resource::builder()
        .with_service_name(TELEMETRY_SERVICE_NAME)
        .build();
    let tracer = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(spans)
        .build();
    let meter = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(PeriodicReader::builder(metrics).build())
        .build();
    global::set_tracer_provider(tracer.clone());
    global::set_meter_provider(meter.clone());
    otel::reset_instruments();
    tracing::info!(
        traces = %traces_url,
        metrics = %metrics_url,
        api_key = !options.api_key.is_empty(),
        "telemetry export configured"
    );
    Some(Providers { tracer, meter })
}

#[cfg(test)]
mod tests {
    use super::{endpoint, ENDPOINT_VARIABLE};
    use crate::TelemetryOptions;

    /// The options' endpoint wins; a blank one falls back to the variable.
    /// (The only test of this crate's unit tests that touches the variable.)
    #[test]
    fn the_options_endpoint_wins_over_the_environment_variable() {
        std::env::set_var(ENDPOINT_VARIABLE, "http://from-the-environment:4318/");
        let mut options = TelemetryOptions {
            endpoint: Some(" http://from-the-options:4318/ ".into()),
            ..TelemetryOptions::default()
        };
        assert_eq!(
            endpoint(&options).as_deref(),
            Some("http://from-the-options:4318")
        );
        options.endpoint = Some("  ".into());
        assert_eq!(
            endpoint(&options).as_deref(),
            Some("http://from-the-environment:4318")
        );
        options.endpoint = None;
        assert_eq!(
            endpoint(&options).as_deref(),
            Some("http://from-the-environment:4318")
        );
        std::env::remove_var(ENDPOINT_VARIABLE);
        assert_eq!(endpoint(&options), None);
    }
}
