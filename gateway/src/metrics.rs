//! The status figures as OpenTelemetry metrics (cargo feature
//! `telemetry`): read from the same snapshot as the status request, each
//! time the exporter collects.

use std::sync::Arc;

use opentelemetry::metrics::{Meter, ObservableCounter, ObservableGauge};
use opentelemetry::KeyValue;

use crate::gateway::{GatewayStatus, RigStatus};

/// A metric's name, description, and where its figure is read.
type Figure<T> = (&'static str, &'static str, fn(&T) -> u64);

/// The registered instruments; their callbacks run while these live.
pub(crate) struct Instruments {
    _counters: Vec<ObservableCounter<u64>>,
    _gauges: Vec<ObservableGauge<u64>>,
}

/// Registers the gateway's instruments on the global meter provider (set
/// up by [`auto_trainer_api::configure_telemetry`]); `status` reads the
/// figures.
pub(crate) fn register(status: Arc<dyn Fn() -> GatewayStatus + Send + Sync>) -> Instruments {
    let meter = opentelemetry::global::meter("auto-trainer-gateway");
    let per_rig: [Figure<RigStatus>; 6] = [
        (
            "autotrainer.gateway.bridged",
            "Messages handed on towards NATS",
            |r| r.bridged,
        ),
        (
            "autotrainer.gateway.dropped",
            "Messages lost before NATS",
            |r| r.dropped,
        ),
        (
            "autotrainer.gateway.malformed",
            "Messages that broke the protocol",
            |r| r.malformed,
        ),
        (
            "autotrainer.gateway.commands",
            "Command requests handled",
            |r| r.commands,
        ),
        (
            "autotrainer.gateway.timeouts",
            "Commands the rig did not answer in time",
            |r| r.timeouts,
        ),
        (
            "autotrainer.gateway.reconnects",
            "SUB reconnections to the rig",
            |r| r.reconnects,
        ),
    ];
    let mut counters: Vec<_> = per_rig
        .into_iter()
        .map(|(name, description, read)| rig_counter(&meter, &status, name, description, read))
        .collect();
    let nats: [Figure<GatewayStatus>; 4] = [
        (
            "autotrainer.gateway.nats.published",
            "Messages published to NATS",
            |s| s.nats.published,
        ),
        (
            "autotrainer.gateway.nats.errors",
            "Publications and record writes that failed",
            |s| s.nats.errors,
        ),
        (
            "autotrainer.gateway.nats.lost",
            "Stored messages given up on after every retry",
            |s| s.nats.lost,
        ),
        (
            "autotrainer.gateway.nats.records",
            "Rig records written to the bucket",
            |s| s.nats.records,
        ),
    ];
    for (name, description, read) in nats {
        let status = status.clone();
        counters.push(
            meter
                .u64_observable_counter(name)
                .with_description(description)
                .with_callback(move |observer| observer.observe(read(&status()), &[]))
                .build(),
        );
    }
    let online = {
        let status = status.clone();
        meter
            .u64_observable_gauge("autotrainer.gateway.online")
            .with_description("1 while the rig's heartbeats arrive, else 0")
            .with_callback(move |observer| {
                for rig in status().rigs {
                    observer.observe(u64::from(rig.online), &[KeyValue::new("rig", rig.rig)]);
                }
            })
            .build()
    };
    Instruments {
        _counters: counters,
        _gauges: vec![online],
    }
}

fn rig_counter(
    meter: &Meter,
    status: &Arc<dyn Fn() -> GatewayStatus + Send + Sync>,
    name: &'static str,
    description: &'static str,
    read: fn(&RigStatus) -> u64,
) -> ObservableCounter<u64> {
    let status = status.clone();
    meter
        .u64_observable_counter(name)
        .with_description(description)
        .with_callback(move |observer| {
            for rig in status().rigs {
                observer.observe(read(&rig), &[KeyValue::new("rig", rig.rig)]);
            }
        })
        .build()
}
