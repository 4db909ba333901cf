//! Time stamps as the protocol writes them.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Now, in seconds since the Unix epoch (the protocol's `when` and `timestamp`).
pub(crate) fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Nanoseconds on a monotonic clock (the protocol's event `index`): it never
/// goes backwards within a process.
pub(crate) fn monotonic_nanos() -> i64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    i64::try_from(origin.elapsed().as_nanos()).unwrap_or(i64::MAX)
}
