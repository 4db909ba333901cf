//! The HEARTBEAT message.

use serde::{Deserialize, Serialize};

/// Published every `heartbeat_interval` while the service is serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct HeartbeatMessage {
    /// The device's identifier ([`crate::RpcOptions::identifier`]).
    pub identifier: String,
    /// Version of the library that sent it.
    pub version: String,
    /// When it was sent, epoch seconds.
    pub timestamp: f64,
}

impl HeartbeatMessage {
    /// The version this crate puts in its heartbeats.
    pub const LIBRARY_VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// A heartbeat from `identifier`, stamped now.
    pub(crate) fn now(identifier: &str) -> Self {
        Self {
            identifier: identifier.to_owned(),
            version: Self::LIBRARY_VERSION.to_owned(),
            timestamp: super::clock::epoch_seconds(),
        }
    }
}
