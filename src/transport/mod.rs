//! The ZeroMQ transport: every libzmq call of the crate lives here, so another
//! engine could be swapped in by rewriting this one module.
//!
//! [`device`] has the device side's sockets: a PUB socket (owned by the
//! publisher thread) and a command socket (REP on the wire) paired with an in-process stop signal
//! (owned by the command thread). [`operator`] has the operator side's: a SUB
//! socket with a connection monitor and a REQ socket reopened when a reply
//! is lost. Each socket is owned by one thread, and a [`StopSignal`] wakes
//! that thread at once when its owner shuts down.

pub(crate) mod device;
#[cfg(feature = "client")]
pub(crate) mod operator;

use std::time::Duration;

use crate::Error;

/// The error of a libzmq call made to `action`.
pub(crate) fn transport_error(action: &'static str) -> impl FnOnce(zmq::Error) -> Error {
    move |error| Error::Transport {
        action,
        source: Box::new(error),
    }
}

/// A socket option's milliseconds.
fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

/// An in-process endpoint no other socket uses.
fn unique_inproc(what: &str) -> String {
    format!("inproc://auto-trainer-api-{what}-{}", uuid::Uuid::new_v4())
}

/// Wakes the thread that owns a socket so it returns at once.
pub(crate) struct StopSignal {
    socket: zmq::Socket,
}

impl StopSignal {
    /// Sends the socket's routing id as the one frame: the stop token of a
    /// command socket's signal (see [`device::DeviceTransport::bind_commands`]); empty
    /// for a PAIR.
    pub(crate) fn fire(&self) -> Result<(), Error> {
        let frame = self
            .socket
            .get_identity()
            .map_err(transport_error("read the stop signal's identity"))?;
        self.socket
            .send(&frame[..], zmq::DONTWAIT)
            .map_err(transport_error("send the stop signal"))
    }
}
