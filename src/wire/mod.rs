//! Everything that crosses the wire: integer codes, requests, replies,
//! events, heartbeats and payloads, and the exact JSON bytes of the reference.

pub(crate) mod code;
pub(crate) mod command;
pub(crate) mod event;
pub(crate) mod heartbeat;
pub(crate) mod json;
pub(crate) mod schema;
pub(crate) mod status;
pub(crate) mod topic;
