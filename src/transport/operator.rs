//! The operator side's sockets: a SUB socket for published messages, watched
//! by a monitor that says when the device's PUB is connected, and a REQ socket
//! for commands that is thrown away and reopened whenever a reply is lost
//! (the ZeroMQ guide's "Lazy Pirate"). Each is owned by one thread, and a
//! [`StopSignal`] wakes that thread at once when the client closes.

use std::time::{Duration, Instant};

use super::{millis, transport_error, unique_inproc, StopSignal};
use crate::Error;

/// The sockets of a client, made in a context shared with other clients:
/// libzmq contexts are thread-safe and meant to be shared, and each has its
/// own I/O and reaper threads, which a relay with hundreds of clients (the
/// fleet gateway) would otherwise multiply. A context serves
/// [`CLIENTS_PER_CONTEXT`] clients (its socket limit), then a new one is made.
pub(crate) struct OperatorTransport {
    context: zmq::Context,
}

/// Clients per shared context: each client holds 7 sockets (SUB, its
/// monitor pair, REQ, two stop pairs), and a libzmq context allows 1023.
const CLIENTS_PER_CONTEXT: usize = 128;

impl OperatorTransport {
    pub(crate) fn new() -> Self {
        static CONTEXTS: std::sync::Mutex<Option<(zmq::Context, usize)>> =
            std::sync::Mutex::new(None);
        let mut shared = CONTEXTS.lock().unwrap_or_else(|e| e.into_inner());
        let (context, clients) = match shared.take() {
            Some((context, clients)) if clients < CLIENTS_PER_CONTEXT => (context, clients),
            _ => (zmq::Context::new(), 0),
        };
        *shared = Some((context.clone(), clients + 1));
        Self { context }
    }

    /// A SUB socket connected to `endpoint`, subscribed to each 4-byte topic
    /// prefix (all messages when `prefixes` is empty), with its monitor and
    /// the stop signal of the thread that will own it.
    pub(crate) fn subscriber(
        &self,
        endpoint: &str,
        prefixes: &[[u8; 4]],
        max_message_bytes: i64,
    ) -> Result<(SubSocket, StopSignal), Error> {
        let setup = transport_error("set up the SUB socket");
        let socket = self.context.socket(zmq::SUB).map_err(setup)?;
        let mut tuned = socket
            .set_linger(0)
            .and_then(|()| socket.set_maxmsgsize(max_message_bytes));
        if prefixes.is_empty() {
            tuned = tuned.and_then(|()| socket.set_subscribe(b""));
        }
        for prefix in prefixes {
            tuned = tuned.and_then(|()| socket.set_subscribe(prefix));
        }
        tuned.map_err(transport_error("set up the SUB socket"))?;

        // The reader must be connected before the SUB connects, or the first
        // handshake event would be dropped.
        let monitor_endpoint = unique_inproc("monitor");
        let events = zmq::SocketEvent::HANDSHAKE_SUCCEEDED.to_raw()
            | zmq::SocketEvent::DISCONNECTED.to_raw();
        let monitor = self
            .context
            .socket(zmq::PAIR)
            .and_then(|monitor| {
                socket.monitor(&monitor_endpoint, i32::from(events))?;
                monitor.connect(&monitor_endpoint)?;
                Ok(monitor)
            })
            .map_err(transport_error("monitor the SUB socket"))?;

        socket
            .connect(endpoint)
            .map_err(|e| connect_error(endpoint, e))?;
        let (stop_receiver, stop) = self.stop_pair()?;
        Ok((
            SubSocket {
                socket,
                endpoint: endpoint.to_owned(),
                monitor,
                stop_receiver,
                reconnect_due: std::cell::Cell::new(None),
                drained: std::cell::Cell::new(0),
            },
            stop,
        ))
    }

    /// A REQ socket for `endpoint` (opened on first use), with the stop
    /// signal of the thread that will own it.
    pub(crate) fn req_socket(
        &self,
        endpoint: &str,
        max_message_bytes: i64,
    ) -> Result<(ReqSocket, StopSignal), Error> {
        let (stop_receiver, stop) = self.stop_pair()?;
        Ok((
            ReqSocket {
                context: self.context.clone(),
                endpoint: endpoint.to_owned(),
                max_message_bytes,
                socket: None,
                stop_receiver,
            },
            stop,
        ))
    }

    fn stop_pair(&self) -> Result<(zmq::Socket, StopSignal), Error> {
        let endpoint = unique_inproc("client-stop");
        let pair = || -> Result<_, zmq::Error> {
            let receiver = self.context.socket(zmq::PAIR)?;
            receiver.bind(&endpoint)?;
            let sender = self.context.socket(zmq::PAIR)?;
            sender.connect(&endpoint)?;
            Ok((receiver, sender))
        };
        let (receiver, sender) = pair().map_err(transport_error("set up a stop signal"))?;
        Ok((receiver, StopSignal { socket: sender }))
    }
}

fn connect_error(endpoint: &str, error: zmq::Error) -> Error {
    Error::Connect {
        endpoint: endpoint.to_owned(),
        source: Box::new(error),
    }
}

/// Milliseconds for `zmq::poll` until `deadline` (-1 = wait forever).
fn poll_timeout(deadline: Option<Instant>) -> i64 {
    match deadline {
        None => -1,
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            // Round up so a poll never returns just before its deadline.
            i64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i64::MAX)
        }
    }
}

/// What the SUB thread woke up for.
pub(crate) enum SubEvent {
    /// A published message: all its frames.
    Message(Vec<Vec<u8>>),
    /// A connection to the device's PUB completed its handshake.
    Connected,
    /// The connection to the device's PUB was lost; a new one is under way.
    Disconnected,
    /// The deadline passed with nothing to read.
    Idle,
    /// The client is closing.
    Stop,
}

/// The SUB socket, its monitor and the stop signal's receiving end.
pub(crate) struct SubSocket {
    socket: zmq::Socket,
    endpoint: String,
    monitor: zmq::Socket,
    stop_receiver: zmq::Socket,
    /// When to connect afresh if libzmq has not reconnected by itself.
    reconnect_due: std::cell::Cell<Option<Instant>>,
    /// Messages read in a row without polling.
    drained: std::cell::Cell<u32>,
}

/// Messages read in a row before the stop signal and the monitor are
/// polled again.
const POLL_EVERY: u32 = 64;

/// How long after a lost connection libzmq may take to reconnect by itself
/// (it retries every 100 ms) before the SUB connects afresh.
const RECONNECT_PATIENCE: Duration = Duration::from_secs(1);

impl SubSocket {
    /// Waits until something happens or `deadline` passes (`None`: no deadline).
    pub(crate) fn next(&self, deadline: Option<Instant>) -> Result<SubEvent, Error> {
        loop {
            // Messages already queued are read without polling first (one
            // system call less per message under load); every
            // POLL_EVERY-th one, the stop signal and the monitor are looked
            // at, so a flood cannot hide them.
            let drained = self.drained.get();
            if drained < POLL_EVERY {
                match self.socket.recv_multipart(zmq::DONTWAIT) {
                    Ok(frames) => {
                        self.drained.set(drained + 1);
                        return Ok(SubEvent::Message(frames));
                    }
                    Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {}
                    Err(e) => return Err(transport_error("poll or receive")(e)),
                }
            }
            self.drained.set(0);
            let reconnect_due = self.reconnect_due.get();
            let wake = match (deadline, reconnect_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut items = [
                self.stop_receiver.as_poll_item(zmq::POLLIN),
                self.monitor.as_poll_item(zmq::POLLIN),
                self.socket.as_poll_item(zmq::POLLIN),
            ];
            let ready = match zmq::poll(&mut items, poll_timeout(wake)) {
                Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(transport_error("poll or receive")(e)),
                Ok(ready) => ready,
            };
            if reconnect_due.is_some_and(|due| Instant::now() >= due) {
                self.reconnect_due.set(None);
                self.reconnect();
            }
            if ready == 0 {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    return Ok(SubEvent::Idle);
                }
                continue;
            }
            if items[0].is_readable() {
                return Ok(SubEvent::Stop);
            }
            if items[1].is_readable() {
                if let Some(event) = self.read_monitor()? {
                    return Ok(event);
                }
            }
        }
    }

    /// A monitor message: a 6-byte frame (event id u16 LE, value u32 LE),
    /// then the endpoint.
    fn read_monitor(&self) -> Result<Option<SubEvent>, Error> {
        let frames = match self.monitor.recv_multipart(zmq::DONTWAIT) {
            Ok(frames) => frames,
            Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(None),
            Err(e) => return Err(transport_error("poll or receive")(e)),
        };
        let Some(id) = frames
            .first()
            .and_then(|f| f.get(..2))
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
        else {
            return Ok(None);
        };
        Ok(match zmq::SocketEvent::from_raw(id) {
            zmq::SocketEvent::HANDSHAKE_SUCCEEDED => {
                self.reconnect_due.set(None);
                Some(SubEvent::Connected)
            }
            zmq::SocketEvent::DISCONNECTED => {
                // libzmq reconnects by itself after a network error; ending
                // its session at once (zmq_disconnect) while a message is
                // half-read trips an assertion of libzmq 4.3.4 (fq.cpp
                // `!_more`), so the SUB connects afresh only if it has not.
                self.reconnect_due
                    .set(Some(Instant::now() + RECONNECT_PATIENCE));
                Some(SubEvent::Disconnected)
            }
            _ => None,
        })
    }

    /// Connects afresh after a lost connection that libzmq did not make
    /// again by itself: after a protocol error (a message over
    /// `max_message_bytes`, a garbled frame) its session is gone for good.
    /// Disconnecting the endpoint (ending a session that might still retry)
    /// and connecting it again covers both, with one session at a time.
    fn reconnect(&self) {
        // ENOENT when the session is already gone.
        let _ = self.socket.disconnect(&self.endpoint);
        if let Err(error) = self.socket.connect(&self.endpoint) {
            tracing::error!(%error, endpoint = %self.endpoint, "cannot reconnect to the device's PUB socket");
        }
    }
}

impl Drop for SubSocket {
    fn drop(&mut self) {
        // The monitor is stopped before the SUB closes (its fields drop after
        // this). libzmq's I/O thread reports a lost connection on the
        // monitor's PAIR socket with a blocking send; a device that goes away
        // while the SUB is being reaped would have it send to a PAIR whose
        // reader is gone, and that send never returns, leaving every client
        // of the shared context deaf.
        // SAFETY: `self.socket` is open until its field drops after this;
        // a null endpoint is libzmq's way to stop monitoring a socket
        // (socket_base_t::monitor: "deregistering monitoring endpoints").
        let result =
            unsafe { zmq_sys::zmq_socket_monitor(self.socket.as_mut_ptr(), std::ptr::null(), 0) };
        if result != 0 {
            tracing::warn!("could not stop the SUB socket's monitor before closing it");
        }
    }
}

/// How a request ended.
pub(crate) enum ReplyWait {
    /// The reply: all its frames (a well-behaved REP sends exactly one).
    Reply(Vec<Vec<u8>>),
    /// No reply before the deadline. The socket was discarded, so a late
    /// reply can never be read as the answer to a later request.
    TimedOut,
    /// The client is closing.
    Stop,
}

/// Sends requests on a REQ socket, one at a time; the socket is replaced
/// after a lost reply (Lazy Pirate).
pub(crate) struct ReqSocket {
    context: zmq::Context,
    endpoint: String,
    max_message_bytes: i64,
    socket: Option<zmq::Socket>,
    stop_receiver: zmq::Socket,
}

impl ReqSocket {
    /// Sends `body` and waits for the reply until `deadline`. On a timeout
    /// the REQ socket is closed (unsent frames dropped at once), and the next
    /// request opens a fresh one.
    pub(crate) fn request(
        &mut self,
        frames: &[Vec<u8>],
        deadline: Instant,
    ) -> Result<ReplyWait, Error> {
        let socket = match self.socket.take() {
            Some(socket) => socket,
            None => self.open()?,
        };
        match self.exchange(&socket, frames, deadline) {
            Ok(wait @ ReplyWait::Reply(_)) => {
                self.socket = Some(socket);
                Ok(wait)
            }
            // Dropping `socket` here is the Lazy Pirate reset.
            other => other,
        }
    }

    fn open(&self) -> Result<zmq::Socket, Error> {
        let socket = self
            .context
            .socket(zmq::REQ)
            .and_then(|socket| {
                socket.set_linger(millis(Duration::ZERO))?;
                socket.set_maxmsgsize(self.max_message_bytes)?;
                Ok(socket)
            })
            .map_err(transport_error("set up the REQ socket"))?;
        socket
            .connect(&self.endpoint)
            .map_err(|e| connect_error(&self.endpoint, e))?;
        Ok(socket)
    }

    fn exchange(
        &self,
        socket: &zmq::Socket,
        frames: &[Vec<u8>],
        deadline: Instant,
    ) -> Result<ReplyWait, Error> {
        if !self.wait(socket, zmq::POLLOUT, deadline)? {
            return Ok(self.stopped_or_timed_out());
        }
        match socket.send_multipart(frames, zmq::DONTWAIT) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => return Ok(ReplyWait::TimedOut),
            Err(e) => return Err(transport_error("poll or receive")(e)),
        }
        loop {
            if !self.wait(socket, zmq::POLLIN, deadline)? {
                return Ok(self.stopped_or_timed_out());
            }
            match socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => return Ok(ReplyWait::Reply(frames)),
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(transport_error("poll or receive")(e)),
            }
        }
    }

    /// Waits for `events` on `socket`; false when the deadline passed or the
    /// stop signal fired (see [`Self::stopped_or_timed_out`]).
    fn wait(
        &self,
        socket: &zmq::Socket,
        events: zmq::PollEvents,
        deadline: Instant,
    ) -> Result<bool, Error> {
        loop {
            let mut items = [
                self.stop_receiver.as_poll_item(zmq::POLLIN),
                socket.as_poll_item(events),
            ];
            match zmq::poll(&mut items, poll_timeout(Some(deadline))) {
                Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(transport_error("poll or receive")(e)),
                Ok(0) => return Ok(false),
                Ok(_) => {}
            }
            if items[0].is_readable() {
                return Ok(false);
            }
            if items[1].get_revents().intersects(events) {
                return Ok(true);
            }
        }
    }

    fn stopped_or_timed_out(&self) -> ReplyWait {
        let mut items = [self.stop_receiver.as_poll_item(zmq::POLLIN)];
        match zmq::poll(&mut items, 0) {
            Ok(n) if n > 0 => ReplyWait::Stop,
            _ => ReplyWait::TimedOut,
        }
    }
}
