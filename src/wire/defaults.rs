//! The protocol's defaults, as the reference sets them; the device side and
//! the operator side both start from these.

use std::time::Duration;

/// Default port of the device's PUB socket (events).
pub const DEFAULT_SUBSCRIBER_PORT: u16 = 5556;
/// Default port of the device's REP socket (commands).
pub const DEFAULT_COMMAND_PORT: u16 = 5557;
/// Default device identifier sent in heartbeats.
pub const DEFAULT_IDENTIFIER: &str = "autotrainer-device";
/// Default time between heartbeats.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
