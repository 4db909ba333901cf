//! Counters the app can read while the service runs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of the service's counters ([`crate::RpcService::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceStats {
    /// Messages waiting in the publishing queue.
    pub queue_depth: usize,
    /// Room for ordinary messages ([`crate::RpcOptions::queue_capacity`]).
    pub queue_capacity: usize,
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
    /// Messages that could not be serialized or sent.
    pub send_errors: u64,
    /// Command requests received.
    pub requests: u64,
    /// Requests that could not be read (answered with an error reply).
    pub malformed_requests: u64,
    /// Commands still pending.
    pub pending_open: usize,
}

/// The live counters behind [`ServiceStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub queue_depth: AtomicUsize,
    pub accepted: AtomicU64,
    pub published: AtomicU64,
    pub dropped: AtomicU64,
    pub rejected_critical: AtomicU64,
    pub heartbeats_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub requests: AtomicU64,
    pub malformed_requests: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, queue_capacity: usize, pending_open: usize) -> ServiceStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServiceStats {
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            queue_capacity,
            accepted: read(&self.accepted),
            published: read(&self.published),
            dropped: read(&self.dropped),
            rejected_critical: read(&self.rejected_critical),
            heartbeats_sent: read(&self.heartbeats_sent),
            send_errors: read(&self.send_errors),
            requests: read(&self.requests),
            malformed_requests: read(&self.malformed_requests),
            pending_open,
        }
    }
}
