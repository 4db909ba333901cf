//! The publishing queue: the app's side of it. Publish calls only push here;
//! the publisher thread owns the PUB socket and drains the queue.
//!
//! Overflow policy: the queue holds `queue_capacity` ordinary messages and
//! at most `queue_capacity_bytes` of them (estimated in memory), plus a
//! `critical_reserve` of messages that only emergency messages and command
//! results may use. A full queue drops the new ordinary message
//! (drop-newest), counts it and returns [`Error::QueueFull`]; a critical
//! message is refused only when the reserve is full too, and its caller
//! always gets the error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use serde_json::Value;

use super::stats::ServiceCounters;
use crate::telemetry::PendingTrace;
use crate::wire::event::is_emergency_kind;
use crate::{ApiCommandRequestResponse, ApiEvent, ApiTopic, Error, Generation, WireCode};

/// A message body, serialized on the publisher thread so publish calls stay cheap.
#[derive(Debug)]
pub(crate) enum Body {
    Bytes(Vec<u8>),
    Json(Value),
    Event(ApiEvent<i64>),
    CommandResult(ApiCommandRequestResponse),
}

/// One message to publish.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub topic: ApiTopic,
    pub body: Body,
    /// For a command result that settles a pending command: its telemetry.
    pub pending: Option<PendingTrace>,
    /// What it is counted as in the queue's bytes ([`footprint`]).
    pub size: usize,
}

impl Outgoing {
    fn new(topic: ApiTopic, body: Body, pending: Option<PendingTrace>) -> Self {
        let size = std::mem::size_of::<Self>()
            + match &body {
                Body::Bytes(bytes) => bytes.len(),
                Body::Json(value) => footprint(value),
                Body::Event(event) => event.context.as_ref().map_or(0, footprint),
                Body::CommandResult(response) => {
                    response.data.as_ref().map_or(0, footprint)
                        + response.error_message.as_ref().map_or(0, String::len)
                }
            };
        Self {
            topic,
            body,
            pending,
            size,
        }
    }
}

/// About how much memory a JSON value holds: its text plus a fixed cost per
/// node, close enough to bound the queue in bytes for the price of one walk
/// over the value (publish calls must stay cheap, so nothing is serialized).
fn footprint(value: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    NODE + match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(text) => text.len(),
        Value::Array(items) => items.iter().map(footprint).sum(),
        Value::Object(object) => object
            .iter()
            .map(|(key, value)| key.len() + NODE + footprint(value))
            .sum(),
    }
}

pub(crate) enum QueueItem {
    Message(Outgoing),
    /// Sent once by `stop`, after everything accepted: the publisher drains up
    /// to here, then exits.
    Stop,
}

/// The queue's limits, from [`crate::RpcOptions`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    pub capacity: usize,
    pub capacity_bytes: usize,
    pub critical_reserve: usize,
}

struct Shared {
    accepting: AtomicBool,
    limits: QueueLimits,
    counters: Arc<ServiceCounters>,
    generation: Generation,
}

/// The sending side of the queue, cloned into completion handles. The
/// channel itself is unbounded: the limits are enforced here, on the counts
/// the publisher thread decrements as it sends.
#[derive(Clone)]
pub(crate) struct Outbox {
    sender: Sender<QueueItem>,
    shared: Arc<Shared>,
}

impl Outbox {
    pub(crate) fn new(
        limits: QueueLimits,
        counters: Arc<ServiceCounters>,
        generation: Generation,
    ) -> (Self, Receiver<QueueItem>) {
        let (sender, receiver) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            accepting: AtomicBool::new(false),
            limits,
            counters,
            generation,
        });
        (Self { sender, shared }, receiver)
    }

    pub(crate) fn set_accepting(&self, accepting: bool) {
        self.shared.accepting.store(accepting, Ordering::SeqCst);
    }

    pub(crate) fn limits(&self) -> QueueLimits {
        self.shared.limits
    }

    pub(crate) fn counters(&self) -> &Arc<ServiceCounters> {
        &self.shared.counters
    }

    /// The protocol generation the service speaks.
    pub(crate) fn generation(&self) -> Generation {
        self.shared.generation
    }

    /// Asks the publisher to exit once it has sent everything before this.
    pub(crate) fn send_stop(&self) {
        let _ = self.sender.send(QueueItem::Stop);
    }

    /// Counts a message of `size` into the queue if it fits the limits.
    /// Counted first and taken back when over, so concurrent callers can
    /// never overshoot together (near the limit one may be refused spuriously).
    fn reserve(&self, size: usize, critical: bool) -> bool {
        let (counters, limits) = (&self.shared.counters, &self.shared.limits);
        let depth = counters.queue_depth.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = counters.queue_bytes.fetch_add(size, Ordering::Relaxed) + size;
        let fits = if critical {
            depth <= limits.capacity + limits.critical_reserve
        } else {
            depth <= limits.capacity && bytes <= limits.capacity_bytes
        };
        if !fits {
            counters.release(1, size);
        }
        fits
    }

    fn push(&self, message: Outgoing, critical: bool) -> Result<(), Error> {
        if !self.shared.accepting.load(Ordering::Acquire) {
            return Err(Error::NotRunning);
        }
        let counters = &self.shared.counters;
        let (topic, size) = (message.topic, message.size);
        if !self.reserve(size, critical) {
            if critical {
                counters.rejected_critical.bump();
            } else {
                counters.dropped.bump();
            }
            return Err(Error::QueueFull { topic });
        }
        match self.sender.send(QueueItem::Message(message)) {
            Ok(()) => {
                counters.accepted.bump();
                Ok(())
            }
            Err(_) => {
                counters.release(1, size);
                Err(Error::NotRunning)
            }
        }
    }

    fn push_body(&self, topic: ApiTopic, body: Body) -> Result<(), Error> {
        let critical = matches!(topic, ApiTopic::Emergency | ApiTopic::CommandResult);
        self.push(Outgoing::new(topic, body, None), critical)
    }

    pub(crate) fn publish_bytes(&self, topic: ApiTopic, bytes: Vec<u8>) -> Result<(), Error> {
        self.push_body(topic, Body::Bytes(bytes))
    }

    /// Publishes a JSON object; an EVENT whose `kind` is an emergency kind goes
    /// out on EMERGENCY first, as in the reference.
    pub(crate) fn publish_json(&self, topic: ApiTopic, value: Value) -> Result<(), Error> {
        let emergency_kind = value
            .get("kind")
            .and_then(Value::as_i64)
            .is_some_and(is_emergency_kind);
        if topic == ApiTopic::Event && emergency_kind {
            self.push_body(ApiTopic::Emergency, Body::Json(value.clone()))?;
            return self.push(Outgoing::new(topic, Body::Json(value), None), true);
        }
        self.push_body(topic, Body::Json(value))
    }

    /// Publishes an EVENT; an emergency event goes out on EMERGENCY first.
    pub(crate) fn publish_event<K: WireCode>(&self, event: ApiEvent<K>) -> Result<(), Error> {
        let event = event.map_kind(WireCode::code);
        let emergency = event.is_emergency();
        if emergency {
            self.push_body(ApiTopic::Emergency, Body::Event(event.clone()))?;
        }
        self.push(
            Outgoing::new(ApiTopic::Event, Body::Event(event), None),
            emergency,
        )
    }

    pub(crate) fn publish_command_result(
        &self,
        response: ApiCommandRequestResponse,
        pending: Option<PendingTrace>,
    ) -> Result<(), Error> {
        self.push(
            Outgoing::new(
                ApiTopic::CommandResult,
                Body::CommandResult(response),
                pending,
            ),
            true,
        )
    }
}
