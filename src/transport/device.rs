//! The device side's sockets: PUB for published messages, REP for commands.

use std::time::Duration;

use super::{millis, transport_error, unique_inproc, StopSignal};
use crate::Error;

/// The largest frame the PUB socket reads from a peer. Subscribers only
/// send subscriptions (a byte and a topic prefix, 4 bytes here); a peer
/// announcing more is disconnected before libzmq buffers it.
const PUB_MAX_INCOMING_BYTES: i64 = 4096;
/// A connection that has not completed the ZMTP handshake by then is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Every connection is sent a ZMTP PING this often and closed when nothing
/// answers in time: a peer that went away, or one that stalls halfway
/// through a frame (its PONG cannot come before the frame ends), is dropped
/// with what libzmq holds for it.
const PEER_PING_INTERVAL: Duration = Duration::from_secs(5);
const PEER_PING_TIMEOUT: Duration = Duration::from_secs(15);

/// One libzmq context per service; dropping it (after its sockets) waits up to
/// each socket's linger for queued frames to leave.
pub(crate) struct DeviceTransport {
    context: zmq::Context,
}

/// Tuning of the sockets, taken from [`crate::RpcOptions`].
pub(crate) struct SocketTuning {
    pub send_high_water_mark: i32,
    pub linger: Duration,
    pub max_frame_bytes: i64,
}

impl DeviceTransport {
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
            .and_then(|()| socket.set_linger(millis(tuning.linger)))
            .and_then(|()| socket.set_maxmsgsize(PUB_MAX_INCOMING_BYTES))
            .map_err(transport_error("tune the PUB socket"))?;
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
            .set_linger(millis(tuning.linger))
            .and_then(|()| socket.set_maxmsgsize(tuning.max_frame_bytes))
            .map_err(transport_error("tune the REP socket"))?;
        let port = bind_all(&socket, addresses, port)?;

        // The stop signal comes in through the REP socket itself: a one-frame
        // request from an in-process REQ whose routing id is a random token
        // (routing ids never reach network peers), sent as the frame. The
        // command thread then blocks in a single recv; polling the REP and a
        // separate stop socket cost about four more system calls per command
        // (measured in benches/rpc.rs, section 1).
        let endpoint = unique_inproc("stop");
        socket
            .bind(&endpoint)
            .map_err(transport_error("bind the stop endpoint"))?;
        let stop_token = uuid::Uuid::new_v4().as_bytes().to_vec();
        let stop_sender = self.new_socket(zmq::REQ)?;
        let setup = transport_error("set up the stop signal");
        stop_sender
            .set_linger(0)
            .and_then(|()| stop_sender.set_identity(&stop_token))
            .and_then(|()| stop_sender.connect(&endpoint))
            .map_err(setup)?;
        Ok((
            RepSocket { socket, stop_token },
            StopSignal {
                socket: stop_sender,
            },
            port,
        ))
    }

    /// A socket that drops peers which do not finish their handshake or
    /// stop answering pings.
    fn new_socket(&self, kind: zmq::SocketType) -> Result<zmq::Socket, Error> {
        let socket = self
            .context
            .socket(kind)
            .map_err(transport_error("create a socket"))?;
        socket
            .set_handshake_ivl(millis(HANDSHAKE_TIMEOUT))
            .and_then(|()| socket.set_heartbeat_ivl(millis(PEER_PING_INTERVAL)))
            .and_then(|()| socket.set_heartbeat_timeout(millis(PEER_PING_TIMEOUT)))
            .map_err(transport_error("set the peer timeouts"))?;
        Ok(socket)
    }
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
        if let Err(error) = socket.bind(&endpoint) {
            return Err(Error::Bind {
                endpoint,
                source: Box::new(error),
            });
        }
        if port == 0 {
            port = bound_port(socket)?;
        }
    }
    Ok(port)
}

fn bound_port(socket: &zmq::Socket) -> Result<u16, Error> {
    let read = transport_error("read the bound port");
    let endpoint = socket
        .get_last_endpoint()
        .map_err(read)?
        // libzmq writes endpoints in ASCII; a non-UTF-8 one is no endpoint.
        .unwrap_or_default();
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| transport_error("read the bound port")(zmq::Error::EINVAL))
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
            .and_then(|()| self.socket.send(body, 0))
            .map_err(transport_error("send a published message"))
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
                Err(e) => return Err(transport_error("receive a request")(e)),
            }
        }
    }

    /// Sends the reply to the request just received.
    pub(crate) fn reply(&self, body: &[u8]) -> Result<(), Error> {
        self.socket
            .send(body, 0)
            .map_err(transport_error("send a reply"))
    }
}
