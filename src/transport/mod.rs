//! The ZeroMQ transport: every libzmq call of the crate lives here, so another
//! engine could be swapped in by rewriting this one module.
//!
//! The service gets a PUB socket (owned by the publisher thread), a REP socket
//! paired with an in-process stop signal (owned by the command thread), and a
//! [`StopSignal`] to wake the command thread at once when the service stops.

pub(crate) mod client;

use std::time::Duration;

use crate::Error;

/// One libzmq context per service; dropping it (after its sockets) waits up to
/// each socket's linger for queued frames to leave.
pub(crate) struct Transport {
    context: zmq::Context,
}

/// Tuning of the sockets, taken from [`crate::RpcOptions`].
pub(crate) struct SocketTuning {
    pub send_high_water_mark: i32,
    pub linger: Duration,
    pub max_frame_bytes: i64,
}

impl Transport {
    pub(crate) fn new() -> Self {
        Self {
            context: zmq::Context::new(),
        }
    }

    /// Binds a PUB socket on every address at `port` (0 = a free port, the
    /// same for every address). Returns the socket and the bound port.
    pub(crate) fn bind_publisher(
        &self,
        addresses: &[String],
        port: u16,
        tuning: &SocketTuning,
    ) -> Result<(PubSocket, u16), Error> {
        let socket = self.new_socket(zmq::PUB)?;
        socket
            .set_sndhwm(tuning.send_high_water_mark)
            .map_err(transport_error)?;
        socket
            .set_linger(linger_ms(tuning.linger))
            .map_err(transport_error)?;
        let port = bind_all(&socket, addresses, port)?;
        Ok((PubSocket { socket }, port))
    }

    /// Binds a REP socket on every address at `port`, with the in-process
    /// socket its [`StopSignal`] wakes. Returns the socket, the signal and the port.
    pub(crate) fn bind_replier(
        &self,
        addresses: &[String],
        port: u16,
        tuning: &SocketTuning,
    ) -> Result<(RepSocket, StopSignal, u16), Error> {
        let socket = self.new_socket(zmq::REP)?;
        socket
            .set_linger(linger_ms(tuning.linger))
            .map_err(transport_error)?;
        socket
            .set_maxmsgsize(tuning.max_frame_bytes)
            .map_err(transport_error)?;
        let port = bind_all(&socket, addresses, port)?;

        // The stop signal comes in through the REP socket itself: a one-frame
        // request from an in-process REQ whose routing id is a random token
        // (routing ids never reach network peers), sent as the frame. The
        // command thread then blocks in a single recv; polling the REP and a
        // separate stop socket cost about four more system calls per command
        // (measured in benches/rpc.rs, section 1).
        let endpoint = format!("inproc://auto-trainer-api-stop-{}", uuid::Uuid::new_v4());
        socket.bind(&endpoint).map_err(transport_error)?;
        let stop_token = uuid::Uuid::new_v4().as_bytes().to_vec();
        let stop_sender = self.new_socket(zmq::REQ)?;
        stop_sender.set_linger(0).map_err(transport_error)?;
        stop_sender
            .set_identity(&stop_token)
            .map_err(transport_error)?;
        stop_sender.connect(&endpoint).map_err(transport_error)?;
        Ok((
            RepSocket { socket, stop_token },
            StopSignal {
                socket: stop_sender,
            },
            port,
        ))
    }

    fn new_socket(&self, kind: zmq::SocketType) -> Result<zmq::Socket, Error> {
        self.context.socket(kind).map_err(transport_error)
    }
}

fn transport_error(error: zmq::Error) -> Error {
    Error::Transport(error.to_string())
}

fn linger_ms(linger: Duration) -> i32 {
    i32::try_from(linger.as_millis()).unwrap_or(i32::MAX)
}

/// Binds `socket` to `tcp://address:port` for each address; port 0 takes a
/// free port on the first address and reuses it on the others.
fn bind_all(socket: &zmq::Socket, addresses: &[String], port: u16) -> Result<u16, Error> {
    let mut port = port;
    for address in addresses {
        let endpoint = if port == 0 {
            format!("tcp://{address}:*")
        } else {
            format!("tcp://{address}:{port}")
        };
        socket.bind(&endpoint).map_err(|e| Error::Bind {
            endpoint: endpoint.clone(),
            reason: e.to_string(),
        })?;
        if port == 0 {
            port = bound_port(socket)?;
        }
    }
    Ok(port)
}

fn bound_port(socket: &zmq::Socket) -> Result<u16, Error> {
    let endpoint = socket
        .get_last_endpoint()
        .map_err(transport_error)?
        .map_err(|_| Error::Transport("bound endpoint is not UTF-8".into()))?;
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| Error::Transport(format!("cannot read the port of {endpoint}")))
}

/// The PUB socket. Only the publisher thread holds it, so frames of two
/// messages never interleave.
pub(crate) struct PubSocket {
    socket: zmq::Socket,
}

impl PubSocket {
    /// Sends one message: the 4-byte topic frame, then the body. libzmq never
    /// blocks a PUB: a subscriber past its high-water mark misses the message.
    pub(crate) fn send(&self, topic: [u8; 4], body: &[u8]) -> Result<(), Error> {
        self.socket
            .send(&topic[..], zmq::SNDMORE)
            .map_err(transport_error)?;
        self.socket.send(body, 0).map_err(transport_error)
    }
}

/// What the command socket delivered.
pub(crate) enum Incoming {
    /// A request: its frames (a well-behaved REQ sends exactly one).
    Request(Vec<Vec<u8>>),
    /// The service is stopping.
    Stop,
}

/// The REP socket, owned by the command thread, and the frame its
/// [`StopSignal`] sends.
pub(crate) struct RepSocket {
    socket: zmq::Socket,
    stop_token: Vec<u8>,
}

impl RepSocket {
    /// Waits, without any polling interval, for a request or the stop signal.
    pub(crate) fn next(&self) -> Result<Incoming, Error> {
        loop {
            match self.socket.recv_multipart(0) {
                Ok(frames) if frames.len() == 1 && frames[0] == self.stop_token => {
                    return Ok(Incoming::Stop)
                }
                Ok(frames) => return Ok(Incoming::Request(frames)),
                Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(transport_error(e)),
            }
        }
    }

    /// Sends the reply to the request just received.
    pub(crate) fn reply(&self, body: &[u8]) -> Result<(), Error> {
        self.socket.send(body, 0).map_err(transport_error)
    }
}

/// Wakes the command thread so it returns [`Incoming::Stop`].
pub(crate) struct StopSignal {
    socket: zmq::Socket,
}

impl StopSignal {
    /// Sends the socket's routing id as the one frame: the stop token of a
    /// REP's signal (see [`Transport::bind_replier`]); empty for a PAIR.
    pub(crate) fn fire(&self) -> Result<(), Error> {
        let frame = self.socket.get_identity().map_err(transport_error)?;
        self.socket
            .send(&frame[..], zmq::DONTWAIT)
            .map_err(transport_error)
    }
}
