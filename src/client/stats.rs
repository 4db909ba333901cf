//! The client's counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`crate::DeviceClient`] has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Published messages received (all topics, decoded or not).
    pub messages_received: u64,
    /// Messages delivered raw: unknown topics and malformed messages.
    pub raw_messages: u64,
    /// Messages that broke the protocol (wrong frame count, bad topic frame,
    /// undecodable body); each is logged and delivered raw.
    pub malformed_messages: u64,
    /// Messages skipped by message streams that fell behind.
    pub lagged_messages: u64,
    /// Connections made to the device's PUB socket (the first, then one
    /// per reconnection).
    pub publisher_connections: u64,
    /// Request attempts sent (retries included).
    pub requests_sent: u64,
    /// Replies received.
    pub replies_received: u64,
    /// Attempts whose reply did not come in time; each closed and reopened
    /// the command socket.
    pub request_timeouts: u64,
    /// Replies that could not be read or answered another nonce.
    pub invalid_replies: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) messages_received: AtomicU64,
    pub(crate) raw_messages: AtomicU64,
    pub(crate) malformed_messages: AtomicU64,
    pub(crate) lagged_messages: AtomicU64,
    pub(crate) publisher_connections: AtomicU64,
    pub(crate) requests_sent: AtomicU64,
    pub(crate) replies_received: AtomicU64,
    pub(crate) request_timeouts: AtomicU64,
    pub(crate) invalid_replies: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ClientStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            messages_received: get(&self.messages_received),
            raw_messages: get(&self.raw_messages),
            malformed_messages: get(&self.malformed_messages),
            lagged_messages: get(&self.lagged_messages),
            publisher_connections: get(&self.publisher_connections),
            requests_sent: get(&self.requests_sent),
            replies_received: get(&self.replies_received),
            request_timeouts: get(&self.request_timeouts),
            invalid_replies: get(&self.invalid_replies),
        }
    }
}
