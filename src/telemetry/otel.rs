//! The hooks with the `telemetry` feature: spans and metrics through the
//! global OpenTelemetry providers.
//!
//! Instruments are made on first use from whatever providers are global then,
//! and kept; [`reset_instruments`] makes the next hook pick up new ones.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, ContextGuard, InstrumentationScope, KeyValue, Value};

use super::ServiceGauges;
use crate::{
    ApiCommandRequestErrorKind, ApiCommandRequestResponse, ApiCommandRequestResult,
    ApiCommandRequestServiceResponse, ApiTopic, Command,
};

/// `rpc.system` and `messaging.system`: no registered value exists for ZeroMQ.
const SYSTEM: &str = "zeromq";
/// `rpc.service`: the reference's package.
const RPC_SERVICE: &str = "autotrainer.api";
/// `rpc.method` of a command this version does not know, as in the semantic conventions.
const OTHER_METHOD: &str = "_OTHER";
/// Instrumentation scope of every span and metric.
const SCOPE: &str = "auto-trainer-api";

// Attribute keys.
const RPC_SYSTEM: &str = "rpc.system";
const RPC_SERVICE_KEY: &str = "rpc.service";
const RPC_METHOD: &str = "rpc.method";
const ERROR_TYPE: &str = "error.type";
const COMMAND: &str = "auto_trainer.command";
const COMMAND_NAME: &str = "auto_trainer.command.name";
const NONCE: &str = "auto_trainer.nonce";
const KEY_ID: &str = "auto_trainer.key_id";
const RESULT: &str = "auto_trainer.result";
const ERROR_KIND: &str = "auto_trainer.error_kind";
const ERROR_CODE: &str = "auto_trainer.error_code";
const DELEGATE_DURATION: &str = "auto_trainer.delegate.duration";
const PENDING_DURATION: &str = "auto_trainer.pending.duration";
const IDENTIFIER: &str = "auto_trainer.identifier";
const MESSAGE_CLASS: &str = "auto_trainer.message.class";
const MESSAGING_SYSTEM: &str = "messaging.system";
const MESSAGING_OPERATION: &str = "messaging.operation.name";
const MESSAGING_DESTINATION: &str = "messaging.destination.name";

/// Seconds, from 10 µs (a quick delegate) to 5 s (a delegate that should
/// have gone pending).
const DELEGATE_BUCKETS: [f64; 13] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1.0, 5.0,
];
/// Seconds, from 10 ms to an hour.
const PENDING_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 3600.0,
];

struct Instruments {
    tracer: BoxedTracer,
    meter: Meter,
    requests: Counter<u64>,
    malformed: Counter<u64>,
    delegate_duration: Histogram<f64>,
    published: Counter<u64>,
    heartbeats: Counter<u64>,
    pending_duration: Histogram<f64>,
}

impl Instruments {
    fn from_globals() -> Self {
        let scope = InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let tracer = global::tracer_with_scope(scope.clone());
        let meter = global::meter_with_scope(scope);
        Self {
            requests: meter
                .u64_counter("auto_trainer.requests")
                .with_unit("{request}")
                .with_description(
                    "Command requests answered, by rpc.method and auto_trainer.result",
                )
                .build(),
            malformed: meter
                .u64_counter("auto_trainer.requests.malformed")
                .with_unit("{request}")
                .with_description("Command requests that could not be read")
                .build(),
            delegate_duration: meter
                .f64_histogram(DELEGATE_DURATION)
                .with_unit("s")
                .with_description("Time in the app's command delegate")
                .with_boundaries(DELEGATE_BUCKETS.to_vec())
                .build(),
            published: meter
                .u64_counter("messaging.client.sent.messages")
                .with_unit("{message}")
                .with_description("Messages written to the PUB socket, by topic")
                .build(),
            heartbeats: meter
                .u64_counter("auto_trainer.heartbeats")
                .with_unit("{heartbeat}")
                .with_description("Heartbeats sent")
                .build(),
            pending_duration: meter
                .f64_histogram(PENDING_DURATION)
                .with_unit("s")
                .with_description("Time from accepting a pending command to publishing its result")
                .with_boundaries(PENDING_BUCKETS.to_vec())
                .build(),
            tracer,
            meter,
        }
    }
}

static INSTRUMENTS: RwLock<Option<Arc<Instruments>>> = RwLock::new(None);

fn instruments() -> Arc<Instruments> {
    if let Some(instruments) = &*INSTRUMENTS.read().unwrap_or_else(|p| p.into_inner()) {
        return instruments.clone();
    }
    INSTRUMENTS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(|| Arc::new(Instruments::from_globals()))
        .clone()
}

/// Forgets the instruments so the next hook makes them from the current
/// global providers.
pub(crate) fn reset_instruments() {
    *INSTRUMENTS.write().unwrap_or_else(|p| p.into_inner()) = None;
}

/// `rpc.method`: the command's reference name, `_OTHER` for a number this
/// version does not know (keeps metric cardinality bounded).
fn method(command: Command) -> &'static str {
    command.name().unwrap_or(OTHER_METHOD)
}

/// A code's reference name, or its number when unknown.
fn code_name(name: Option<&'static str>, value: i64) -> Value {
    match name {
        Some(name) => Value::from(name),
        None => Value::from(value.to_string()),
    }
}

fn result_name(result: ApiCommandRequestResult) -> Value {
    code_name(result.name(), result.value())
}

/// `error.type` for results that are not a success.
fn error_type(result: ApiCommandRequestResult) -> Option<Value> {
    use ApiCommandRequestResult as R;
    match result {
        R::Success | R::Pending | R::PendingWithNotification => None,
        other => Some(result_name(other)),
    }
}

/// Sets what a reply or result says on `span`: result, error kind and code,
/// `error.type`, and an error status when the service or delegate failed
/// (EXCEPTION, SYSTEM_ERROR); an app-level FAILED keeps the status unset.
fn record_outcome(
    span: &opentelemetry::trace::SpanRef<'_>,
    result: ApiCommandRequestResult,
    error_kind: Option<ApiCommandRequestErrorKind>,
    error_code: i64,
    error_message: Option<&str>,
) {
    span.set_attribute(KeyValue::new(RESULT, result_name(result)));
    span.set_attribute(KeyValue::new(ERROR_CODE, error_code));
    if let Some(kind) = error_kind {
        span.set_attribute(KeyValue::new(
            ERROR_KIND,
            code_name(kind.name(), kind.value()),
        ));
    }
    if let Some(error_type) = error_type(result) {
        span.set_attribute(KeyValue::new(ERROR_TYPE, error_type));
    }
    if result == ApiCommandRequestResult::Exception
        || error_kind == Some(ApiCommandRequestErrorKind::SystemError)
    {
        let description = error_message.unwrap_or("the command failed").to_owned();
        span.set_status(Status::error(description));
    }
}

/// Held by the command thread while it handles one request: the request's
/// span is the current context, so spans the delegate starts (a pending
/// command's, the app's own) are its children. Ends the span when dropped.
pub(crate) struct RequestTrace {
    context: Context,
    _attached: ContextGuard,
}

impl Drop for RequestTrace {
    fn drop(&mut self) {
        self.context.span().end();
    }
}

/// A request arrived: starts its server span, named `autotrainer.api` until
/// the command is known.
pub(crate) fn request_started() -> RequestTrace {
    let instruments = instruments();
    let span = instruments
        .tracer
        .span_builder(RPC_SERVICE)
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new(RPC_SYSTEM, SYSTEM),
            KeyValue::new(RPC_SERVICE_KEY, RPC_SERVICE),
        ])
        .start(&instruments.tracer);
    let context = Context::current_with_span(span);
    RequestTrace {
        _attached: context.clone().attach(),
        context,
    }
}

/// A request was answered after `in_delegate` in the delegate (zero when no
/// delegate was called, which is not recorded in the latency histogram).
pub(crate) fn request_answered(reply: &ApiCommandRequestServiceResponse, in_delegate: Duration) {
    let instruments = instruments();
    let command = reply.command;
    let method = method(command);
    Context::map_current(|context| {
        let span = context.span();
        if !span.is_recording() {
            return;
        }
        span.update_name(format!("{RPC_SERVICE}/{method}"));
        span.set_attributes([
            KeyValue::new(RPC_METHOD, method),
            KeyValue::new(COMMAND, command.value()),
            KeyValue::new(COMMAND_NAME, code_name(command.name(), command.value())),
            KeyValue::new(NONCE, reply.nonce),
            KeyValue::new(DELEGATE_DURATION, in_delegate.as_secs_f64()),
        ]);
        record_outcome(
            &span,
            reply.result,
            Some(reply.error_kind),
            reply.error_code,
            reply.error_message.as_deref(),
        );
    });
    let attributes = [
        KeyValue::new(RPC_METHOD, method),
        KeyValue::new(RESULT, result_name(reply.result)),
    ];
    instruments.requests.add(1, &attributes);
    if !in_delegate.is_zero() {
        instruments
            .delegate_duration
            .record(in_delegate.as_secs_f64(), &attributes);
    }
}

/// A request was signed by (or named) the key `key_id`: an attribute of
/// its span.
pub(crate) fn request_signed(key_id: &str) {
    Context::map_current(|context| {
        let span = context.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(KEY_ID, key_id.to_owned()));
        }
    });
}

/// A request could not be read: its span keeps the name `autotrainer.api`,
/// gets `error.type` `malformed_request` and an error status with `reason`.
pub(crate) fn malformed_request(reason: &str) {
    let instruments = instruments();
    Context::map_current(|context| {
        let span = context.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(ERROR_TYPE, "malformed_request"));
            span.set_status(Status::error(reason.to_owned()));
        }
    });
    instruments.malformed.add(1, &[]);
}

/// A pending command's span, from acceptance to the publication of its
/// COMMAND_RESULT; travels with the command until then. One pointer wide, so
/// the publishing queue's items stay small.
#[derive(Clone)]
pub(crate) struct PendingTrace(Arc<PendingSpan>);

struct PendingSpan {
    context: Context,
    accepted: Instant,
    method: &'static str,
}

impl std::fmt::Debug for PendingTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingTrace")
            .field("method", &self.0.method)
            .finish_non_exhaustive()
    }
}

/// The delegate accepted a command as pending: starts its span, a child of
/// the current request span.
pub(crate) fn pending_accepted(command: Command, nonce: i64) -> PendingTrace {
    let instruments = instruments();
    let method = method(command);
    let span = instruments
        .tracer
        .span_builder(format!("{RPC_SERVICE}/{method} pending"))
        .with_kind(SpanKind::Internal)
        .with_attributes([
            KeyValue::new(RPC_SYSTEM, SYSTEM),
            KeyValue::new(RPC_SERVICE_KEY, RPC_SERVICE),
            KeyValue::new(RPC_METHOD, method),
            KeyValue::new(COMMAND, command.value()),
            KeyValue::new(COMMAND_NAME, code_name(command.name(), command.value())),
            KeyValue::new(NONCE, nonce),
        ])
        .start(&instruments.tracer);
    PendingTrace(Arc::new(PendingSpan {
        context: Context::current_with_span(span),
        accepted: Instant::now(),
        method,
    }))
}

/// A command result went out; when it settled a pending command, that
/// command's span ends with the result and its duration is recorded.
pub(crate) fn pending_completed(
    response: &ApiCommandRequestResponse,
    pending: Option<&PendingTrace>,
) {
    let Some(PendingTrace(pending)) = pending else {
        return;
    };
    let instruments = instruments();
    let pending_for = pending.accepted.elapsed().as_secs_f64();
    let span = pending.context.span();
    if span.is_recording() {
        span.set_attribute(KeyValue::new(PENDING_DURATION, pending_for));
        record_outcome(
            &span,
            response.result,
            None,
            response.error_code,
            response.error_message.as_deref(),
        );
        span.end();
    }
    instruments.pending_duration.record(
        pending_for,
        &[
            KeyValue::new(RPC_METHOD, pending.method),
            KeyValue::new(RESULT, result_name(response.result)),
        ],
    );
}

/// A message went out on `topic` (`messaging.client.sent.messages`).
pub(crate) fn message_published(topic: ApiTopic) {
    let destination = match topic.name() {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(topic.value().to_string()),
    };
    instruments().published.add(
        1,
        &[
            KeyValue::new(MESSAGING_SYSTEM, SYSTEM),
            KeyValue::new(MESSAGING_OPERATION, "publish"),
            KeyValue::new(MESSAGING_DESTINATION, destination),
        ],
    );
}

/// A heartbeat went out.
pub(crate) fn heartbeat_sent() {
    instruments().heartbeats.add(1, &[]);
}

/// A service started: registers the instruments observed from its counters
/// (queue depth, dropped messages, open pending commands), tagged with its
/// identifier. `gauges` reads them, and reports nothing (`None`) once the
/// service is gone.
pub(crate) fn service_started(
    identifier: &str,
    gauges: impl Fn() -> Option<ServiceGauges> + Send + Sync + 'static,
) {
    let meter = instruments().meter.clone();
    let gauges = Arc::new(gauges);
    let tag = KeyValue::new(IDENTIFIER, identifier.to_owned());

    let (read, attributes) = (gauges.clone(), [tag.clone()]);
    meter
        .u64_observable_gauge("auto_trainer.queue.depth")
        .with_unit("{message}")
        .with_description("Messages waiting in the publishing queue")
        .with_callback(move |observer| {
            if let Some(now) = read() {
                observer.observe(now.queue_depth, &attributes);
            }
        })
        .build();

    let read = gauges.clone();
    let ordinary = [tag.clone(), KeyValue::new(MESSAGE_CLASS, "ordinary")];
    let critical = [tag.clone(), KeyValue::new(MESSAGE_CLASS, "critical")];
    meter
        .u64_observable_counter("auto_trainer.messages.dropped")
        .with_unit("{message}")
        .with_description(
            "Messages refused by the overflow policy: ordinary ones dropped when the queue is \
             full, critical ones (emergency, command results) when even the reserve is full",
        )
        .with_callback(move |observer| {
            if let Some(now) = read() {
                observer.observe(now.dropped, &ordinary);
                observer.observe(now.rejected_critical, &critical);
            }
        })
        .build();

    let attributes = [tag];
    meter
        .i64_observable_up_down_counter("auto_trainer.pending.open")
        .with_unit("{command}")
        .with_description("Pending commands awaiting their result")
        .with_callback(move |observer| {
            if let Some(now) = gauges() {
                let open = i64::try_from(now.pending_open).unwrap_or(i64::MAX);
                observer.observe(open, &attributes);
            }
        })
        .build();
}
