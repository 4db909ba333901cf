//! The publisher thread: the one owner of the PUB socket. It drains the
//! queue, serializes each message, writes its two frames, and sends the
//! heartbeat while the command loop is alive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::outbox::{Body, Outgoing, QueueItem};
use super::stats::{bump, Counters};
use crate::camel::CamelKeys;
use crate::telemetry;
use crate::transport::PubSocket;
use crate::wire::json::{write_python_json, PythonJsonFormatter};
use crate::{ApiTopic, HeartbeatMessage};

pub(crate) struct Publisher {
    pub socket: PubSocket,
    pub queue: Receiver<QueueItem>,
    pub counters: Arc<Counters>,
    pub identifier: String,
    pub heartbeat_interval: Duration,
    /// Cleared when the command loop ends: no heartbeat without a server.
    pub command_loop_alive: Arc<AtomicBool>,
}

impl Publisher {
    pub(crate) fn run(self) {
        let mut buffer = Vec::with_capacity(512);
        let mut next_heartbeat = Instant::now() + self.heartbeat_interval;
        loop {
            let wait = next_heartbeat.saturating_duration_since(Instant::now());
            match self.queue.recv_timeout(wait) {
                Ok(QueueItem::Message(message)) => {
                    self.counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    self.write(&message, &mut buffer);
                }
                Ok(QueueItem::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            // Checked after every message too, so a busy queue cannot starve heartbeats.
            if Instant::now() >= next_heartbeat {
                next_heartbeat += self.heartbeat_interval;
                if self.command_loop_alive.load(Ordering::Acquire) {
                    self.heartbeat(&mut buffer);
                }
            }
        }
    }

    fn heartbeat(&self, buffer: &mut Vec<u8>) {
        let heartbeat = HeartbeatMessage::now(&self.identifier);
        buffer.clear();
        if write_python_json(buffer, &heartbeat, PythonJsonFormatter::SPACED).is_ok()
            && self.send(ApiTopic::Heartbeat, buffer)
        {
            bump(&self.counters.heartbeats_sent);
            telemetry::heartbeat_sent();
        }
    }

    fn write(&self, message: &Outgoing, buffer: &mut Vec<u8>) {
        buffer.clear();
        let serialized = match &message.body {
            Body::Bytes(bytes) => {
                self.send(message.topic, bytes);
                return;
            }
            Body::Json(value) => {
                write_python_json(buffer, &CamelKeys(value), PythonJsonFormatter::SPACED)
            }
            Body::Event(event) => write_python_json(buffer, event, PythonJsonFormatter::SPACED),
            Body::CommandResult(response) => {
                let sent = write_python_json(
                    buffer,
                    &response.clone().with_serialization_fallback(),
                    PythonJsonFormatter::SPACED,
                );
                if sent.is_ok() {
                    telemetry::pending_completed(response, message.pending_for);
                }
                sent
            }
        };
        match serialized {
            Ok(()) => {
                self.send(message.topic, buffer);
            }
            Err(error) => {
                bump(&self.counters.send_errors);
                tracing::error!(topic = %message.topic, %error, "cannot serialize message; not published");
            }
        }
    }

    fn send(&self, topic: ApiTopic, body: &[u8]) -> bool {
        match self.socket.send(topic.to_frame(), body) {
            Ok(()) => {
                bump(&self.counters.published);
                telemetry::message_published(topic);
                true
            }
            Err(error) => {
                bump(&self.counters.send_errors);
                tracing::error!(%topic, %error, "cannot send message");
                false
            }
        }
    }
}
