//! The subscriber thread: owns the SUB socket, decodes what arrives, keeps
//! liveness and the results of pending commands up to date.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::{broadcast, watch};

use super::liveness::{HeartbeatTracker, LinkState, Liveness};
use super::message::{decode_message, DeviceMessage, ReceivedFrames};
use super::protocol::ProtocolCell;
use super::results::ResultBook;
use super::stats::ClientCounters;
use crate::transport::operator::{SubEvent, SubSocket};
use crate::ApiTopic;

pub(crate) struct Subscriber {
    pub(crate) socket: SubSocket,
    pub(crate) tracker: HeartbeatTracker,
    pub(crate) liveness: watch::Sender<Liveness>,
    pub(crate) connected: watch::Sender<bool>,
    pub(crate) messages: broadcast::Sender<DeviceMessage>,
    pub(crate) frames: broadcast::Sender<ReceivedFrames>,
    pub(crate) results: Arc<Mutex<ResultBook>>,
    pub(crate) counters: Arc<ClientCounters>,
    pub(crate) protocol: Arc<ProtocolCell>,
}

impl Subscriber {
    pub(crate) fn run(mut self) {
        loop {
            let deadline = self.tracker.deadline(&self.liveness.borrow());
            match self.socket.next(deadline) {
                Ok(SubEvent::Stop) => break,
                Ok(SubEvent::Message(frames)) => self.on_message(frames),
                Ok(SubEvent::Connected) => {
                    self.counters.publisher_connections.bump();
                    tracing::debug!("connected to the device's PUB socket");
                    self.connected.send_replace(true);
                }
                Ok(SubEvent::Disconnected) => {
                    tracing::debug!("lost the device's PUB socket; reconnecting");
                    self.connected.send_replace(false);
                }
                Ok(SubEvent::Idle) => {}
                Err(error) => {
                    tracing::error!(%error, "the subscriber socket failed; no more messages");
                    break;
                }
            }
            let tracker = &mut self.tracker;
            let now = Instant::now();
            self.liveness.send_if_modified(|l| {
                let offline = tracker.on_tick(now, l);
                if offline {
                    tracing::info!(identifier = ?l.identifier, "device offline: heartbeats stopped");
                }
                offline
            });
        }
        self.liveness.send_if_modified(|l| {
            let changed = l.state != LinkState::Offline;
            l.state = LinkState::Offline;
            changed
        });
    }

    fn on_message(&mut self, frames: Vec<Vec<u8>>) {
        self.counters.messages_received.bump();
        // Decoded only when a typed stream listens, or for what the client
        // itself needs (heartbeats for liveness, results by nonce): a relay
        // that only passes frames on pays for no decoding.
        let topic = frames.first().and_then(|f| ApiTopic::from_frame(f));
        let needed = matches!(topic, Some(ApiTopic::Heartbeat | ApiTopic::CommandResult));
        let decode = needed || self.messages.receiver_count() > 0;
        if self.frames.receiver_count() > 0 {
            let received = SystemTime::now();
            if !decode {
                let _ = self.frames.send(ReceivedFrames { frames, received });
                return;
            }
            let _ = self.frames.send(ReceivedFrames {
                frames: frames.clone(),
                received,
            });
        } else if !decode {
            return;
        }
        let mut message = decode_message(frames, self.protocol.current());
        match &mut message {
            DeviceMessage::Heartbeat(heartbeat) => {
                let generation = self.protocol.on_heartbeat(&heartbeat.version);
                let tracker = &mut self.tracker;
                let now = Instant::now();
                self.liveness.send_if_modified(|l| {
                    let was = l.state;
                    let changed = tracker.on_heartbeat(heartbeat, generation, now, l);
                    if was != LinkState::Online {
                        tracing::info!(identifier = %heartbeat.identifier, "device online");
                    }
                    changed
                });
            }
            DeviceMessage::CommandResult(result) => {
                // Recorded before it is broadcast, so a stream reader that
                // sees it can wait for it at once.
                self.results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(result);
            }
            DeviceMessage::Raw(raw) => {
                self.counters.raw_messages.bump();
                if raw.reason.is_malformed() {
                    self.counters.malformed_messages.bump();
                    tracing::warn!(topic = ?raw.topic, reason = %raw.reason, "malformed message, delivered raw");
                }
            }
            _ => {}
        }
        // No stream listening is fine.
        let _ = self.messages.send(message);
    }
}
