//! The device side's sockets: PUB for published messages, a ROUTER that
//! answers as a REP for commands.

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

    /// Binds the command socket (a ROUTER that behaves as a REP on the
    /// wire, see [`CommandSocket`]) on every address at `port`, with the
    /// in-process sockets that wake it: its [`StopSignal`] and its
    /// [`Doorbell`]. Returns the socket, the signal, the doorbell and the port.
    pub(crate) fn bind_commands(
        &self,
        addresses: &[String],
        port: u16,
        tuning: &SocketTuning,
    ) -> Result<(CommandSocket, StopSignal, Doorbell, u16), Error> {
        let socket = self.new_socket(zmq::ROUTER)?;
        socket
            .set_linger(millis(tuning.linger))
            .and_then(|()| socket.set_maxmsgsize(tuning.max_frame_bytes))
            .and_then(|()| socket.set_rcvhwm(COMMAND_RECEIVE_HIGH_WATER_MARK))
            .map_err(transport_error("tune the command socket"))?;
        let port = bind_all(&socket, addresses, port)?;

        // The stop signal and the doorbell come in through the command socket
        // itself, from in-process sockets whose routing ids are random
        // tokens (network peers cannot guess them). The command thread then
        // blocks in a single recv; polling the socket and separate in-process
        // sockets cost about four more system calls per command (measured in
        // benches/rpc.rs, section 1).
        let endpoint = unique_inproc("commands");
        socket
            .bind(&endpoint)
            .map_err(transport_error("bind the in-process endpoint"))?;
        let stop_token = uuid::Uuid::new_v4().as_bytes().to_vec();
        let stop_sender = self.in_process_peer(zmq::REQ, &stop_token, &endpoint)?;
        let doorbell_token = uuid::Uuid::new_v4().as_bytes().to_vec();
        let doorbell = self.in_process_peer(zmq::DEALER, &doorbell_token, &endpoint)?;
        Ok((
            CommandSocket {
                socket,
                stop_token,
                doorbell_token,
                receive_timeout: std::cell::Cell::new(-1),
            },
            StopSignal {
                socket: stop_sender,
            },
            Doorbell {
                socket: std::sync::Arc::new(std::sync::Mutex::new(doorbell)),
            },
            port,
        ))
    }

    /// A socket of `kind` with routing id `token`, connected to `endpoint`.
    fn in_process_peer(
        &self,
        kind: zmq::SocketType,
        token: &[u8],
        endpoint: &str,
    ) -> Result<zmq::Socket, Error> {
        let socket = self.new_socket(kind)?;
        socket
            .set_linger(0)
            .and_then(|()| socket.set_identity(token))
            .and_then(|()| socket.connect(endpoint))
            .map_err(transport_error("connect an in-process socket"))?;
        Ok(socket)
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
    /// A request, with the route its reply takes.
    Request(Request),
    /// The [`Doorbell`] rang.
    Doorbell,
    /// The service is stopping.
    Stop,
}

/// One request as a REP socket would deliver it: the frames after the
/// empty delimiter (a well-behaved REQ sends exactly one), and the routing
/// frames up to and including the delimiter, which address the reply.
pub(crate) struct Request {
    route: Vec<Vec<u8>>,
    /// The request's frames.
    pub body: Vec<Vec<u8>>,
    /// The peer's address as libzmq reports it (`Peer-Address`), for logs.
    peer: Option<String>,
}

impl Request {
    /// Splits a message read from the ROUTER as libzmq's REP does: routing
    /// frames up to the first empty frame that has more after it. A message
    /// without one is not a request (REP discards it too).
    fn from_frames(mut frames: Vec<Vec<u8>>, peer: Option<String>) -> Option<Self> {
        let delimiter = frames
            .iter()
            .take(frames.len().saturating_sub(1))
            .position(Vec::is_empty)?;
        let body = frames.split_off(delimiter + 1);
        Some(Self {
            route: frames,
            body,
            peer,
        })
    }

    /// The peer's address, when libzmq knows it.
    pub(crate) fn peer(&self) -> Option<&str> {
        self.peer.as_deref()
    }

    /// A request from nowhere with these frames, for tests of what is done
    /// with requests.
    #[cfg(test)]
    pub(crate) fn detached(body: Vec<Vec<u8>>) -> Self {
        Self {
            route: Vec::new(),
            body,
            peer: None,
        }
    }

    /// The request's size in bytes, its frames together.
    pub(crate) fn len(&self) -> usize {
        self.body.iter().map(Vec::len).sum()
    }
}

/// How many complete requests libzmq queues per connection before it stops
/// reading that connection. A REQ peer has one in flight; a DEALER that
/// pipelines more waits on TCP, so a connection holds at most this many
/// requests (and one unfinished frame) in memory.
const COMMAND_RECEIVE_HIGH_WATER_MARK: i32 = 4;

/// The command socket, owned by the command thread, and the routing ids of
/// its [`StopSignal`] and [`Doorbell`].
///
/// It is a ROUTER that keeps REP's wire behaviour (each request answered
/// once, on its route; messages without a delimiter discarded), so that the
/// command thread can read requests ahead and answer an emergency before
/// requests that arrived earlier from other peers.
pub(crate) struct CommandSocket {
    socket: zmq::Socket,
    stop_token: Vec<u8>,
    doorbell_token: Vec<u8>,
    /// The receive timeout set on the socket, in milliseconds (-1: none),
    /// so it is changed only when it must be.
    receive_timeout: std::cell::Cell<i32>,
}

/// How long [`CommandSocket::next`] may wait for something to arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Not at all: `None` when nothing has arrived.
    No,
    /// Until something arrives.
    Forever,
    /// Until something arrives or this instant passes (then `None`).
    Until(std::time::Instant),
}

impl CommandSocket {
    /// The next request, doorbell or stop signal, waiting as `wait` says
    /// (without any polling interval); `None` when nothing arrived in time.
    pub(crate) fn next(&self, wait: Wait) -> Result<Option<Incoming>, Error> {
        let flags = match wait {
            Wait::No => zmq::DONTWAIT,
            Wait::Forever => {
                self.set_receive_timeout(-1)?;
                0
            }
            Wait::Until(deadline) => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                // Rounded up, so the wait never ends just before the deadline.
                let millis = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
                if millis == 0 {
                    return self.next(Wait::No);
                }
                self.set_receive_timeout(millis)?;
                0
            }
        };
        loop {
            // The first frame as a message, for the peer's address libzmq
            // attaches to it; the rest of the message at once.
            let mut first = match self.socket.recv_msg(flags) {
                Ok(first) => first,
                Err(zmq::Error::EINTR) => continue,
                // Nothing arrived (DONTWAIT), or not before the receive timeout.
                Err(zmq::Error::EAGAIN) => return Ok(None),
                Err(e) => return Err(transport_error("receive a request")(e)),
            };
            let peer = first.gets("Peer-Address").map(str::to_owned);
            let mut frames = vec![first.to_vec()];
            let more = self
                .socket
                .get_rcvmore()
                .map_err(transport_error("receive a request"))?;
            if more {
                frames.extend(
                    self.socket
                        .recv_multipart(0)
                        .map_err(transport_error("receive a request"))?,
                );
            }
            match frames.first() {
                Some(id) if id[..] == self.stop_token[..] => return Ok(Some(Incoming::Stop)),
                Some(id) if id[..] == self.doorbell_token[..] => {
                    return Ok(Some(Incoming::Doorbell))
                }
                _ => {}
            }
            if let Some(request) = Request::from_frames(frames, peer) {
                return Ok(Some(Incoming::Request(request)));
            }
        }
    }

    fn set_receive_timeout(&self, millis: i32) -> Result<(), Error> {
        if self.receive_timeout.get() != millis {
            self.socket
                .set_rcvtimeo(millis)
                .map_err(transport_error("set the command socket's receive timeout"))?;
            self.receive_timeout.set(millis);
        }
        Ok(())
    }

    /// Sends the reply to `request` on its route: `frames` (one, or the
    /// envelope and the body of a signed reply). A peer gone meanwhile
    /// misses it, as with REP.
    pub(crate) fn reply(&self, request: Request, frames: &[Vec<u8>]) -> Result<(), Error> {
        let send = || -> Result<(), zmq::Error> {
            for frame in &request.route {
                self.socket.send(&frame[..], zmq::SNDMORE)?;
            }
            self.socket.send_multipart(frames, 0)
        };
        send().map_err(transport_error("send a reply"))
    }
}

/// Wakes the command thread from other threads (the reader thread, the
/// app's threads sending deferred replies): its recv returns
/// [`Incoming::Doorbell`]. Clones ring the same bell; a libzmq socket is
/// used by one thread at a time, hence the lock.
#[derive(Clone)]
pub(crate) struct Doorbell {
    socket: std::sync::Arc<std::sync::Mutex<zmq::Socket>>,
}

impl Doorbell {
    /// Rings once. Rings that the command thread has not read yet wait in
    /// libzmq (a few bytes each); a ring is never lost.
    pub(crate) fn ring(&self) -> Result<(), Error> {
        self.socket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .send_multipart([&b""[..], &b""[..]], 0)
            .map_err(transport_error("ring the doorbell"))
    }
}
