//! The publishing queue: the app's side of it. Publish calls only push here;
//! the publisher thread owns the PUB socket and drains the queue.
//!
//! Overflow policy: the queue holds `queue_capacity` ordinary messages plus a
//! `critical_reserve` that only emergency messages and command results may
//! use. A full queue drops the new ordinary message (drop-newest), counts it
//! and returns [`Error::QueueFull`]; a critical message is refused only when
//! the reserve is full too, and its caller always gets the error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use serde_json::Value;

use super::stats::ServiceCounters;
use crate::telemetry::PendingTrace;
use crate::{ApiCommandRequestResponse, ApiEvent, ApiEventKind, ApiTopic, Error};

/// A message body, serialized on the publisher thread so publish calls stay cheap.
#[derive(Debug)]
pub(crate) enum Body {
    Bytes(Vec<u8>),
    Json(Value),
    Event(ApiEvent),
    CommandResult(ApiCommandRequestResponse),
}

/// One message to publish.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub topic: ApiTopic,
    pub body: Body,
    /// For a command result that settles a pending command: its telemetry.
    pub pending: Option<PendingTrace>,
}

pub(crate) enum QueueItem {
    Message(Outgoing),
    /// Sent once by `stop`, after everything accepted: the publisher drains up
    /// to here, then exits.
    Stop,
}

struct Shared {
    accepting: AtomicBool,
    capacity: usize,
    counters: Arc<ServiceCounters>,
}

/// The sending side of the queue, cloned into completion handles.
#[derive(Clone)]
pub(crate) struct Outbox {
    sender: SyncSender<QueueItem>,
    shared: Arc<Shared>,
}

impl Outbox {
    pub(crate) fn new(
        capacity: usize,
        critical_reserve: usize,
        counters: Arc<ServiceCounters>,
    ) -> (Self, Receiver<QueueItem>) {
        // +1 keeps room for the Stop marker.
        let (sender, receiver) = std::sync::mpsc::sync_channel(capacity + critical_reserve + 1);
        let shared = Arc::new(Shared {
            accepting: AtomicBool::new(false),
            capacity,
            counters,
        });
        (Self { sender, shared }, receiver)
    }

    pub(crate) fn set_accepting(&self, accepting: bool) {
        self.shared.accepting.store(accepting, Ordering::SeqCst);
    }

    pub(crate) fn capacity(&self) -> usize {
        self.shared.capacity
    }

    pub(crate) fn counters(&self) -> &Arc<ServiceCounters> {
        &self.shared.counters
    }

    /// Asks the publisher to exit once it has sent everything before this.
    pub(crate) fn send_stop(&self) {
        // Blocks only while the queue is full; the publisher is draining it.
        let _ = self.sender.send(QueueItem::Stop);
    }

    fn push(&self, message: Outgoing, critical: bool) -> Result<(), Error> {
        if !self.shared.accepting.load(Ordering::Acquire) {
            return Err(Error::NotRunning);
        }
        let counters = &self.shared.counters;
        let topic = message.topic;
        if !critical && counters.queue_depth() >= self.shared.capacity {
            counters.dropped.bump();
            return Err(Error::QueueFull { topic });
        }
        counters.queue_depth.fetch_add(1, Ordering::Relaxed);
        match self.sender.try_send(QueueItem::Message(message)) {
            Ok(()) => {
                counters.accepted.bump();
                Ok(())
            }
            Err(error) => {
                counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
                if critical {
                    counters.rejected_critical.bump();
                } else {
                    counters.dropped.bump();
                }
                Err(match error {
                    TrySendError::Full(_) => Error::QueueFull { topic },
                    TrySendError::Disconnected(_) => Error::NotRunning,
                })
            }
        }
    }

    fn push_body(&self, topic: ApiTopic, body: Body) -> Result<(), Error> {
        let critical = matches!(topic, ApiTopic::Emergency | ApiTopic::CommandResult);
        self.push(
            Outgoing {
                topic,
                body,
                pending: None,
            },
            critical,
        )
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
            .is_some_and(|kind| ApiEventKind::from_value(kind).is_emergency());
        if topic == ApiTopic::Event && emergency_kind {
            self.push_body(ApiTopic::Emergency, Body::Json(value.clone()))?;
            return self.push(
                Outgoing {
                    topic,
                    body: Body::Json(value),
                    pending: None,
                },
                true,
            );
        }
        self.push_body(topic, Body::Json(value))
    }

    /// Publishes an EVENT; an emergency event goes out on EMERGENCY first.
    pub(crate) fn publish_event(&self, event: ApiEvent) -> Result<(), Error> {
        let emergency = event.kind.is_emergency();
        if emergency {
            self.push_body(ApiTopic::Emergency, Body::Event(event.clone()))?;
        }
        self.push(
            Outgoing {
                topic: ApiTopic::Event,
                body: Body::Event(event),
                pending: None,
            },
            emergency,
        )
    }

    pub(crate) fn publish_command_result(
        &self,
        response: ApiCommandRequestResponse,
        pending: Option<PendingTrace>,
    ) -> Result<(), Error> {
        self.push(
            Outgoing {
                topic: ApiTopic::CommandResult,
                body: Body::CommandResult(response),
                pending,
            },
            true,
        )
    }
}
