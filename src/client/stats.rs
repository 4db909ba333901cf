//! The client's counters.

use crate::counter::Counter;

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

/// The live counters behind [`ClientStats`].
#[derive(Debug, Default)]
pub(crate) struct ClientCounters {
    pub(crate) messages_received: Counter,
    pub(crate) raw_messages: Counter,
    pub(crate) malformed_messages: Counter,
    pub(crate) lagged_messages: Counter,
    pub(crate) publisher_connections: Counter,
    pub(crate) requests_sent: Counter,
    pub(crate) replies_received: Counter,
    pub(crate) request_timeouts: Counter,
    pub(crate) invalid_replies: Counter,
}

impl ClientCounters {
    pub(crate) fn snapshot(&self) -> ClientStats {
        ClientStats {
            messages_received: self.messages_received.get(),
            raw_messages: self.raw_messages.get(),
            malformed_messages: self.malformed_messages.get(),
            lagged_messages: self.lagged_messages.get(),
            publisher_connections: self.publisher_connections.get(),
            requests_sent: self.requests_sent.get(),
            replies_received: self.replies_received.get(),
            request_timeouts: self.request_timeouts.get(),
            invalid_replies: self.invalid_replies.get(),
        }
    }
}
