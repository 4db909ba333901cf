//! End to end: `configure_telemetry` exports over OTLP/HTTP (protobuf) to a
//! receiver this test runs on 127.0.0.1, which decodes what arrives. Run
//! with `--features telemetry`.
//!
//! The providers and the environment are process-wide, so this is one test.

#![cfg(feature = "telemetry")]

use std::time::{Duration, Instant};

use auto_trainer_api::{
    configure_telemetry, ApiCommand, ApiCommandRequest, ApiCommandRequestResponse, ApiEvent,
    ApiEventKind, RequestContext, RpcOptions, RpcService, TelemetryOptions, ZeroMqRpcService,
    TELEMETRY_API_KEY_HEADER,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

const TIMEOUT: Duration = Duration::from_secs(15);
const API_KEY: &str = "s3cret-key";

#[path = "common/otlp.rs"]
mod otlp;

use otlp::{start_receiver, string_value};

#[test]
fn spans_and_metrics_reach_an_otlp_http_receiver() {
    // Disabled, or enabled without an endpoint: no export, and no failure.
    std::env::remove_var("OTEL_EXPORTER_OTLP_ENDPOINT");
    let mut options = TelemetryOptions::default();
    assert!(configure_telemetry(&options).is_none());
    options.enable = true;
    assert!(configure_telemetry(&options).is_none());
    options.endpoint = Some("not a url at all".into());
    assert!(configure_telemetry(&options).is_none());

    let (port, received) = start_receiver();
    // The endpoint from the environment, as the options name none
    // (TelemetryOptions::endpoint's documented fallback).
    options.endpoint = None;
    std::env::set_var(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://127.0.0.1:{port}/"),
    );
    options.api_key = API_KEY.into();
    let guard = configure_telemetry(&options).expect("telemetry configured");

    let service = ZeroMqRpcService::new(RpcOptions::loopback());
    // What the START's `complete` returned, for the test to check.
    let (completed_tx, completed) = std::sync::mpsc::channel();
    let completed_tx = std::sync::Mutex::new(completed_tx);
    service.set_delegate(
        move |request: ApiCommandRequest, context: &RequestContext| match request.command {
            ApiCommand::GetStatus => ApiCommandRequestResponse::success(),
            ApiCommand::StartAcquisition => {
                let done = context.accept_pending();
                let completed = completed_tx.lock().unwrap().clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    let _ = completed.send(done.complete(ApiCommandRequestResponse::success()));
                });
                ApiCommandRequestResponse::pending_with_notification()
            }
            _ => ApiCommandRequestResponse::unrecognized(),
        },
    );
    service.start().expect("start");

    let context = zmq::Context::new();
    let client = context.socket(zmq::REQ).unwrap();
    client.set_rcvtimeo(TIMEOUT.as_millis() as i32).unwrap();
    client.set_linger(0).unwrap();
    client
        .connect(&format!("tcp://127.0.0.1:{}", service.command_port()))
        .unwrap();
    for (command, nonce) in [(400, 11), (100, 12)] {
        client
            .send(
                format!(r#"{{"command": {command}, "nonce": {nonce}}}"#).as_bytes(),
                0,
            )
            .unwrap();
        client.recv_bytes(0).expect("a reply in time");
    }
    completed
        .recv_timeout(TIMEOUT)
        .expect("the START was completed")
        .expect("its result was queued");
    service
        .publish_event(ApiEvent::new(ApiEventKind::ApplicationLaunched, None))
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while !service.pending_commands().is_empty() || service.stats().published < 2 {
        assert!(
            Instant::now() < deadline,
            "the pending command never completed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    service.stop();
    drop(guard); // flushes both signals

    let mut span_names = Vec::new();
    let mut metric_names = Vec::new();
    let mut services = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while !(span_names
        .iter()
        .any(|n| n == "autotrainer.api/START_ACQUISITION pending")
        && metric_names.iter().any(|n| n == "auto_trainer.requests"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let request = received.recv_timeout(left).unwrap_or_else(|_| {
            panic!("missing exports; spans {span_names:?}, metrics {metric_names:?}")
        });
        assert_eq!(
            request
                .headers
                .get(TELEMETRY_API_KEY_HEADER)
                .map(String::as_str),
            Some(API_KEY),
            "api key header on {}",
            request.path
        );
        assert_eq!(
            request.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
        match request.path.as_str() {
            "/v1/traces" => {
                let export =
                    ExportTraceServiceRequest::decode(&request.body[..]).expect("OTLP traces");
                for resource in export.resource_spans {
                    if let Some(r) = &resource.resource {
                        services.extend(string_value(&r.attributes, "service.name"));
                    }
                    for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                        if span.name == "autotrainer.api/GET_STATUS" {
                            assert_eq!(
                                string_value(&span.attributes, "rpc.system").as_deref(),
                                Some("zeromq")
                            );
                            assert_eq!(
                                string_value(&span.attributes, "auto_trainer.result").as_deref(),
                                Some("SUCCESS")
                            );
                        }
                        span_names.push(span.name);
                    }
                }
            }
            "/v1/metrics" => {
                let export =
                    ExportMetricsServiceRequest::decode(&request.body[..]).expect("OTLP metrics");
                for resource in export.resource_metrics {
                    if let Some(r) = &resource.resource {
                        services.extend(string_value(&r.attributes, "service.name"));
                    }
                    for metric in resource.scope_metrics.into_iter().flat_map(|s| s.metrics) {
                        metric_names.push(metric.name);
                    }
                }
            }
            other => panic!("unexpected path {other}"),
        }
    }
    assert!(
        span_names.iter().any(|n| n == "autotrainer.api/GET_STATUS"),
        "{span_names:?}"
    );
    for name in [
        "auto_trainer.delegate.duration",
        "messaging.client.sent.messages",
        "auto_trainer.pending.open",
        "auto_trainer.queue.depth",
    ] {
        assert!(
            metric_names.iter().any(|n| n == name),
            "{name} not in {metric_names:?}"
        );
    }
    assert!(!services.is_empty());
    assert!(services.iter().all(|s| s == "auto-trainer"), "{services:?}");
}
