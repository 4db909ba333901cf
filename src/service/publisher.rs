//! [`Publisher`]: the app's cloneable handle for publishing and for
//! completing pending commands, from any thread.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::outbox::Outbox;
use super::pending::{PendingCommand, PendingRegistry};
use super::stats::ServiceStats;
use crate::telemetry::ServiceGauges;
use crate::{ApiCommandRequestResponse, ApiEvent, ApiTopic, Error, WireCode};

/// Publishes on a service's PUB socket and completes its pending commands.
///
/// Cheap to clone, `Send` and `Sync`: hand a clone to every worker thread
/// that publishes (for instance one a delegate starts). It does not keep the
/// service alive: once the service is stopped or dropped, every call returns
/// [`Error::NotRunning`]. Calls never wait on the network; they push into a
/// bounded queue (see [`crate::RpcOptions::queue_capacity`] for the overflow
/// policy) and return.
///
/// ```
/// use auto_trainer_api::{ApiEvent, ApiEventKind, RpcOptions, RpcService, ZeroMqRpcService};
///
/// let service = ZeroMqRpcService::new(RpcOptions::loopback());
/// service.start()?;
/// let publisher = service.publisher().clone();
/// let worker = std::thread::spawn(move || {
///     publisher.publish_event(ApiEvent::new(ApiEventKind::TunnelEnter, None))
/// });
/// worker.join().unwrap()?;
/// # Ok::<(), auto_trainer_api::Error>(())
/// ```
#[derive(Clone)]
pub struct Publisher {
    outbox: Outbox,
    pending: Arc<PendingRegistry>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("queue_depth", &self.outbox.counters().queue_depth())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    pub(crate) fn new(outbox: Outbox, pending: Arc<PendingRegistry>) -> Self {
        Self { outbox, pending }
    }

    pub(crate) fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub(crate) fn pending(&self) -> &Arc<PendingRegistry> {
        &self.pending
    }

    /// Publishes `body` as is.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    pub fn publish_bytes(&self, topic: ApiTopic, body: Vec<u8>) -> Result<(), Error> {
        self.outbox.publish_bytes(topic, body)
    }

    /// Publishes `message` as UTF-8 text, as is.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    pub fn publish_str(&self, topic: ApiTopic, message: &str) -> Result<(), Error> {
        self.publish_bytes(topic, message.as_bytes().to_vec())
    }

    /// Publishes a JSON object; keys are camelized, values untouched. On
    /// EVENT with an emergency `kind`, it also goes out on EMERGENCY, first.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    pub fn publish_json(&self, topic: ApiTopic, message: Value) -> Result<(), Error> {
        self.outbox.publish_json(topic, message)
    }

    /// Publishes any serializable value as JSON with camelCase keys.
    ///
    /// # Errors
    /// [`Error::Serialize`] when `message` cannot become JSON,
    /// [`Error::NotRunning`], [`Error::QueueFull`].
    pub fn publish<T: Serialize + ?Sized>(
        &self,
        topic: ApiTopic,
        message: &T,
    ) -> Result<(), Error> {
        self.publish_json(topic, serde_json::to_value(message)?)
    }

    /// Publishes an event on EVENT (and first on EMERGENCY for
    /// `emergencyStop` and `emergencyResume`), written as the service's
    /// generation writes events (`repeat` in 0.12). Its kind may be of
    /// either catalog; its number is what goes out.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    pub fn publish_event<K: WireCode>(&self, event: ApiEvent<K>) -> Result<(), Error> {
        self.outbox.publish_event(event)
    }

    /// Publishes a COMMAND_RESULT the app addressed itself (the reference's
    /// manual way: `command` and `nonce` copied from the request). It settles
    /// the oldest pending command with that nonce, if any.
    ///
    /// # Errors
    /// [`Error::NotRunning`] or [`Error::QueueFull`].
    pub fn publish_command_result(&self, response: ApiCommandRequestResponse) -> Result<(), Error> {
        let settled = self.pending.take_by_nonce(response.nonce);
        let trace = settled.as_ref().map(|(_, entry)| entry.trace());
        self.outbox
            .publish_command_result(response, trace)
            .inspect_err(|_| {
                if let Some((id, entry)) = settled {
                    self.pending.restore(id, entry);
                }
            })
    }

    /// Completes the oldest pending command with `nonce`: publishes
    /// `response` on COMMAND_RESULT addressed to it.
    ///
    /// # Errors
    /// [`Error::UnknownNonce`] when no command with that nonce is pending,
    /// [`Error::NotRunning`], [`Error::QueueFull`] (the command stays pending).
    pub fn complete_pending(
        &self,
        nonce: i64,
        response: ApiCommandRequestResponse,
    ) -> Result<(), Error> {
        let (id, entry) = self
            .pending
            .take_by_nonce(nonce)
            .ok_or(Error::UnknownNonce { nonce })?;
        self.settle(id, entry, response)
    }

    /// Publishes the result of the pending command `id` (already taken from
    /// the registry); it goes back there if the result cannot be queued.
    pub(crate) fn settle(
        &self,
        id: u64,
        entry: super::pending::PendingEntry,
        response: ApiCommandRequestResponse,
    ) -> Result<(), Error> {
        let response = response.for_request(entry.command, entry.nonce);
        self.outbox
            .publish_command_result(response, Some(entry.trace()))
            .inspect_err(|_| self.pending.restore(id, entry))
    }

    /// The commands awaiting their result, oldest first.
    pub fn pending_commands(&self) -> Vec<PendingCommand> {
        self.pending.list()
    }

    /// The service's counters.
    pub fn stats(&self) -> ServiceStats {
        self.outbox
            .counters()
            .snapshot(self.outbox.limits().capacity, self.pending.len())
    }

    /// A reader of the gauges for telemetry that holds the service's state
    /// weakly, so exporting metrics never keeps a dropped service alive.
    pub(crate) fn gauges(&self) -> impl Fn() -> Option<ServiceGauges> + Send + Sync + 'static {
        let counters = Arc::downgrade(self.outbox.counters());
        let pending = Arc::downgrade(&self.pending);
        move || {
            let (counters, pending) = (counters.upgrade()?, pending.upgrade()?);
            Some(ServiceGauges {
                queue_depth: counters.queue_depth() as u64,
                dropped: counters.dropped.get(),
                rejected_critical: counters.rejected_critical.get(),
                pending_open: pending.len() as u64,
            })
        }
    }
}
