//! The device side: [`RpcService`] and its ZeroMQ implementation.
//!
//! Threads: the app's threads only push into a bounded queue ([`outbox`]);
//! the publisher thread owns the PUB socket and the heartbeat; the command
//! thread owns the REP socket and calls the delegate. No tokio runtime is
//! needed, and an app that runs one can embed the service as well.

pub(crate) mod delegate;
pub(crate) mod dispatch;
pub(crate) mod outbox;
pub(crate) mod pending;
pub(crate) mod publisher;
pub(crate) mod stats;

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::Serialize;
use serde_json::Value;

use self::delegate::{CommandRequestDelegate, DelegateSlot};
use self::dispatch::{Dispatcher, REQUEST_HARD_LIMIT_FACTOR};
use self::outbox::{Outbox, QueueItem};
use self::pending::{PendingCommand, PendingRegistry, ERROR_CODE_STOPPED_WHILE_PENDING};
use self::publisher::Publisher;
use self::stats::{Counters, ServiceStats};
use crate::transport::{Incoming, RepSocket, SocketTuning, StopSignal, Transport};
use crate::{ApiCommandRequestResponse, ApiEvent, ApiOptions, ApiTopic, Error, RpcOptions};

/// A service that publishes events and answers command requests
/// (`RpcService` of the reference).
///
/// Publish calls never wait on the network: they push into a bounded queue
/// (see [`RpcOptions::queue_capacity`] for the overflow policy) and return.
pub trait RpcService: Send + Sync {
    /// Binds the sockets and starts serving. A service starts once.
    ///
    /// # Errors
    /// [`Error::Bind`] when a port is in use or an address is not local,
    /// [`Error::InvalidOptions`], [`Error::AlreadyStarted`]. After a failed
    /// start the service may be started again.
    fn start(&self) -> Result<(), Error>;

    /// Stops serving: the command loop ends, commands still pending get a
    /// FAILED result ([`ERROR_CODE_STOPPED_WHILE_PENDING`]), everything
    /// accepted before is published, then the threads end. Waits for all of
    /// this (at most [`RpcOptions::linger`] for frames to drain); idempotent.
    fn stop(&self);

    /// Whether the service has started and not stopped.
    fn is_running(&self) -> bool;

    /// Sets, replaces (`Some`) or clears (`None`) the command handler. Without
    /// one, requests are answered UNAVAILABLE.
    fn set_command_request_delegate(&self, delegate: Option<Arc<dyn CommandRequestDelegate>>);

    /// Publishes `body` as is.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_bytes(&self, topic: ApiTopic, body: Vec<u8>) -> Result<(), Error>;

    /// Publishes a JSON object; keys are camelized, values untouched. On
    /// EVENT with an emergency `kind`, it also goes out on EMERGENCY, first.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_json(&self, topic: ApiTopic, message: Value) -> Result<(), Error>;

    /// Publishes an event on EVENT (and first on EMERGENCY for
    /// `emergencyStop` and `emergencyResume`).
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_event(&self, event: ApiEvent) -> Result<(), Error>;

    /// Publishes a COMMAND_RESULT the app addressed itself (the reference's
    /// manual way: `command` and `nonce` copied from the request). It settles
    /// the oldest pending command with that nonce, if any.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_command_result(&self, response: ApiCommandRequestResponse) -> Result<(), Error>;

    /// Completes the oldest pending command with `nonce`: publishes `response`
    /// on COMMAND_RESULT addressed to it.
    ///
    /// # Errors
    /// [`Error::UnknownNonce`] when no command with that nonce is pending,
    /// [`Error::NotRunning`], [`Error::QueueFull`].
    fn complete_pending(
        &self,
        nonce: i64,
        response: ApiCommandRequestResponse,
    ) -> Result<(), Error>;

    /// The commands awaiting their result, oldest first.
    fn pending_commands(&self) -> Vec<PendingCommand>;

    /// The service's counters.
    fn stats(&self) -> ServiceStats;

    /// The identifier sent in heartbeats.
    fn identifier(&self) -> &str;

    /// The PUB port: the bound one once started (useful with port 0).
    fn subscriber_port(&self) -> u16;

    /// The REP port: the bound one once started.
    fn command_port(&self) -> u16;

    /// Publishes `message` as UTF-8 text, as is.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    fn publish_str(&self, topic: ApiTopic, message: &str) -> Result<(), Error> {
        self.publish_bytes(topic, message.as_bytes().to_vec())
    }

    /// Publishes any serializable value as JSON with camelCase keys.
    ///
    /// # Errors
    /// [`Error::Serialize`] when `message` cannot become JSON,
    /// [`Error::NotRunning`], [`Error::QueueFull`].
    fn publish<T: Serialize + ?Sized>(&self, topic: ApiTopic, message: &T) -> Result<(), Error>
    where
        Self: Sized,
    {
        self.publish_json(topic, serde_json::to_value(message)?)
    }

    /// Sets the command handler (a closure or any [`CommandRequestDelegate`]).
    fn set_delegate<D: CommandRequestDelegate>(&self, delegate: D)
    where
        Self: Sized,
    {
        self.set_command_request_delegate(Some(Arc::new(delegate)));
    }
}

/// Creates the ZeroMQ service from `options`, or `None` when rpc is absent
/// or disabled (as the reference's `create_api_service`). Start it with
/// [`RpcService::start`].
pub fn create_api_service(options: &ApiOptions) -> Option<ZeroMqRpcService> {
    options
        .rpc
        .as_ref()
        .filter(|rpc| rpc.enable)
        .map(|rpc| ZeroMqRpcService::new(rpc.clone()))
}

enum Lifecycle {
    Created(std::sync::mpsc::Receiver<QueueItem>),
    Running(Running),
    Stopped,
}

struct Running {
    stop_signal: StopSignal,
    command_thread: JoinHandle<()>,
    publisher_thread: JoinHandle<()>,
}

/// The [`RpcService`] over ZeroMQ: a PUB socket for events and a REP socket
/// for commands. Dropping it stops it.
pub struct ZeroMqRpcService {
    options: RpcOptions,
    delegate: Arc<DelegateSlot>,
    pending: Arc<PendingRegistry>,
    counters: Arc<Counters>,
    outbox: Outbox,
    lifecycle: Mutex<Lifecycle>,
    subscriber_port: AtomicU16,
    command_port: AtomicU16,
}

impl ZeroMqRpcService {
    /// A service with these options, not started.
    pub fn new(options: RpcOptions) -> Self {
        let counters = Arc::new(Counters::default());
        let (outbox, queue) = Outbox::new(
            options.queue_capacity,
            options.critical_reserve,
            counters.clone(),
        );
        Self {
            subscriber_port: AtomicU16::new(options.subscriber_port),
            command_port: AtomicU16::new(options.command_port),
            options,
            delegate: Arc::default(),
            pending: Arc::default(),
            counters,
            outbox,
            lifecycle: Mutex::new(Lifecycle::Created(queue)),
        }
    }

    /// The options it was created with.
    pub fn options(&self) -> &RpcOptions {
        &self.options
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        self.lifecycle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn launch(
        &self,
        queue: std::sync::mpsc::Receiver<QueueItem>,
    ) -> Result<Running, (Error, std::sync::mpsc::Receiver<QueueItem>)> {
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
        let transport = Transport::new();
        let bound = options.validate().and_then(|()| {
            let (pub_socket, pub_port) = transport.bind_publisher(
                &options.bind_addresses,
                options.subscriber_port,
                &tuning,
            )?;
            let (rep_socket, stop_signal, cmd_port) =
                transport.bind_replier(&options.bind_addresses, options.command_port, &tuning)?;
            Ok((pub_socket, pub_port, rep_socket, stop_signal, cmd_port))
        });
        let (pub_socket, pub_port, rep_socket, stop_signal, cmd_port) = match bound {
            Ok(bound) => bound,
            Err(error) => return Err((error, queue)),
        };
        self.subscriber_port.store(pub_port, Ordering::Relaxed);
        self.command_port.store(cmd_port, Ordering::Relaxed);

        crate::telemetry::service_started(&options.identifier, &self.counters, &self.pending);
        let command_loop_alive = Arc::new(AtomicBool::new(true));
        let dispatcher = Dispatcher {
            delegate: self.delegate.clone(),
            pending: self.pending.clone(),
            outbox: self.outbox.clone(),
            counters: self.counters.clone(),
            max_request_bytes: options.max_request_bytes,
        };
        let alive = command_loop_alive.clone();
        // Spawning only fails when the OS is out of threads; the service cannot run then.
        let command_thread = std::thread::Builder::new()
            .name("auto-trainer-api-commands".into())
            .spawn(move || serve_commands(rep_socket, dispatcher, alive))
            .expect("cannot spawn the command thread");
        let publisher = Publisher {
            socket: pub_socket,
            queue,
            counters: self.counters.clone(),
            identifier: options.identifier.clone(),
            heartbeat_interval: options.heartbeat_interval,
            command_loop_alive,
        };
        let publisher_thread = std::thread::Builder::new()
            .name("auto-trainer-api-publisher".into())
            .spawn(move || publisher.run())
            .expect("cannot spawn the publisher thread");
        // The transport's context lives on in the sockets the threads own.
        drop(transport);
        Ok(Running {
            stop_signal,
            command_thread,
            publisher_thread,
        })
    }

    fn settle_pending_at_stop(&self) {
        for entry in self.pending.drain() {
            let response = ApiCommandRequestResponse::failed(
                ERROR_CODE_STOPPED_WHILE_PENDING,
                "the service stopped before the command completed",
            )
            .for_request(entry.command, entry.nonce);
            if let Err(error) = self
                .outbox
                .publish_command_result(response, Some(entry.trace()))
            {
                tracing::error!(nonce = entry.nonce, %error, "cannot publish the result of a command pending at stop");
            }
        }
    }
}

/// The command thread: one reply per request until the stop signal.
fn serve_commands(socket: RepSocket, dispatcher: Dispatcher, alive: Arc<AtomicBool>) {
    // Cleared however this thread ends (a panic included), which stops the heartbeat.
    struct AliveGuard(Arc<AtomicBool>);
    impl Drop for AliveGuard {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    let _guard = AliveGuard(alive);
    loop {
        match socket.next() {
            Ok(Incoming::Request(frames)) => {
                let reply = dispatcher.reply_to(&frames);
                if let Err(error) = socket.reply(&reply) {
                    tracing::error!(%error, "cannot send a reply");
                }
            }
            Ok(Incoming::Stop) => break,
            Err(error) => {
                tracing::error!(%error, "command socket failed; command loop ends");
                break;
            }
        }
    }
}

impl RpcService for ZeroMqRpcService {
    fn start(&self) -> Result<(), Error> {
        let mut lifecycle = self.lock();
        let queue = match std::mem::replace(&mut *lifecycle, Lifecycle::Stopped) {
            Lifecycle::Created(queue) => queue,
            other => {
                *lifecycle = other;
                return Err(Error::AlreadyStarted);
            }
        };
        match self.launch(queue) {
            Ok(running) => {
                self.outbox.set_accepting(true);
                *lifecycle = Lifecycle::Running(running);
                tracing::info!(
                    identifier = %self.options.identifier,
                    subscriber_port = self.subscriber_port(),
                    command_port = self.command_port(),
                    "api service started"
                );
                Ok(())
            }
            Err((error, queue)) => {
                *lifecycle = Lifecycle::Created(queue);
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
        self.outbox.set_accepting(false);
        self.outbox.send_stop();
        let _ = running.publisher_thread.join();
        tracing::info!(identifier = %self.options.identifier, "api service stopped");
    }

    fn is_running(&self) -> bool {
        matches!(*self.lock(), Lifecycle::Running(_))
    }

    fn set_command_request_delegate(&self, delegate: Option<Arc<dyn CommandRequestDelegate>>) {
        self.delegate.set(delegate);
    }

    fn publish_bytes(&self, topic: ApiTopic, body: Vec<u8>) -> Result<(), Error> {
        self.outbox.publish_bytes(topic, body)
    }

    fn publish_json(&self, topic: ApiTopic, message: Value) -> Result<(), Error> {
        self.outbox.publish_json(topic, message)
    }

    fn publish_event(&self, event: ApiEvent) -> Result<(), Error> {
        self.outbox.publish_event(event)
    }

    fn publish_command_result(&self, response: ApiCommandRequestResponse) -> Result<(), Error> {
        let settled = self.pending.take_by_nonce(response.nonce);
        let pending = settled.as_ref().map(|(_, entry)| entry.trace());
        self.outbox
            .publish_command_result(response, pending)
            .inspect_err(|_| {
                if let Some((id, entry)) = settled {
                    self.pending.restore(id, entry);
                }
            })
    }

    fn complete_pending(
        &self,
        nonce: i64,
        response: ApiCommandRequestResponse,
    ) -> Result<(), Error> {
        let (id, entry) = self
            .pending
            .take_by_nonce(nonce)
            .ok_or(Error::UnknownNonce { nonce })?;
        let response = response.for_request(entry.command, entry.nonce);
        self.outbox
            .publish_command_result(response, Some(entry.trace()))
            .inspect_err(|_| self.pending.restore(id, entry))
    }

    fn pending_commands(&self) -> Vec<PendingCommand> {
        self.pending.list()
    }

    fn stats(&self) -> ServiceStats {
        self.counters
            .snapshot(self.outbox.capacity(), self.pending.len())
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
