//! The publisher thread: the one owner of the PUB socket. It drains the
//! queue, serializes each message, writes its two frames, and sends the
//! heartbeat while the command loop serves.

use std::ops::Range;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::command_thread::CommandLoopState;
use super::outbox::{Body, Outgoing, QueueItem};
use super::stats::ServiceCounters;
use crate::telemetry;
use crate::transport::device::PubSocket;
use crate::wire::json::{write_python_json, PythonJsonFormatter};
use crate::wire::keys::CamelKeys;
use crate::{ApiTopic, Generation, HeartbeatMessage};

pub(crate) struct PublishThread {
    pub socket: PubSocket,
    pub queue: Receiver<QueueItem>,
    pub counters: Arc<ServiceCounters>,
    pub identifier: String,
    /// The generation the service speaks (heartbeat version, events' `repeat`).
    pub generation: Generation,
    pub heartbeat_interval: Duration,
    /// No heartbeat without a server: none once the command loop ended, nor
    /// while it has been stuck on one request for longer than `stall_limit`.
    pub command_loop: Arc<CommandLoopState>,
    pub stall_limit: Duration,
}

/// At most this many queued messages are serialized before any is sent.
const BATCH: usize = 64;

impl PublishThread {
    pub(crate) fn run(self) {
        let mut buffer = Vec::with_capacity(512);
        // A batch: the messages, their bodies back to back in `bodies`, and
        // where each body lies there.
        let mut batch = Vec::with_capacity(BATCH);
        let mut bodies = Vec::with_capacity(BATCH * 256);
        let mut spans = Vec::with_capacity(BATCH);
        let mut next_heartbeat = Instant::now() + self.heartbeat_interval;
        let mut running = true;
        let mut withheld = false;
        while running {
            let wait = next_heartbeat.saturating_duration_since(Instant::now());
            match self.queue.recv_timeout(wait) {
                Ok(QueueItem::Message(message)) => batch.push(message),
                Ok(QueueItem::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            // What is queued already joins the batch (never waiting for more):
            // all of it is serialized first, then sent back to back, so
            // libzmq's I/O thread finds several messages per wake-up and
            // writes them to TCP together instead of waking once per message.
            while !batch.is_empty() && batch.len() < BATCH {
                match self.queue.try_recv() {
                    Ok(QueueItem::Message(message)) => batch.push(message),
                    Ok(QueueItem::Stop) | Err(TryRecvError::Disconnected) => {
                        running = false;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            if !batch.is_empty() {
                let bytes = batch.iter().map(|message| message.size).sum();
                self.counters.release(batch.len(), bytes);
                self.write_batch(&batch, &mut bodies, &mut spans);
                batch.clear();
            }
            // Checked after every batch too, so a busy queue cannot starve heartbeats.
            let now = Instant::now();
            if running && now >= next_heartbeat {
                // After a stall, skip the missed beats rather than burst them.
                next_heartbeat += self.heartbeat_interval;
                if next_heartbeat <= now {
                    next_heartbeat = now + self.heartbeat_interval;
                }
                self.heartbeat_if_serving(&mut buffer, &mut withheld);
            }
        }
    }

    /// Serializes every message of `batch`, then sends them in order.
    fn write_batch(
        &self,
        batch: &[Outgoing],
        bodies: &mut Vec<u8>,
        spans: &mut Vec<Option<Range<usize>>>,
    ) {
        bodies.clear();
        spans.clear();
        for message in batch {
            let start = bodies.len();
            let span = match self.serialize(message, bodies) {
                Ok(()) => Some(start..bodies.len()),
                Err(error) => {
                    bodies.truncate(start);
                    self.counters.send_errors.bump();
                    tracing::error!(topic = %message.topic, %error, "cannot serialize message; not published");
                    None
                }
            };
            spans.push(span);
        }
        for (message, span) in batch.iter().zip(spans.iter()) {
            match (&message.body, span) {
                (Body::Bytes(bytes), _) => {
                    self.send(message.topic, bytes);
                }
                (_, Some(span)) => {
                    self.send(message.topic, &bodies[span.clone()]);
                }
                (_, None) => {}
            }
        }
        // A burst of large messages must not pin its memory for good.
        bodies.clear();
        bodies.shrink_to(BATCH * 256);
    }

    /// Sends a heartbeat if the command loop serves; withholds it (counted,
    /// logged once per stall) while the loop is stuck on one request.
    fn heartbeat_if_serving(&self, buffer: &mut Vec<u8>, withheld: &mut bool) {
        if !self.command_loop.is_alive() {
            // Stopping, or the socket failed (logged there): no server.
        } else if !self.command_loop.is_stalled(self.stall_limit) {
            if std::mem::take(withheld) {
                tracing::info!("the command loop serves again; heartbeats resume");
            }
            self.heartbeat(buffer);
        } else {
            self.counters.heartbeats_withheld.bump();
            if !std::mem::replace(withheld, true) {
                tracing::warn!(
                    stall_limit = ?self.stall_limit,
                    "the command loop is stuck on one request; heartbeats withheld"
                );
            }
        }
    }

    fn heartbeat(&self, buffer: &mut Vec<u8>) {
        let heartbeat = HeartbeatMessage::now(&self.identifier, self.generation);
        buffer.clear();
        if write_python_json(buffer, &heartbeat, PythonJsonFormatter::SPACED).is_ok()
            && self.send(ApiTopic::Heartbeat, buffer)
        {
            self.counters.heartbeats_sent.bump();
            telemetry::heartbeat_sent();
        }
    }

    /// Appends the body of `message` to `buffer` (nothing for raw bytes,
    /// which are sent as they are).
    fn serialize(&self, message: &Outgoing, buffer: &mut Vec<u8>) -> serde_json::Result<()> {
        match &message.body {
            Body::Bytes(_) => Ok(()),
            Body::Json(value) => {
                write_python_json(buffer, &CamelKeys(value), PythonJsonFormatter::SPACED)
            }
            Body::Event(event) => write_python_json(
                buffer,
                &EventAs(event, self.generation),
                PythonJsonFormatter::SPACED,
            ),
            Body::CommandResult(response) => {
                let sent = write_python_json(
                    buffer,
                    &response.clone().with_serialization_fallback(),
                    PythonJsonFormatter::SPACED,
                );
                if sent.is_ok() {
                    telemetry::pending_completed(response, message.pending.as_ref());
                }
                sent
            }
        }
    }

    fn send(&self, topic: ApiTopic, body: &[u8]) -> bool {
        match self.socket.send(topic.to_frame(), body) {
            Ok(()) => {
                self.counters.published.bump();
                telemetry::message_published(topic);
                true
            }
            Err(error) => {
                self.counters.send_errors.bump();
                tracing::error!(%topic, %error, "cannot send message");
                false
            }
        }
    }
}

/// An event written as the service's generation writes it.
struct EventAs<'a>(&'a crate::ApiEvent<i64>, Generation);

impl serde::Serialize for EventAs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_as(Some(self.1), serializer)
    }
}
