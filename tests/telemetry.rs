//! Spans and metrics of a realistic session against a real service, caught
//! by the SDK's in-memory exporters. Run with `--features telemetry`.
//!
//! The providers are process-global, so the whole session is one test.

#![cfg(feature = "telemetry")]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auto_trainer_api::{
    sign_frames, ApiCommand, ApiCommandRequest, ApiCommandRequestResponse, ApiEvent, ApiEventKind,
    KeyRing, RequestContext, RpcOptions, RpcService, SigningKey, ZeroMqRpcService,
};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{global, KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{json, Value as Json};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A raw REQ client, as an operator console.
struct Client {
    socket: zmq::Socket,
    _context: zmq::Context,
}

impl Client {
    fn connect(port: u16) -> Self {
        let context = zmq::Context::new();
        let socket = context.socket(zmq::REQ).expect("REQ socket");
        socket.set_rcvtimeo(TIMEOUT.as_millis() as i32).unwrap();
        socket.set_linger(0).unwrap();
        socket
            .connect(&format!("tcp://127.0.0.1:{port}"))
            .expect("connect");
        Self {
            socket,
            _context: context,
        }
    }

    fn send_raw(&self, bytes: &[u8]) -> Json {
        self.socket.send(bytes, 0).expect("send");
        let reply = self.socket.recv_bytes(0).expect("a reply in time");
        serde_json::from_slice(&reply).expect("JSON reply")
    }

    fn command(&self, command: i64, nonce: i64) -> Json {
        let request = json!({"command": command, "nonce": nonce, "data": null});
        self.send_raw(request.to_string().as_bytes())
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn string(span: &SpanData, key: &str) -> String {
    attribute(span, key)
        .unwrap_or_else(|| panic!("span {} has no {key}", span.name))
        .as_str()
        .into_owned()
}

fn int(span: &SpanData, key: &str) -> i64 {
    match attribute(span, key) {
        Some(Value::I64(v)) => *v,
        other => panic!("span {}: {key} = {other:?}", span.name),
    }
}

fn span_named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "spans named {name}: {:#?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

/// Data points of `name` as (attributes, value); a histogram's value is its count.
fn points(metrics: &[ResourceMetrics], name: &str) -> Vec<(Vec<KeyValue>, f64)> {
    let mut out = Vec::new();
    for metric in metrics
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .filter(|m| m.name() == name)
    {
        macro_rules! collect {
            ($data:expr) => {
                match $data {
                    MetricData::Sum(sum) => out.extend(
                        sum.data_points()
                            .map(|p| (p.attributes().cloned().collect(), p.value() as f64)),
                    ),
                    MetricData::Gauge(gauge) => out.extend(
                        gauge
                            .data_points()
                            .map(|p| (p.attributes().cloned().collect(), p.value() as f64)),
                    ),
                    MetricData::Histogram(histogram) => out.extend(
                        histogram
                            .data_points()
                            .map(|p| (p.attributes().cloned().collect(), p.count() as f64)),
                    ),
                    MetricData::ExponentialHistogram(_) => {}
                }
            };
        }
        match metric.data() {
            AggregatedMetrics::U64(data) => collect!(data),
            AggregatedMetrics::I64(data) => collect!(data),
            AggregatedMetrics::F64(data) => collect!(data),
        }
    }
    out
}

/// The value of the point of `name` whose attributes include all of `with`.
fn value(metrics: &[ResourceMetrics], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = points(metrics, name)
        .into_iter()
        .filter(|(attributes, _)| {
            with.iter().all(|(k, v)| {
                attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == *k && kv.value.as_str() == *v)
            })
        })
        .map(|(_, v)| v)
        .collect();
    assert!(matching.len() <= 1, "{name} {with:?}: {matching:?}");
    matching.first().copied()
}

#[test]
fn a_session_is_traced_and_measured() {
    let span_exporter = InMemorySpanExporter::default();
    let metric_exporter = InMemoryMetricExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(span_exporter.clone())
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metric_exporter.clone()).build())
        .build();
    global::set_tracer_provider(tracer_provider.clone());
    global::set_meter_provider(meter_provider.clone());

    let mut options = RpcOptions::loopback();
    options.identifier = "rig-telemetry".into();
    options.heartbeat_interval = Duration::from_millis(50);
    let service = ZeroMqRpcService::new(options);

    // START_ACQUISITION completes once the test says so.
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    service.set_delegate(
        move |request: ApiCommandRequest, context: &RequestContext| match request.command {
            ApiCommand::GetStatus => ApiCommandRequestResponse::success(),
            ApiCommand::StopAcquisition => ApiCommandRequestResponse::failed(7, "not acquiring"),
            ApiCommand::EmergencyStop => panic!("the pump is on fire"),
            ApiCommand::StartAcquisition => {
                let done = context.accept_pending();
                let released = released.clone();
                std::thread::spawn(move || {
                    let _ = released.lock().unwrap().recv_timeout(TIMEOUT);
                    done.complete(ApiCommandRequestResponse::success()).unwrap();
                });
                ApiCommandRequestResponse::pending_with_notification()
            }
            _ => ApiCommandRequestResponse::unrecognized(),
        },
    );
    service.start().expect("start");
    let client = Client::connect(service.command_port());

    assert_eq!(client.command(400, 1)["result"], 100);
    assert_eq!(client.command(110, 2)["result"], 400);
    assert_eq!(client.command(200, 3)["result"], 500);
    assert_eq!(client.command(12345, 4)["result"], 0);
    assert_eq!(client.send_raw(b"not json")["errorKind"], 1);
    assert_eq!(client.command(100, 5)["result"], 201);
    for _ in 0..3 {
        service
            .publish_event(ApiEvent::new(ApiEventKind::ApplicationLaunched, None))
            .unwrap();
    }
    wait_until("the events to go out", || service.stats().published >= 3);
    wait_until("a heartbeat", || service.stats().heartbeats_sent >= 1);

    // While START_ACQUISITION is pending.
    meter_provider.force_flush().unwrap();
    let metrics = metric_exporter.get_finished_metrics().unwrap();
    let tag = ("auto_trainer.identifier", "rig-telemetry");
    assert_eq!(
        value(&metrics, "auto_trainer.pending.open", &[tag]),
        Some(1.0)
    );
    assert!(value(&metrics, "auto_trainer.queue.depth", &[tag]).is_some());
    assert_eq!(
        value(
            &metrics,
            "auto_trainer.messages.dropped",
            &[tag, ("auto_trainer.message.class", "ordinary")]
        ),
        Some(0.0)
    );

    // A second service whose tiny queue drops messages: the gauges report
    // what its stats count.
    let mut tiny = RpcOptions::loopback();
    tiny.identifier = "rig-overflow".into();
    tiny.heartbeat_interval = Duration::from_secs(3600);
    tiny.queue_capacity = 1;
    let overflow = ZeroMqRpcService::new(tiny);
    overflow.start().expect("start the second service");
    let deadline = Instant::now() + TIMEOUT;
    while overflow.stats().dropped == 0 {
        assert!(Instant::now() < deadline, "the tiny queue never dropped");
        for _ in 0..100 {
            let _ =
                overflow.publish_bytes(auto_trainer_api::ApiTopic::PropertyChange, b"{}".to_vec());
        }
    }
    wait_until("the tiny queue to drain", || {
        overflow.stats().queue_depth == 0
    });
    let dropped = overflow.stats().dropped;
    metric_exporter.reset();
    meter_provider.force_flush().unwrap();
    let metrics = metric_exporter.get_finished_metrics().unwrap();
    let tag = ("auto_trainer.identifier", "rig-overflow");
    assert_eq!(
        value(
            &metrics,
            "auto_trainer.messages.dropped",
            &[tag, ("auto_trainer.message.class", "ordinary")]
        ),
        Some(dropped as f64)
    );
    assert_eq!(
        value(&metrics, "auto_trainer.queue.depth", &[tag]),
        Some(0.0)
    );
    overflow.stop();

    release.send(()).unwrap();
    wait_until("the pending command to complete", || {
        service.pending_commands().is_empty()
    });
    service.stop();

    // Spans.
    tracer_provider.force_flush().unwrap();
    let spans = span_exporter.get_finished_spans().unwrap();

    let status = span_named(&spans, "autotrainer.api/GET_STATUS");
    assert_eq!(status.span_kind, SpanKind::Server);
    assert_eq!(string(status, "rpc.system"), "zeromq");
    assert_eq!(string(status, "rpc.service"), "autotrainer.api");
    assert_eq!(string(status, "rpc.method"), "GET_STATUS");
    assert_eq!(int(status, "auto_trainer.command"), 400);
    assert_eq!(string(status, "auto_trainer.command.name"), "GET_STATUS");
    assert_eq!(int(status, "auto_trainer.nonce"), 1);
    assert_eq!(string(status, "auto_trainer.result"), "SUCCESS");
    assert_eq!(string(status, "auto_trainer.error_kind"), "NONE");
    assert_eq!(int(status, "auto_trainer.error_code"), 0);
    assert!(
        matches!(attribute(status, "auto_trainer.delegate.duration"), Some(Value::F64(s)) if *s > 0.0)
    );
    assert!(attribute(status, "error.type").is_none());
    assert_eq!(status.status, Status::Unset);

    let failed = span_named(&spans, "autotrainer.api/STOP_ACQUISITION");
    assert_eq!(string(failed, "auto_trainer.result"), "FAILED");
    assert_eq!(string(failed, "auto_trainer.error_kind"), "COMMAND_ERROR");
    assert_eq!(int(failed, "auto_trainer.error_code"), 7);
    assert_eq!(string(failed, "error.type"), "FAILED");
    assert_eq!(
        failed.status,
        Status::Unset,
        "an app-level failure is not a span error"
    );

    let panicked = span_named(&spans, "autotrainer.api/EMERGENCY_STOP");
    assert_eq!(string(panicked, "auto_trainer.result"), "EXCEPTION");
    assert_eq!(string(panicked, "error.type"), "EXCEPTION");
    assert_eq!(panicked.status, Status::error("the pump is on fire"));

    let unknown = span_named(&spans, "autotrainer.api/_OTHER");
    assert_eq!(string(unknown, "rpc.method"), "_OTHER");
    assert_eq!(int(unknown, "auto_trainer.command"), 12345);
    assert_eq!(string(unknown, "auto_trainer.command.name"), "12345");

    let malformed = span_named(&spans, "autotrainer.api");
    assert_eq!(string(malformed, "error.type"), "malformed_request");
    assert!(matches!(&malformed.status, Status::Error { description } if !description.is_empty()));

    let start = span_named(&spans, "autotrainer.api/START_ACQUISITION");
    assert_eq!(
        string(start, "auto_trainer.result"),
        "PENDING_WITH_NOTIFICATION"
    );
    let pending = span_named(&spans, "autotrainer.api/START_ACQUISITION pending");
    assert_eq!(pending.span_kind, SpanKind::Internal);
    assert_eq!(
        pending.span_context.trace_id(),
        start.span_context.trace_id()
    );
    assert_eq!(pending.parent_span_id, start.span_context.span_id());
    assert_eq!(int(pending, "auto_trainer.nonce"), 5);
    assert_eq!(string(pending, "auto_trainer.result"), "SUCCESS");
    assert!(
        pending.end_time >= start.end_time,
        "the pending span outlives the request"
    );
    assert!(
        matches!(attribute(pending, "auto_trainer.pending.duration"), Some(Value::F64(s)) if *s > 0.0)
    );

    // Every request span is a root of its own trace.
    let roots = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Server)
        .count();
    assert_eq!(roots, 6);

    // Metrics, cumulative over the session.
    metric_exporter.reset();
    meter_provider.force_flush().unwrap();
    let metrics = metric_exporter.get_finished_metrics().unwrap();
    let requests = |method: &str, result: &str| {
        value(
            &metrics,
            "auto_trainer.requests",
            &[("rpc.method", method), ("auto_trainer.result", result)],
        )
    };
    assert_eq!(requests("GET_STATUS", "SUCCESS"), Some(1.0));
    assert_eq!(requests("STOP_ACQUISITION", "FAILED"), Some(1.0));
    assert_eq!(requests("EMERGENCY_STOP", "EXCEPTION"), Some(1.0));
    assert_eq!(requests("_OTHER", "UNRECOGNIZED"), Some(1.0));
    assert_eq!(
        requests("START_ACQUISITION", "PENDING_WITH_NOTIFICATION"),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "auto_trainer.requests.malformed", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &metrics,
            "auto_trainer.delegate.duration",
            &[("rpc.method", "GET_STATUS")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &metrics,
            "auto_trainer.pending.duration",
            &[
                ("rpc.method", "START_ACQUISITION"),
                ("auto_trainer.result", "SUCCESS")
            ]
        ),
        Some(1.0)
    );
    let sent = |topic: &str| {
        value(
            &metrics,
            "messaging.client.sent.messages",
            &[
                ("messaging.system", "zeromq"),
                ("messaging.destination.name", topic),
            ],
        )
    };
    assert_eq!(sent("EVENT"), Some(3.0));
    assert_eq!(sent("COMMAND_RESULT"), Some(1.0));
    let heartbeats = value(&metrics, "auto_trainer.heartbeats", &[]).expect("heartbeats");
    assert!(heartbeats >= 1.0);
    assert_eq!(sent("HEARTBEAT"), Some(heartbeats));
    assert_eq!(
        value(&metrics, "auto_trainer.pending.open", &[tag]),
        Some(0.0)
    );

    // Signed commands: the key id is an attribute of the request's span,
    // admitted or refused.
    span_exporter.reset();
    let key = SigningKey::new("ops-1", [4; 32]);
    let mut options = RpcOptions::loopback();
    options.identifier = "rig-signed".into();
    options.heartbeat_interval = Duration::from_secs(3600);
    options.keys = Some(
        KeyRing::new()
            .with_key(key.clone(), "viewer")
            .with_role("viewer", ["GET_STATUS"]),
    );
    let signed = ZeroMqRpcService::new(options);
    signed.set_delegate(|_: ApiCommandRequest, _: &RequestContext| {
        ApiCommandRequestResponse::success()
    });
    signed.start().expect("start the signed service");
    let client = Client::connect(signed.command_port());
    for (nonce, command) in [(21, 400), (22, 100)] {
        let body = json!({"command": command, "nonce": nonce}).to_string();
        client
            .socket
            .send_multipart(sign_frames(&key, body.as_bytes()), 0)
            .expect("send");
        client.socket.recv_multipart(0).expect("a reply in time");
    }
    signed.stop();
    tracer_provider.force_flush().unwrap();
    let spans = span_exporter.get_finished_spans().unwrap();
    let admitted = span_named(&spans, "autotrainer.api/GET_STATUS");
    assert_eq!(string(admitted, "auto_trainer.key_id"), "ops-1");
    assert_eq!(string(admitted, "auto_trainer.result"), "SUCCESS");
    // A refusal's span is named as a malformed request's (no method), an
    // error whose description is the refusal's reason.
    let forbidden = span_named(&spans, "autotrainer.api");
    assert_eq!(string(forbidden, "auto_trainer.key_id"), "ops-1");
    assert!(
        matches!(&forbidden.status, Status::Error { description } if description.contains("may not send")),
        "{:?}",
        forbidden.status
    );

    let _ = tracer_provider.shutdown();
    let _ = meter_provider.shutdown();
}
