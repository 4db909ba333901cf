//! OpenTelemetry traces and metrics, behind the `telemetry` cargo feature.
//!
//! The service calls the hooks below unconditionally. Without the feature
//! they are empty inline functions over zero-sized types (`noop`), and no
//! OpenTelemetry crate is compiled. With it, `otel` records spans and
//! metrics through the *global* providers of `opentelemetry::global`, so an
//! app may install its own providers instead of calling
//! `configure_telemetry` (`export` sets up OTLP/HTTP export as the
//! reference does).
//!
//! Hooks, in the order a request meets them: `request_started` (a guard
//! that makes the request's span current on the command thread),
//! `pending_accepted` (from inside the delegate, so the pending span is a
//! child of the request span), `request_answered` or `malformed_request`;
//! later, on the publisher thread, `message_published`, `heartbeat_sent`
//! and `pending_completed`. `service_started` registers the gauges, read
//! through a closure the service hands over.
//!
//! A leaf: it records what it is given (wire types, durations, readings)
//! and knows nothing of the service's internals.

#[cfg(feature = "telemetry")]
mod export;
#[cfg(not(feature = "telemetry"))]
mod noop;
#[cfg(feature = "telemetry")]
mod otel;

#[cfg(not(feature = "telemetry"))]
pub(crate) use noop::*;
#[cfg(feature = "telemetry")]
pub(crate) use otel::*;

/// The `service.name` of the exported resource, as in the reference.
pub const TELEMETRY_SERVICE_NAME: &str = "auto-trainer";

/// The HTTP header that carries [`TelemetryOptions::api_key`] with every
/// export. Collectors that expect another header (or `Authorization`) can be
/// given it through `OTEL_EXPORTER_OTLP_HEADERS` instead.
pub const TELEMETRY_API_KEY_HEADER: &str = "x-api-key";

/// Options of OpenTelemetry export (used with the `telemetry` feature).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TelemetryOptions {
    /// Whether to export at all.
    pub enable: bool,
    /// OTLP/HTTP endpoint; when `None`, `OTEL_EXPORTER_OTLP_ENDPOINT` is used.
    pub endpoint: Option<String>,
    /// Sent as a header with every export when not empty.
    pub api_key: String,
}

/// The service's gauges at one moment, read when a metric reader asks.
#[cfg_attr(not(feature = "telemetry"), allow(dead_code))]
pub(crate) struct ServiceGauges {
    pub queue_depth: u64,
    pub dropped: u64,
    pub rejected_critical: u64,
    pub pending_open: u64,
}

/// Keeps telemetry export running; flushes and shuts it down when dropped.
///
/// Returned by [`configure_telemetry`]. Keep it alive as long as the app
/// runs (typically in `main`) and drop it after stopping the service, so the
/// last spans and metrics are sent.
#[must_use = "export stops when the guard is dropped"]
pub struct TelemetryGuard {
    #[cfg(feature = "telemetry")]
    _providers: export::Providers,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard").finish_non_exhaustive()
    }
}

/// Sets up OpenTelemetry export as the reference's `configure_telemetry`:
/// resource `service.name` [`TELEMETRY_SERVICE_NAME`], traces to
/// `{endpoint}/v1/traces` and metrics to `{endpoint}/v1/metrics` over
/// OTLP/HTTP with protobuf bodies, [`TelemetryOptions::api_key`] (when not
/// empty) in the [`TELEMETRY_API_KEY_HEADER`] header. The endpoint is
/// [`TelemetryOptions::endpoint`], else the `OTEL_EXPORTER_OTLP_ENDPOINT`
/// environment variable. Spans leave in batches from a background thread,
/// metrics every 60 s (`OTEL_METRIC_EXPORT_INTERVAL` in milliseconds changes
/// that); no async runtime is needed.
///
/// The providers become the global ones (`opentelemetry::global`), which is
/// where the service records. Call this before starting the service.
///
/// Never fails the app: when telemetry is disabled, the endpoint is missing
/// or invalid, or the crate was built without the `telemetry` feature, it
/// logs why (a `tracing` event) and returns `None`; nothing is exported.
///
/// ```
/// use auto_trainer_api::{configure_telemetry, TelemetryOptions};
///
/// // Disabled by default: nothing is set up.
/// assert!(configure_telemetry(&TelemetryOptions::default()).is_none());
/// ```
pub fn configure_telemetry(options: &TelemetryOptions) -> Option<TelemetryGuard> {
    if !options.enable {
        tracing::debug!("telemetry disabled in the options; nothing is exported");
        return None;
    }
    #[cfg(feature = "telemetry")]
    {
        export::configure(options).map(|providers| TelemetryGuard {
            _providers: providers,
        })
    }
    #[cfg(not(feature = "telemetry"))]
    {
        tracing::warn!(
            "telemetry is enabled in the options, but auto-trainer-api was built without its \
             `telemetry` feature; nothing is exported"
        );
        None
    }
}
