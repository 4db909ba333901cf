//! Whether the device is alive, judged from its heartbeats.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{Generation, HeartbeatMessage, DEFAULT_HEARTBEAT_INTERVAL};

/// The device's state as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// No heartbeat yet, and not long enough to call the device offline.
    Connecting,
    /// Heartbeats arrive.
    Online,
    /// No heartbeat for [`crate::ClientOptions::missed_heartbeats`] intervals.
    Offline,
}

impl std::fmt::Display for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connecting => "connecting",
            Self::Online => "online",
            Self::Offline => "offline",
        })
    }
}

/// What the client knows about the device's liveness; watch it with
/// [`crate::DeviceClient::liveness`]. Watchers are woken when `state`,
/// `identifier`, `version` or `generation` change; the other fields are kept current
/// without waking them.
#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    /// Online, offline or not known yet.
    pub state: LinkState,
    /// The identifier of the last heartbeat.
    pub identifier: Option<String>,
    /// The library version of the last heartbeat.
    pub version: Option<String>,
    /// The protocol generation the client reads the device with (see
    /// [`crate::DeviceClient::generation`]), as of the last heartbeat.
    pub generation: Option<Generation>,
    /// The heartbeat interval the client assumes (configured or learned).
    pub heartbeat_interval: Duration,
    /// When the last heartbeat arrived.
    pub last_heartbeat: Option<Instant>,
    /// Heartbeats received so far.
    pub heartbeats: u64,
}

/// How many heartbeat spacings the learned interval is the median of: one
/// lost heartbeat or one restart gap does not move it.
const SPACINGS_KEPT: usize = 5;

/// Turns heartbeats and the passing of time into [`Liveness`] changes.
pub(crate) struct HeartbeatTracker {
    configured: Option<Duration>,
    missed: u32,
    spacings: VecDeque<Duration>,
    deadline: Instant,
}

impl HeartbeatTracker {
    pub(crate) fn new(configured: Option<Duration>, missed: u32, now: Instant) -> (Self, Liveness) {
        let mut tracker = Self {
            configured,
            missed,
            spacings: VecDeque::with_capacity(SPACINGS_KEPT),
            deadline: now,
        };
        tracker.deadline = now + tracker.patience();
        let liveness = Liveness {
            state: LinkState::Connecting,
            identifier: None,
            version: None,
            generation: None,
            heartbeat_interval: tracker.interval(),
            last_heartbeat: None,
            heartbeats: 0,
        };
        (tracker, liveness)
    }

    /// The interval assumed now: configured, else the median learned
    /// spacing, else the protocol default.
    pub(crate) fn interval(&self) -> Duration {
        if let Some(interval) = self.configured {
            return interval;
        }
        if self.spacings.is_empty() {
            return DEFAULT_HEARTBEAT_INTERVAL;
        }
        let mut sorted: Vec<Duration> = self.spacings.iter().copied().collect();
        sorted.sort_unstable();
        sorted[sorted.len() / 2]
    }

    fn patience(&self) -> Duration {
        self.interval().saturating_mul(self.missed)
    }

    /// When the state changes by itself if no heartbeat comes; `None` once
    /// offline (only a heartbeat changes it then).
    pub(crate) fn deadline(&self, liveness: &Liveness) -> Option<Instant> {
        (liveness.state != LinkState::Offline).then_some(self.deadline)
    }

    /// Records a heartbeat; true when watchers should be woken.
    pub(crate) fn on_heartbeat(
        &mut self,
        heartbeat: &HeartbeatMessage,
        generation: Option<Generation>,
        now: Instant,
        liveness: &mut Liveness,
    ) -> bool {
        if let Some(last) = liveness.last_heartbeat {
            if self.spacings.len() == SPACINGS_KEPT {
                self.spacings.pop_front();
            }
            self.spacings.push_back(now.saturating_duration_since(last));
        }
        let changed = liveness.state != LinkState::Online
            || liveness.identifier.as_deref() != Some(heartbeat.identifier.as_str())
            || liveness.version.as_deref() != Some(heartbeat.version.as_str())
            || liveness.generation != generation;
        liveness.generation = generation;
        liveness.state = LinkState::Online;
        liveness.identifier = Some(heartbeat.identifier.clone());
        liveness.version = Some(heartbeat.version.clone());
        liveness.last_heartbeat = Some(now);
        liveness.heartbeats += 1;
        liveness.heartbeat_interval = self.interval();
        self.deadline = now + self.patience();
        changed
    }

    /// Applies the passing of time; true when the device just went offline.
    pub(crate) fn on_tick(&mut self, now: Instant, liveness: &mut Liveness) -> bool {
        if liveness.state != LinkState::Offline && now >= self.deadline {
            liveness.state = LinkState::Offline;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(id: &str) -> HeartbeatMessage {
        HeartbeatMessage {
            identifier: id.into(),
            version: "1".into(),
            timestamp: 0.0,
        }
    }

    #[test]
    fn learns_the_interval_and_goes_offline_after_missed_heartbeats() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let (mut tracker, mut live) = HeartbeatTracker::new(None, 3, start);
        assert_eq!(live.state, LinkState::Connecting);
        assert!(tracker.on_heartbeat(&heartbeat("a"), None, start + ms(10), &mut live));
        assert_eq!(live.state, LinkState::Online);
        assert!(!tracker.on_heartbeat(&heartbeat("a"), None, start + ms(110), &mut live));
        assert_eq!(tracker.interval(), ms(100));
        assert!(!tracker.on_tick(start + ms(400), &mut live));
        assert!(tracker.on_tick(start + ms(410), &mut live));
        assert_eq!(live.state, LinkState::Offline);
        assert_eq!(tracker.deadline(&live), None);
        // A restart gap does not move the median much; a new identifier wakes watchers.
        assert!(tracker.on_heartbeat(&heartbeat("b"), None, start + ms(5000), &mut live));
        assert!(!tracker.on_heartbeat(&heartbeat("b"), None, start + ms(5100), &mut live));
        assert_eq!(tracker.interval(), ms(100));
        assert_eq!(live.identifier.as_deref(), Some("b"));
    }

    #[test]
    fn never_heard_of_becomes_offline() {
        let start = Instant::now();
        let (mut tracker, mut live) =
            HeartbeatTracker::new(Some(Duration::from_millis(50)), 2, start);
        assert!(tracker.on_tick(start + Duration::from_millis(100), &mut live));
        assert_eq!(live.state, LinkState::Offline);
    }
}
