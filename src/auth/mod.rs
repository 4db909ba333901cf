//! Signed commands (PROTOCOL.md, "Signed commands"): off unless a device is
//! given keys; then every request must carry an envelope signed with one of
//! them (HMAC-SHA256), fresh (within a window of the device's clock), never
//! seen before, and allowed by its key's role. Replies to signed requests
//! are signed with the requester's key. CURVE, ZeroMQ's own answer, is not
//! available: the `zmq` crate builds libzmq without libsodium.

pub(crate) mod envelope;
pub(crate) mod gate;
pub(crate) mod keys;

/// Now, in epoch milliseconds: the `ts` of envelopes.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
