//! The device side: [`RpcService`] and its ZeroMQ implementation.
//!
//! Threads: the app's threads only push into a bounded queue ([`outbox`])
//! through a [`Publisher`]; the publisher thread ([`publish_thread`]) owns
//! the PUB socket and the heartbeat; the command thread ([`command_thread`])
//! owns the command socket, answers emergencies first and calls the
//! delegate ([`dispatch`]), with a reader thread that parses large
//! requests. No tokio
//! runtime is needed, and an app that runs one can embed the service as well.

pub(crate) mod command_thread;
pub(crate) mod deferred;
pub(crate) mod delegate;
pub(crate) mod dispatch;
pub(crate) mod options;
pub(crate) mod outbox;
pub(crate) mod pending;
pub(crate) mod publish_thread;
pub(crate) mod publisher;
pub(crate) mod stats;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::Serialize;
use serde_json::Value;

use self::command_thread::{CommandLoopState, Inbox};
use self::deferred::{DeferredTable, ReplyLine};
use self::delegate::{CommandRequestDelegate, DelegateSlot};
use self::dispatch::{Dispatcher, WarningBudget, REQUEST_HARD_LIMIT_FACTOR};
use self::outbox::{Outbox, QueueItem, QueueLimits};
use self::pending::{PendingCommand, ERROR_CODE_STOPPED_WHILE_PENDING};
use self::publish_thread::PublishThread;
use self::publisher::Publisher;
use self::stats::ServiceStats;
use crate::auth::gate::Gate;
use crate::threads;
use crate::transport::device::{DeviceTransport, SocketTuning};
use crate::transport::StopSignal;
use crate::{
    ApiCommandRequestResponse, ApiEvent, ApiOptions, ApiTopic, Catalog, Error, KeyRing, RpcOptions,
    WireCode,
};

/// A service that publishes events and answers command requests
/// (`RpcService` of the reference).
///
/// Publish calls never wait on the network: they push into a bounded queue
/// (see [`RpcOptions::queue_capacity`] for the overflow policy) and return.
/// They are the [`Publisher`]'s, which threads of the app can hold on their own.
pub trait RpcService: Send + Sync {
    /// Binds the sockets and starts serving. A service starts once.
    ///
    /// # Errors
    /// [`Error::Bind`] when a port is in use or an address is not local,
    /// [`Error::InvalidOptions`], [`Error::AlreadyStarted`], [`Error::Spawn`].
    /// After a failed start the service may be started again.
    fn start(&self) -> Result<(), Error>;

    /// Stops serving: the command loop ends, commands still pending get a
    /// FAILED result ([`ERROR_CODE_STOPPED_WHILE_PENDING`]), everything
    /// accepted before is published, then the threads end. Waits for all of
    /// this (at most [`RpcOptions::linger`] for frames to drain); idempotent.
    fn stop(&self);

    /// Whether the service has started and not stopped.
    fn is_running(&self) -> bool;

    /// Sets, replaces (`Some`) or clears (`None`) the command handler, one
    /// that reads commands as bare numbers ([`RpcService::set_delegate`]
    /// takes a delegate of any catalog). Without one, requests are answered
    /// UNAVAILABLE.
    fn set_command_request_delegate(&self, delegate: Option<Arc<dyn CommandRequestDelegate<i64>>>);

    /// The handle through which everything is published; clone it for
    /// threads that publish or complete pending commands.
    fn publisher(&self) -> &Publisher;

    /// The identifier sent in heartbeats.
    fn identifier(&self) -> &str;

    /// The PUB port: the bound one once started (useful with port 0).
    fn subscriber_port(&self) -> u16;

    /// The REP port: the bound one once started.
    fn command_port(&self) -> u16;

    /// [`Publisher::publish_bytes`].
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_bytes(&self, topic: ApiTopic, body: Vec<u8>) -> Result<(), Error> {
        self.publisher().publish_bytes(topic, body)
    }

    /// [`Publisher::publish_str`].
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_str(&self, topic: ApiTopic, message: &str) -> Result<(), Error> {
        self.publisher().publish_str(topic, message)
    }

    /// [`Publisher::publish_json`]: keys camelized, emergencies also on EMERGENCY.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_json(&self, topic: ApiTopic, message: Value) -> Result<(), Error> {
        self.publisher().publish_json(topic, message)
    }

    /// [`Publisher::publish`]: any serializable value.
    ///
    /// # Errors
    /// [`Error::Serialize`], [`Error::NotRunning`], [`Error::QueueFull`].
    fn publish<T: Serialize + ?Sized>(&self, topic: ApiTopic, message: &T) -> Result<(), Error>
    where
        Self: Sized,
    {
        self.publisher().publish(topic, message)
    }

    /// [`Publisher::publish_event`].
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_event<K: WireCode>(&self, event: ApiEvent<K>) -> Result<(), Error>
    where
        Self: Sized,
    {
        self.publisher().publish_event(event)
    }

    /// [`Publisher::publish_command_result`].
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_command_result(&self, response: ApiCommandRequestResponse) -> Result<(), Error> {
        self.publisher().publish_command_result(response)
    }

    /// [`Publisher::complete_pending`].
    ///
    /// # Errors
    /// [`Error::UnknownNonce`], [`Error::NotRunning`], [`Error::QueueFull`].
    fn complete_pending(
        &self,
        nonce: i64,
        response: ApiCommandRequestResponse,
    ) -> Result<(), Error> {
        self.publisher().complete_pending(nonce, response)
    }

    /// [`Publisher::pending_commands`].
    fn pending_commands(&self) -> Vec<PendingCommand> {
        self.publisher().pending_commands()
    }

    /// [`Publisher::stats`].
    fn stats(&self) -> ServiceStats {
        self.publisher().stats()
    }

    /// Sets the command handler (a closure or any [`CommandRequestDelegate`]),
    /// reading commands with its catalog `C`. A catalog of another
    /// generation than the service's ([`RpcOptions::protocol`]) is allowed,
    /// and logged once as a warning: its names will not be the ones the
    /// service's peers mean.
    fn set_delegate<C: Catalog, D: CommandRequestDelegate<C>>(&self, delegate: D)
    where
        Self: Sized,
    {
        let speaks = self.publisher().outbox().generation();
        if let Some(reads) = C::GENERATION.filter(|reads| *reads != speaks) {
            tracing::warn!(%speaks, %reads, "the delegate reads commands with another generation's catalog than the service speaks");
        }
        self.set_command_request_delegate(Some(Arc::new(delegate::Numbered::new(delegate))));
    }
}

/// Creates the ZeroMQ service from `options`, or `None` when rpc is absent
/// or disabled (as the reference's `create_api_service`). Start it with
/// [`RpcService::start`].
///
/// ```
/// use auto_trainer_api::{create_api_service, ApiOptions, RpcService};
///
/// let mut options = ApiOptions::default();
/// assert_eq!(create_api_service(&options).unwrap().command_port(), 5557);
/// options.rpc.as_mut().unwrap().enable = false;
/// assert!(create_api_service(&options).is_none());
/// ```
pub fn create_api_service(options: &ApiOptions) -> Option<ZeroMqRpcService> {
    options
        .rpc
        .as_ref()
        .filter(|rpc| rpc.enable)
        .map(|rpc| ZeroMqRpcService::new(rpc.clone()))
}

enum Lifecycle {
    Created(Receiver<QueueItem>),
    Running(Running),
    Stopped,
}

struct Running {
    stop_signal: StopSignal,
    command_thread: JoinHandle<()>,
    publisher_thread: JoinHandle<()>,
}

/// The [`RpcService`] over ZeroMQ: a PUB socket for events and a REP socket
/// for commands. Dropping it stops it; a [`Publisher`] or a
/// [`crate::CompletionHandle`] held elsewhere does not keep it running.
///
/// ```
/// use auto_trainer_api::*;
///
/// let mut options = RpcOptions::default();
/// # // Run as a test: 127.0.0.1 and free ports, so nothing else is in the way.
/// # let mut options = RpcOptions::loopback();
/// options.identifier = "rig-7".into();
/// let service = ZeroMqRpcService::new(options);
/// service.set_delegate(|request: ApiCommandRequest, _: &RequestContext| match request.command {
///     ApiCommand::GetStatus => ApiCommandRequestResponse::success().with_data(&StatusResponse {
///         app_status: ApiAppStatus::Idle,
///         training_mode: ApiTrainingMode::Manual,
///         animal_id: "m-001".into(),
///     }),
///     _ => ApiCommandRequestResponse::unrecognized(),
/// });
/// service.start()?; // binds 5556 and 5557 on every IPv4 interface
/// service.publish_event(ApiEvent::new(ApiEventKind::ApplicationLaunched, None))?;
/// service.stop();
/// # Ok::<(), Error>(())
/// ```
pub struct ZeroMqRpcService {
    options: RpcOptions,
    delegate: Arc<DelegateSlot>,
    /// Signed commands: which requests get in (every one without keys).
    gate: Arc<Gate>,
    publisher: Publisher,
    lifecycle: Mutex<Lifecycle>,
    subscriber_port: AtomicU16,
    command_port: AtomicU16,
}

impl std::fmt::Debug for ZeroMqRpcService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeroMqRpcService")
            .field("identifier", &self.options.identifier)
            .field("subscriber_port", &self.subscriber_port())
            .field("command_port", &self.command_port())
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl ZeroMqRpcService {
    /// A service with these options, not started.
    pub fn new(options: RpcOptions) -> Self {
        let limits = QueueLimits {
            capacity: options.queue_capacity,
            capacity_bytes: options.queue_capacity_bytes,
            critical_reserve: options.critical_reserve,
        };
        let (outbox, queue) = Outbox::new(limits, Arc::default(), options.protocol);
        let gate = Gate::new(
            options.keys.clone(),
            options.signature_window,
            options.protocol,
        );
        Self {
            subscriber_port: AtomicU16::new(options.subscriber_port),
            command_port: AtomicU16::new(options.command_port),
            options,
            delegate: Arc::default(),
            gate: Arc::new(gate),
            publisher: Publisher::new(outbox, Arc::default()),
            lifecycle: Mutex::new(Lifecycle::Created(queue)),
        }
    }

    /// The options it was created with.
    pub fn options(&self) -> &RpcOptions {
        &self.options
    }

    /// Reads [`RpcOptions::key_file`] again and serves with its keys from
    /// the next request on (key rotation: list the new key and the old one
    /// until every console has the new one, then drop the old). Returns how
    /// many keys it holds. On error the keys in use stay.
    ///
    /// # Errors
    /// [`Error::Keys`] when the file cannot be read or is not a key file;
    /// [`Error::InvalidOptions`] when no key file is configured.
    pub fn reload_keys(&self) -> Result<usize, Error> {
        let path = self
            .options
            .key_file
            .as_ref()
            .ok_or_else(|| Error::InvalidOptions("no key_file to reload keys from".into()))?;
        let ring = KeyRing::load(path)?;
        let count = ring.len();
        self.gate.set_keys(Some(ring));
        tracing::info!(keys = count, file = %path.display(), "signing keys reloaded");
        Ok(count)
    }

    /// Replaces the keys in use (`None`: requests are no longer checked).
    pub fn set_keys(&self, keys: Option<KeyRing>) {
        self.gate.set_keys(keys);
    }

    /// Whether requests must be signed (the service has keys).
    pub fn requires_signatures(&self) -> bool {
        self.gate.is_enabled()
    }

    /// Warns once when commands are served beyond this machine with nobody
    /// checked.
    fn warn_if_open(&self) {
        let loopback = |address: &String| {
            address == "localhost"
                || address == "lo"
                || address
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        };
        if !self.gate.is_enabled() && !self.options.bind_addresses.iter().all(loopback) {
            tracing::warn!(
                bind = ?self.options.bind_addresses,
                command_port = self.command_port(),
                "commands are served beyond this machine without keys: anyone who can reach \
                 the command port can command this device (set RpcOptions::keys or key_file)"
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        self.lifecycle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Binds the sockets and starts both threads. On failure it hands the
    /// queue back so a later start can try again, unless the queue was lost
    /// with a publisher thread that could not start.
    fn launch(
        &self,
        queue: Receiver<QueueItem>,
    ) -> Result<Running, (Error, Option<Receiver<QueueItem>>)> {
        let options = &self.options;
        let tuning = SocketTuning {
            send_high_water_mark: options.send_high_water_mark,
            linger: options.linger,
            max_frame_bytes: i64::try_from(
                options
                    .max_request_bytes
                    .saturating_mul(REQUEST_HARD_LIMIT_FACTOR),
            )
            .unwrap_or(i64::MAX),
        };
        let transport = DeviceTransport::new();
        let bound = options.validate().and_then(|()| {
            let addresses = &options.bind_addresses;
            let publisher =
                transport.bind_publisher(addresses, options.subscriber_port, &tuning)?;
            let commands = transport.bind_commands(addresses, options.command_port, &tuning)?;
            Ok((publisher, commands))
        });
        let ((pub_socket, pub_port), (command_socket, stop_signal, doorbell, cmd_port)) =
            match bound {
                Ok(bound) => bound,
                Err(error) => return Err((error, Some(queue))),
            };

        let command_loop = Arc::new(CommandLoopState::new());
        let (replies, deferred_replies) = ReplyLine::new(doorbell.clone());
        let dispatcher = Dispatcher {
            delegate: self.delegate.clone(),
            publisher: self.publisher.clone(),
            replies,
            warnings: WarningBudget::new(),
            refusal_warnings: WarningBudget::new(),
        };
        let inbox = Inbox::new(options.max_request_bytes, Some(doorbell), self.gate.clone());
        let state = command_loop.clone();
        let deferred = DeferredTable::new(deferred_replies);
        let command_thread = threads::spawn("commands", move || {
            command_thread::serve_commands(command_socket, dispatcher, inbox, deferred, state)
        });
        let command_thread = match command_thread {
            Ok(thread) => thread,
            Err(error) => return Err((error, Some(queue))),
        };
        let publish_thread = PublishThread {
            socket: pub_socket,
            queue,
            counters: self.publisher.outbox().counters().clone(),
            identifier: options.identifier.clone(),
            generation: options.protocol,
            heartbeat_interval: options.heartbeat_interval,
            command_loop,
            stall_limit: options.command_stall_limit,
        };
        let publisher_thread = match threads::spawn("publisher", move || publish_thread.run()) {
            Ok(thread) => thread,
            Err(error) => {
                // The queue was dropped with the thread's closure.
                let _ = stop_signal.fire();
                let _ = command_thread.join();
                return Err((error, None));
            }
        };
        self.subscriber_port.store(pub_port, Ordering::Relaxed);
        self.command_port.store(cmd_port, Ordering::Relaxed);
        crate::telemetry::service_started(&options.identifier, self.publisher.gauges());
        // The transport's context lives on in the sockets the threads own.
        drop(transport);
        Ok(Running {
            stop_signal,
            command_thread,
            publisher_thread,
        })
    }

    fn settle_pending_at_stop(&self) {
        let registry = self.publisher.pending();
        for (id, entry) in registry.drain() {
            let nonce = entry.nonce;
            let response = ApiCommandRequestResponse::failed(
                ERROR_CODE_STOPPED_WHILE_PENDING,
                "the service stopped before the command completed",
            );
            if let Err(error) = self.publisher.settle(id, entry, response) {
                // Not left in the registry: the service is stopping.
                registry.take(id);
                tracing::error!(nonce, %error, "cannot publish the result of a command pending at stop");
            }
        }
    }
}

impl RpcService for ZeroMqRpcService {
    fn start(&self) -> Result<(), Error> {
        let mut lifecycle = self.lock();
        if !matches!(*lifecycle, Lifecycle::Created(_)) {
            return Err(Error::AlreadyStarted);
        }
        if self.options.key_file.is_some() {
            self.reload_keys()?;
        }
        let queue = match std::mem::replace(&mut *lifecycle, Lifecycle::Stopped) {
            Lifecycle::Created(queue) => queue,
            other => {
                *lifecycle = other;
                return Err(Error::AlreadyStarted);
            }
        };
        match self.launch(queue) {
            Ok(running) => {
                self.publisher.outbox().set_accepting(true);
                *lifecycle = Lifecycle::Running(running);
                tracing::info!(
                    identifier = %self.options.identifier,
                    subscriber_port = self.subscriber_port(),
                    command_port = self.command_port(),
                    signed_commands = self.gate.is_enabled(),
                    "api service started"
                );
                self.warn_if_open();
                Ok(())
            }
            Err((error, queue)) => {
                // Without its queue the service cannot start again (a new one can).
                *lifecycle = queue.map_or(Lifecycle::Stopped, Lifecycle::Created);
                Err(error)
            }
        }
    }

    fn stop(&self) {
        let mut lifecycle = self.lock();
        let running = match std::mem::replace(&mut *lifecycle, Lifecycle::Stopped) {
            Lifecycle::Running(running) => running,
            // Not started yet (it may still start, as in the reference) or stopped already.
            other => {
                *lifecycle = other;
                return;
            }
        };
        if let Err(error) = running.stop_signal.fire() {
            tracing::error!(%error, "cannot signal the command thread");
        }
        let _ = running.command_thread.join();
        self.settle_pending_at_stop();
        let outbox = self.publisher.outbox();
        outbox.set_accepting(false);
        outbox.send_stop();
        let _ = running.publisher_thread.join();
        tracing::info!(identifier = %self.options.identifier, "api service stopped");
    }

    fn is_running(&self) -> bool {
        matches!(*self.lock(), Lifecycle::Running(_))
    }

    fn set_command_request_delegate(&self, delegate: Option<Arc<dyn CommandRequestDelegate<i64>>>) {
        self.delegate.set(delegate);
    }

    fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    fn identifier(&self) -> &str {
        &self.options.identifier
    }

    fn subscriber_port(&self) -> u16 {
        self.subscriber_port.load(Ordering::Relaxed)
    }

    fn command_port(&self) -> u16 {
        self.command_port.load(Ordering::Relaxed)
    }
}

impl Drop for ZeroMqRpcService {
    fn drop(&mut self) {
        self.stop();
    }
}
