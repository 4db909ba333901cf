//! Which generation the client reads the device's codes with: the one it
//! was told ([`crate::ClientOptions::protocol`]), else the one the device's
//! heartbeats announce.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::Generation;

/// Shared by the subscriber thread (which learns from heartbeats), the
/// requester thread and the client's handles (which read).
#[derive(Debug)]
pub(crate) struct ProtocolCell {
    fixed: Option<Generation>,
    detected: AtomicU8,
}

const UNKNOWN: u8 = 0;

fn encode(generation: Generation) -> u8 {
    match generation {
        Generation::V0_9 => 1,
        Generation::V0_12 => 2,
    }
}

fn decode(stored: u8) -> Option<Generation> {
    match stored {
        1 => Some(Generation::V0_9),
        2 => Some(Generation::V0_12),
        _ => None,
    }
}

impl ProtocolCell {
    pub(crate) fn new(fixed: Option<Generation>) -> Self {
        Self {
            fixed,
            detected: AtomicU8::new(UNKNOWN),
        }
    }

    /// The generation codes are read with now; `None` while auto-detecting
    /// and no heartbeat has said.
    pub(crate) fn current(&self) -> Option<Generation> {
        self.fixed
            .or_else(|| decode(self.detected.load(Ordering::Acquire)))
    }

    /// Learns from a heartbeat's `version` (a device may be replaced by one
    /// of another generation behind the same address); returns the current
    /// generation.
    pub(crate) fn on_heartbeat(&self, version: &str) -> Option<Generation> {
        if let Some(announced) = Generation::from_version(version) {
            let before = self.detected.swap(encode(announced), Ordering::AcqRel);
            if self.fixed.is_none() && decode(before) != Some(announced) {
                tracing::info!(%announced, version, "device protocol generation detected");
            }
        }
        self.current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_generation_wins_over_heartbeats() {
        let auto = ProtocolCell::new(None);
        assert_eq!(auto.current(), None);
        assert_eq!(auto.on_heartbeat("0.12.0"), Some(Generation::V0_12));
        assert_eq!(auto.on_heartbeat("not a version"), Some(Generation::V0_12));
        assert_eq!(auto.on_heartbeat("0.9.11"), Some(Generation::V0_9));

        let fixed = ProtocolCell::new(Some(Generation::V0_9));
        assert_eq!(fixed.on_heartbeat("0.12.0"), Some(Generation::V0_9));
    }
}
