//! The operator side: [`DeviceClient`] commands a device and follows what
//! it publishes.
//!
//! libzmq sockets are synchronous and belong to one thread each, so the
//! client runs two threads: the **requester** owns the REQ socket and sends
//! commands one at a time; the **subscriber** owns the SUB socket, decodes
//! messages, tracks liveness and records command results. The async methods
//! only talk to them through tokio channels, so any tokio runtime (even a
//! current-thread one) drives the client, and [`BlockingDeviceClient`] wraps
//! it for code without one.
//!
//! ## Retry policy (Lazy Pirate)
//!
//! Each attempt of a command waits [`ClientOptions::request_timeout`] for its
//! reply (or [`CommandCall::timeout`]). When none comes, the REQ socket is
//! closed and a fresh one opened, so a lost reply never wedges the client and
//! a late reply can never be read as the answer to a later request (replies
//! are also checked against the request's nonce). The command is then sent
//! again, with the same nonce, up to [`ClientOptions::retries`] more times:
//! **0 by default**, because the device may have carried out a command whose
//! reply was lost, and `START_ACQUISITION` twice is not the same as once. Use
//! retries for idempotent commands such as `GET_STATUS`. After the last
//! attempt the call fails with [`crate::Error::RequestTimeout`].
//!
//! ## Nonces and pending commands
//!
//! The client numbers its requests from a random start, so two consoles on
//! one device are unlikely to share nonces. A reply of
//! `PENDING_WITH_NOTIFICATION` means the result follows on COMMAND_RESULT;
//! [`DeviceClient::wait_for_result`] awaits it by nonce. Results are kept
//! (up to [`ClientOptions::result_capacity`]) from the moment they arrive, so
//! one that comes before the caller starts waiting is not lost. Before a
//! command is sent, the client waits (up to half its timeout, at most 1 s)
//! for its SUB socket to be connected, so the result cannot be published
//! before the client listens.
//!
//! ```no_run
//! use std::time::Duration;
//! use auto_trainer_api::{ApiCommand, ApiCommandRequestResult, ClientOptions, DeviceClient};
//!
//! # async fn demo() -> Result<(), auto_trainer_api::Error> {
//! let client = DeviceClient::connect(ClientOptions::new("rig-7.lab"))?;
//! let mut messages = client.subscribe();
//! let reply = client.send_command(ApiCommand::StartAcquisition, None).await?;
//! if reply.result == ApiCommandRequestResult::PendingWithNotification {
//!     let result = client.wait_for_result(reply.nonce, Duration::from_secs(30)).await?;
//!     println!("acquisition start: {}", result.result);
//! }
//! while let Some(message) = messages.recv().await {
//!     println!("{message:?}");
//! }
//! # Ok(()) }
//! ```

mod blocking;
mod liveness;
mod message;
mod options;
mod protocol;
mod requester;
mod results;
mod stats;
mod subscriber;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use self::blocking::BlockingDeviceClient;
pub use self::liveness::{LinkState, Liveness};
pub use self::message::{
    decode_message, DeviceMessage, ForwardedReply, RawMessage, RawReason, ReceivedFrames,
};
pub use self::options::{ClientOptions, CommandCall};
pub use self::results::AwaitedCommand;
pub use self::stats::ClientStats;

use self::liveness::HeartbeatTracker;
use self::protocol::ProtocolCell;
use self::requester::{Answered, Call};
use self::results::ResultBook;
use self::stats::ClientCounters;
use self::subscriber::Subscriber;
use crate::threads;
use crate::transport::operator::OperatorTransport;
use crate::transport::StopSignal;
use crate::{
    ApiCommandRequest, ApiCommandRequestResponse, ApiCommandRequestResult,
    ApiCommandRequestServiceResponse, ApiTopic, Command, Error, Generation,
};

/// Calls queued for the requester thread before `send` waits for room.
const CALL_QUEUE: usize = 64;

/// The longest a command waits for the SUB socket to connect before it is
/// sent anyway: a handshake takes milliseconds, so a PUB port that has not
/// answered by then is down.
const SUBSCRIBER_PATIENCE: Duration = Duration::from_secs(1);

/// A connection to one device: commands on its REQ port, messages from its
/// PUB port. Cheap to clone (clones share the connection); the connection
/// closes with [`DeviceClient::close`] or when the last clone is dropped.
#[derive(Clone)]
pub struct DeviceClient {
    inner: Arc<Inner>,
}

struct Inner {
    options: ClientOptions,
    calls: Mutex<Option<mpsc::Sender<Call>>>,
    messages: Mutex<Option<broadcast::Sender<DeviceMessage>>>,
    frames: Mutex<Option<broadcast::Sender<ReceivedFrames>>>,
    liveness: watch::Receiver<Liveness>,
    connected: watch::Receiver<bool>,
    results: Arc<Mutex<ResultBook>>,
    counters: Arc<ClientCounters>,
    protocol: Arc<ProtocolCell>,
    next_nonce: AtomicI64,
    stops: Mutex<Vec<StopSignal>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for DeviceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceClient")
            .field("host", &self.inner.options.host)
            .field("subscriber_port", &self.inner.options.subscriber_port)
            .field("command_port", &self.inner.options.command_port)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data stays consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl DeviceClient {
    /// Starts connecting to the device. Returns at once: ZeroMQ connects
    /// (and reconnects) in the background, so the device may come up later.
    ///
    /// # Errors
    /// [`Error::InvalidOptions`] when the options are invalid,
    /// [`Error::Connect`] when the host cannot be used in an address,
    /// [`Error::Transport`] when libzmq cannot be set up, [`Error::Spawn`]
    /// when a thread cannot start.
    pub fn connect(options: ClientOptions) -> Result<Self, Error> {
        options.validate()?;
        let (pub_endpoint, cmd_endpoint) = options.endpoints();
        let max_bytes = i64::try_from(options.max_message_bytes).unwrap_or(i64::MAX);
        let prefixes: Vec<[u8; 4]> =
            if options.topics.is_empty() || options.topics.contains(&ApiTopic::Any) {
                Vec::new()
            } else {
                let mut prefixes = Vec::new();
                let always = [ApiTopic::Heartbeat, ApiTopic::CommandResult];
                for topic in options.topics.iter().chain(&always) {
                    if !prefixes.contains(&topic.to_frame()) {
                        prefixes.push(topic.to_frame());
                    }
                }
                prefixes
            };

        let transport = OperatorTransport::new();
        let (sub_socket, sub_stop) = transport.subscriber(&pub_endpoint, &prefixes, max_bytes)?;
        let (req_socket, req_stop) = transport.req_socket(&cmd_endpoint, max_bytes)?;

        let (tracker, initial) = HeartbeatTracker::new(
            options.heartbeat_interval,
            options.missed_heartbeats,
            Instant::now(),
        );
        let (liveness_tx, liveness) = watch::channel(initial);
        let (connected_tx, connected) = watch::channel(false);
        let (messages_tx, _) = broadcast::channel(options.message_buffer);
        let (frames_tx, _) = broadcast::channel(options.message_buffer);
        let (calls_tx, calls_rx) = mpsc::channel(CALL_QUEUE);
        let results = Arc::new(Mutex::new(ResultBook::new(options.result_capacity)));
        let counters = Arc::new(ClientCounters::default());
        let protocol = Arc::new(ProtocolCell::new(options.protocol));

        let subscriber = Subscriber {
            socket: sub_socket,
            tracker,
            liveness: liveness_tx,
            connected: connected_tx,
            messages: messages_tx.clone(),
            frames: frames_tx.clone(),
            results: results.clone(),
            counters: counters.clone(),
            protocol: protocol.clone(),
        };
        let sub_thread = threads::spawn("client-sub", move || subscriber.run())?;
        let (req_counters, req_protocol) = (counters.clone(), protocol.clone());
        let signing = options.signing.clone();
        let req_thread = threads::spawn("client-req", move || {
            requester::run(req_socket, calls_rx, req_counters, req_protocol, signing)
        });
        let req_thread = match req_thread {
            Ok(thread) => thread,
            Err(error) => {
                let _ = sub_stop.fire();
                let _ = sub_thread.join();
                return Err(error);
            }
        };

        tracing::debug!(%pub_endpoint, %cmd_endpoint, "device client connecting");
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                calls: Mutex::new(Some(calls_tx)),
                messages: Mutex::new(Some(messages_tx)),
                frames: Mutex::new(Some(frames_tx)),
                liveness,
                connected,
                results,
                counters,
                protocol,
                next_nonce: AtomicI64::new(first_nonce()),
                stops: Mutex::new(vec![sub_stop, req_stop]),
                threads: Mutex::new(vec![sub_thread, req_thread]),
            }),
        })
    }

    /// Sends `command` with optional `data` (snake_case keys) and returns the
    /// device's reply, whatever its result. See [`Self::send`].
    ///
    /// # Errors
    /// As [`Self::send`].
    pub async fn send_command(
        &self,
        command: impl Into<Command>,
        data: Option<Value>,
    ) -> Result<ApiCommandRequestServiceResponse, Error> {
        self.send(CommandCall::new(command).maybe_data(data)).await
    }

    /// Sends a command and returns the device's reply, whatever its result
    /// (check [`ApiCommandRequestServiceResponse::result`]). Calls are sent
    /// one at a time, in order; see the module docs for the retry policy.
    /// The reply's command is read with the device's generation
    /// ([`Self::generation`]), else with the one of the call's command.
    ///
    /// # Errors
    /// [`Error::RequestTimeout`] when no attempt got a reply,
    /// [`Error::InvalidReply`] when the reply cannot be read or answers
    /// another nonce, [`Error::ClientClosed`], [`Error::Serialize`] when
    /// `data` cannot become JSON, [`Error::Transport`].
    pub async fn send(
        &self,
        call: impl Into<CommandCall>,
    ) -> Result<ApiCommandRequestServiceResponse, Error> {
        let call = call.into();
        let nonce = self.inner.next_nonce.fetch_add(1, Ordering::Relaxed);
        let mut request = ApiCommandRequest::new(call.command).with_nonce(nonce);
        request.data = call.data;
        request.custom_command = call.custom_command;
        let body = serde_json::to_vec(&request)?;
        let timeout = call.timeout.unwrap_or(self.inner.options.request_timeout);
        let retries = call.retries.unwrap_or(self.inner.options.retries);
        self.call(body, call.command, nonce, timeout, retries)
            .await?
            .checked
    }

    /// Sends a request as bytes, unchanged (what a relay such as a gateway
    /// does with requests it received), and returns the reply's bytes as
    /// the device sent them, with the reply read and checked. The request
    /// must be one a device reads (see
    /// [`ApiCommandRequestServiceResponse::check_request`]); it is signed
    /// when the client has a key, and sent once (no retries).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when `request` is not a command request,
    /// [`Error::RequestTimeout`] when no reply came within `timeout`,
    /// [`Error::ClientClosed`], [`Error::Transport`]. A reply that came but
    /// is wrong (a forged signature, another nonce) is
    /// [`ForwardedReply::reply`]'s error.
    pub async fn forward(
        &self,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<ForwardedReply, Error> {
        let read = ApiCommandRequest::<i64>::parse(&request)
            .map_err(|malformed| Error::InvalidRequest(malformed.message))?;
        let command = Command::read(self.generation(), read.command);
        let answered = self.call(request, command, read.nonce, timeout, 0).await?;
        Ok(ForwardedReply {
            bytes: answered.body,
            reply: answered.checked,
        })
    }

    /// Hands `body` to the requester thread and awaits its reply; a
    /// pending command's nonce is then awaited for its result.
    async fn call(
        &self,
        body: Vec<u8>,
        command: Command,
        nonce: i64,
        timeout: Duration,
        retries: u32,
    ) -> Result<Answered, Error> {
        let inner = &self.inner;
        let sender = lock(&inner.calls).clone().ok_or(Error::ClientClosed)?;
        self.await_subscriber((timeout / 2).min(SUBSCRIBER_PATIENCE))
            .await;
        let (reply_tx, reply_rx) = oneshot::channel();
        sender
            .send(Call {
                body,
                command,
                nonce,
                timeout,
                retries,
                reply: reply_tx,
            })
            .await
            .map_err(|_| Error::ClientClosed)?;
        drop(sender);
        let answered = reply_rx.await.map_err(|_| Error::ClientClosed)??;
        if let Ok(reply) = &answered.checked {
            if reply.result == ApiCommandRequestResult::PendingWithNotification {
                lock(&inner.results).expect(nonce, command);
            }
        }
        Ok(answered)
    }

    /// Waits until the SUB socket is connected, so a COMMAND_RESULT published
    /// right after the reply reaches this client.
    async fn await_subscriber(&self, patience: Duration) {
        let mut connected = self.inner.connected.clone();
        if *connected.borrow() {
            return;
        }
        let waited = tokio::time::timeout(patience, connected.wait_for(|c| *c)).await;
        if waited.is_err() {
            tracing::warn!(
                "the device's PUB port is not connected; sending anyway (a command result could be missed)"
            );
        }
    }

    /// Waits for the COMMAND_RESULT of the request with `nonce` (a reply
    /// that said `PENDING_WITH_NOTIFICATION`). Returns at once if the result
    /// already arrived; any number of callers may wait for the same nonce.
    ///
    /// # Errors
    /// [`Error::ResultTimeout`] when it does not arrive within `timeout` (it
    /// may still come: waiting again is fine), [`Error::ClientClosed`].
    pub async fn wait_for_result(
        &self,
        nonce: i64,
        timeout: Duration,
    ) -> Result<ApiCommandRequestResponse, Error> {
        let receiver = match lock(&self.inner.results).wait(nonce) {
            Ok(result) => return Ok(result),
            Err(receiver) => receiver,
        };
        let outcome = tokio::time::timeout(timeout, receiver).await;
        lock(&self.inner.results).forget_waiter(nonce);
        match outcome {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => Err(Error::ClientClosed),
            Err(_) => Err(Error::ResultTimeout { nonce, timeout }),
        }
    }

    /// The protocol generation the client reads this device's codes with:
    /// [`ClientOptions::protocol`] if set, else the one its last heartbeat
    /// announced; `None` before the first heartbeat.
    pub fn generation(&self) -> Option<Generation> {
        self.inner.protocol.current()
    }

    /// Commands of this client that answered `PENDING_WITH_NOTIFICATION` and
    /// whose result has not arrived yet, oldest first.
    pub fn awaited_commands(&self) -> Vec<AwaitedCommand> {
        lock(&self.inner.results).awaited()
    }

    /// A stream of the messages published from now on. Each stream gets every
    /// message; one that falls more than [`ClientOptions::message_buffer`]
    /// behind skips the oldest (counted in [`ClientStats::lagged_messages`]).
    pub fn subscribe(&self) -> MessageStream {
        let receiver = match lock(&self.inner.messages).as_ref() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1, // closed: the stream ends at once
        };
        MessageStream {
            receiver,
            counters: self.inner.counters.clone(),
        }
    }

    /// A stream of the frames of the messages published from now on,
    /// exactly as received (a relay passes them on unchanged; malformed ones
    /// included). Frames are kept only while such a stream exists; its
    /// buffer and lag are as for [`Self::subscribe`].
    pub fn subscribe_frames(&self) -> FrameStream {
        let receiver = match lock(&self.inner.frames).as_ref() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        };
        FrameStream {
            receiver,
            counters: self.inner.counters.clone(),
        }
    }

    /// The device's liveness, to read or watch (`changed().await`). It ends
    /// (`changed` fails) when the client closes.
    pub fn liveness(&self) -> watch::Receiver<Liveness> {
        self.inner.liveness.clone()
    }

    /// The client's counters.
    pub fn stats(&self) -> ClientStats {
        self.inner.counters.snapshot()
    }

    /// The options the client was created with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Closes the connection for every clone: calls in flight fail with
    /// [`Error::ClientClosed`], message streams end, liveness becomes
    /// offline. Waits for the client's threads (they stop at once).
    /// Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl Inner {
    fn close(&self) {
        for stop in lock(&self.stops).drain(..) {
            let _ = stop.fire();
        }
        lock(&self.calls).take();
        lock(&self.messages).take();
        lock(&self.frames).take();
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

/// A random positive start, far from the 0 and -1 the protocol uses as
/// "absent", with room to count up forever.
fn first_nonce() -> i64 {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    i64::try_from(random & 0x3fff_ffff).unwrap_or(0) + 1
}

/// Frames published by the device, from [`DeviceClient::subscribe_frames`].
#[derive(Debug)]
pub struct FrameStream {
    receiver: broadcast::Receiver<ReceivedFrames>,
    counters: Arc<ClientCounters>,
}

impl FrameStream {
    /// The next message's frames; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<ReceivedFrames> {
        loop {
            match self.receiver.recv().await {
                Ok(frames) => return Some(frames),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    lagged(&self.counters, skipped);
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

fn lagged(counters: &ClientCounters, skipped: u64) {
    counters.lagged_messages.add(skipped);
    tracing::warn!(skipped, "a message stream fell behind and skipped messages");
}

/// Messages published by the device, from [`DeviceClient::subscribe`].
#[derive(Debug)]
pub struct MessageStream {
    receiver: broadcast::Receiver<DeviceMessage>,
    counters: Arc<ClientCounters>,
}

impl MessageStream {
    /// The next message; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<DeviceMessage> {
        loop {
            match self.receiver.recv().await {
                Ok(message) => return Some(message),
                Err(broadcast::error::RecvError::Lagged(skipped)) => self.lagged(skipped),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<DeviceMessage> {
        loop {
            match self.receiver.try_recv() {
                Ok(message) => return Some(message),
                Err(broadcast::error::TryRecvError::Lagged(skipped)) => self.lagged(skipped),
                Err(_) => return None,
            }
        }
    }

    fn lagged(&self, skipped: u64) {
        lagged(&self.counters, skipped);
    }
}
