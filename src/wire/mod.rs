//! Everything that crosses the wire, as plain data: integer codes, requests,
//! replies, events, heartbeats and payloads, for each protocol generation
//! (`v0_9`, `v0_12`); the camelCase keys of the wire, the protocol's time
//! stamps and default ports, and the exact JSON bytes of the reference.
//! Nothing here knows about sockets or the service.

pub(crate) mod clock;
pub(crate) mod code;
pub(crate) mod command;
pub(crate) mod defaults;
pub(crate) mod event;
pub(crate) mod generation;
pub(crate) mod heartbeat;
pub(crate) mod json;
pub(crate) mod keys;
pub(crate) mod payload;
#[cfg(feature = "schema")]
pub(crate) mod schema;
pub(crate) mod topic;
pub mod v0_12;
pub mod v0_9;
