//! The one counter type behind the service's and the client's statistics:
//! bumped from any thread, read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count. Relaxed ordering: each counter is read
/// on its own, for statistics, never to synchronise other memory.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn bump(&self) {
        self.add(1);
    }

    pub(crate) fn add(&self, amount: u64) {
        self.0.fetch_add(amount, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
