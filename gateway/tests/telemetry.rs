//! The gateway's status figures reach an OpenTelemetry collector: the
//! gateway binary built with the `telemetry` feature, `[telemetry]` enabled
//! in its configuration, a real `nats-server`, a rig (our service, in this
//! process, on ports the OS picked) and an OTLP/HTTP receiver on 127.0.0.1
//! that decodes what arrives (`tests/common/otlp.rs`).
//!
//! Run: `cargo test -p auto-trainer-gateway --features telemetry --test
//! telemetry`.

#![cfg(feature = "telemetry")]

#[path = "../../tests/common"]
mod common {
    pub mod examples;
    pub mod nats;
    pub mod otlp;
    pub mod python;
}

use std::time::{Duration, Instant};

use auto_trainer_api::{
    ApiEvent, ApiEventKind, RpcOptions, RpcService, ZeroMqRpcService, TELEMETRY_API_KEY_HEADER,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use prost::Message;

use common::nats::{gateway_command, GatewayProcess, NatsServer, TempDir};
use common::otlp::{start_receiver, string_value};

const GATEWAY_EXE: &str = env!("CARGO_BIN_EXE_auto-trainer-gateway");
const API_KEY: &str = "collector-key";
/// The deadline of every wait for a condition.
const WAIT: Duration = Duration::from_secs(30);

/// The value `metric` reports for the rig `rig` (the data point carrying
/// the `rig` attribute), or its only value when it has no such attribute.
fn value_of(metric: &Metric, rig: Option<&str>) -> Option<u64> {
    let points = match metric.data.as_ref()? {
        metric::Data::Sum(sum) => &sum.data_points,
        metric::Data::Gauge(gauge) => &gauge.data_points,
        _ => return None,
    };
    points
        .iter()
        .find(|point| {
            rig.is_none_or(|rig| string_value(&point.attributes, "rig").as_deref() == Some(rig))
        })
        .and_then(|point| match point.value? {
            number_data_point::Value::AsInt(value) => u64::try_from(value).ok(),
            number_data_point::Value::AsDouble(value) => Some(value as u64),
        })
}

#[test]
fn the_gateway_exports_its_figures_as_metrics() {
    let nats = NatsServer::start();
    let rig = ZeroMqRpcService::new(RpcOptions::loopback());
    rig.start().expect("start the rig");
    let (port, received) = start_receiver();
    let dir = TempDir::new("gateway-telemetry");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nname = \"metered\"\n\n\
             [nats]\nurl = \"{}\"\nprefix = \"metered\"\nstream = \"METERED\"\n\
             bucket = \"metered_rigs\"\n\n\
             [[rig]]\nname = \"rig-m\"\nhost = \"127.0.0.1\"\npub_port = {}\ncmd_port = {}\n\n\
             [telemetry]\nenable = true\nendpoint = \"http://127.0.0.1:{port}/\"\napi_key = \"{API_KEY}\"\n",
            nats.url(),
            rig.subscriber_port(),
            rig.command_port(),
        ),
    )
    .expect("write the configuration");
    let mut command = gateway_command(GATEWAY_EXE, &config);
    // Every 200 ms instead of every minute (the SDK reads it).
    command.env("OTEL_METRIC_EXPORT_INTERVAL", "200");
    let _gateway = GatewayProcess::start(command);

    // Events keep coming until an export shows the rig online (its
    // heartbeats arrive) and counts events bridged for it and published.
    let deadline = Instant::now() + WAIT;
    let (mut bridged, mut published, mut online) = (None, None, None);
    let mut names = std::collections::BTreeSet::new();
    while bridged.unwrap_or(0) == 0 || published.unwrap_or(0) == 0 || online != Some(1) {
        assert!(
            Instant::now() < deadline,
            "no export showed the rig online with messages bridged and published within \
             {WAIT:?}: bridged {bridged:?}, published {published:?}, online {online:?}, \
             metrics seen {names:?}"
        );
        rig.publish_event(ApiEvent::new(ApiEventKind::SessionStarting, None))
            .expect("publish an event");
        let Ok(export) = received.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        if export.path != "/v1/metrics" {
            continue;
        }
        assert_eq!(
            export
                .headers
                .get(TELEMETRY_API_KEY_HEADER)
                .map(String::as_str),
            Some(API_KEY),
            "the configured key goes with every export"
        );
        let request =
            ExportMetricsServiceRequest::decode(&export.body[..]).expect("an OTLP metrics export");
        for metric in request
            .resource_metrics
            .iter()
            .flat_map(|resource| &resource.scope_metrics)
            .flat_map(|scope| &scope.metrics)
        {
            names.insert(metric.name.clone());
            match metric.name.as_str() {
                "autotrainer.gateway.bridged" => bridged = value_of(metric, Some("rig-m")),
                "autotrainer.gateway.nats.published" => published = value_of(metric, None),
                "autotrainer.gateway.online" => online = value_of(metric, Some("rig-m")),
                _ => {}
            }
        }
    }
    for expected in [
        "autotrainer.gateway.dropped",
        "autotrainer.gateway.malformed",
        "autotrainer.gateway.nats.errors",
    ] {
        assert!(names.contains(expected), "{expected} not in {names:?}");
    }
    rig.stop();
}
