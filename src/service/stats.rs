//! Counters the app can read while the service runs.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::counter::Counter;

/// A snapshot of the service's counters ([`crate::RpcService::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceStats {
    /// Messages waiting in the publishing queue.
    pub queue_depth: usize,
    /// Room for ordinary messages ([`crate::RpcOptions::queue_capacity`]).
    pub queue_capacity: usize,
    /// Estimated memory held by the waiting messages, in bytes (bounded for
    /// ordinary ones by [`crate::RpcOptions::queue_capacity_bytes`]).
    pub queue_bytes: usize,
    /// Messages accepted by publish calls.
    pub accepted: u64,
    /// Messages written to the PUB socket, heartbeats included.
    pub published: u64,
    /// Ordinary messages dropped because the queue was full.
    pub dropped: u64,
    /// Emergency messages and command results refused because even the
    /// critical reserve was full (each caller got [`crate::Error::QueueFull`]).
    pub rejected_critical: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
    /// Heartbeats not sent because the command loop was stuck on one request
    /// for longer than [`crate::RpcOptions::command_stall_limit`].
    pub heartbeats_withheld: u64,
    /// Messages that could not be serialized or sent.
    pub send_errors: u64,
    /// Command requests received.
    pub requests: u64,
    /// Requests that could not be read (answered with an error reply).
    pub malformed_requests: u64,
    /// Signed commands: requests refused without a valid signature (401).
    pub refused_unauthenticated: u64,
    /// Signed commands: requests refused as stale or replayed (409).
    pub refused_stale_or_replayed: u64,
    /// Signed commands: requests refused by their key's role (403).
    pub refused_forbidden: u64,
    /// Commands still pending.
    pub pending_open: usize,
    /// Requests waiting for a deferred reply ([`crate::RequestContext::defer`]).
    pub deferred_open: usize,
    /// Deferred replies not sent in time (the peer got the timeout reply).
    pub deferred_timed_out: u64,
}

/// The live counters behind [`ServiceStats`].
#[derive(Default)]
pub(crate) struct ServiceCounters {
    /// Not [`Counter`]s: they go down as well as up.
    pub queue_depth: AtomicUsize,
    pub queue_bytes: AtomicUsize,
    pub accepted: Counter,
    pub published: Counter,
    pub dropped: Counter,
    pub rejected_critical: Counter,
    pub heartbeats_sent: Counter,
    pub heartbeats_withheld: Counter,
    pub send_errors: Counter,
    pub requests: Counter,
    pub malformed_requests: Counter,
    pub refused_unauthenticated: Counter,
    pub refused_stale_or_replayed: Counter,
    pub refused_forbidden: Counter,
    /// Written by the command thread only.
    pub deferred_open: AtomicUsize,
    pub deferred_timed_out: Counter,
}

impl ServiceCounters {
    /// Counts a request refused with `code` (401, 409 or 403).
    pub(crate) fn refused(&self, code: i64) {
        match code {
            crate::REFUSED_STALE_OR_REPLAYED => self.refused_stale_or_replayed.bump(),
            crate::REFUSED_FORBIDDEN => self.refused_forbidden.bump(),
            _ => self.refused_unauthenticated.bump(),
        }
    }

    pub(crate) fn queue_depth(&self) -> usize {
        self.queue_depth.load(Ordering::Relaxed)
    }

    /// Takes `messages` totalling `bytes` out of the queue's counts.
    pub(crate) fn release(&self, messages: usize, bytes: usize) {
        self.queue_depth.fetch_sub(messages, Ordering::Relaxed);
        self.queue_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, queue_capacity: usize, pending_open: usize) -> ServiceStats {
        ServiceStats {
            queue_depth: self.queue_depth(),
            queue_capacity,
            queue_bytes: self.queue_bytes.load(Ordering::Relaxed),
            accepted: self.accepted.get(),
            published: self.published.get(),
            dropped: self.dropped.get(),
            rejected_critical: self.rejected_critical.get(),
            heartbeats_sent: self.heartbeats_sent.get(),
            heartbeats_withheld: self.heartbeats_withheld.get(),
            send_errors: self.send_errors.get(),
            requests: self.requests.get(),
            malformed_requests: self.malformed_requests.get(),
            refused_unauthenticated: self.refused_unauthenticated.get(),
            refused_stale_or_replayed: self.refused_stale_or_replayed.get(),
            refused_forbidden: self.refused_forbidden.get(),
            pending_open,
            deferred_open: self.deferred_open.load(Ordering::Relaxed),
            deferred_timed_out: self.deferred_timed_out.get(),
        }
    }
}
