//! The HEARTBEAT message.

use serde::{Deserialize, Serialize};

/// Published every `heartbeat_interval` while the service is serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct HeartbeatMessage {
    /// The device's identifier ([`crate::RpcOptions::identifier`]).
    pub identifier: String,
    /// Version of the library that sent it. A Python device sends its
    /// package's version, this crate [`crate::Generation::heartbeat_version`]
    /// (`0.12.0+rust.0.1.0`); [`crate::Generation::from_version`] reads the
    /// generation from either.
    pub version: String,
    /// When it was sent, epoch seconds.
    pub timestamp: f64,
}

impl HeartbeatMessage {
    /// This crate's version, the build metadata of its heartbeats' `version`.
    pub const LIBRARY_VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// A heartbeat from `identifier` speaking `generation`, stamped now.
    pub(crate) fn now(identifier: &str, generation: crate::Generation) -> Self {
        Self {
            identifier: identifier.to_owned(),
            version: generation.heartbeat_version(),
            timestamp: super::clock::epoch_seconds(),
        }
    }
}
