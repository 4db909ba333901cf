//! Commands that answered `PENDING_WITH_NOTIFICATION`, tracked by nonce until
//! their COMMAND_RESULT is published.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::publisher::Publisher;
use crate::telemetry::{self, PendingTrace};
use crate::{ApiCommandRequestResponse, Command, Error};

/// The error code of the FAILED result published for a command still pending
/// when the service stops.
pub const ERROR_CODE_STOPPED_WHILE_PENDING: i64 = -1;

/// A command awaiting its result, as listed by [`crate::RpcService::pending_commands`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCommand {
    /// The request's nonce.
    pub nonce: i64,
    /// The request's command, named by the service's generation.
    pub command: Command,
    /// When the delegate accepted it.
    pub accepted_at: SystemTime,
    /// How long it has been pending.
    pub age: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct PendingEntry {
    pub nonce: i64,
    pub command: Command,
    accepted_at: SystemTime,
    started: Instant,
    trace: PendingTrace,
}

impl PendingEntry {
    /// Time since the command was accepted.
    pub(crate) fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// What telemetry carries to the publication of the command's result.
    pub(crate) fn trace(&self) -> PendingTrace {
        self.trace.clone()
    }
}

/// Open pending commands, in acceptance order. Keyed by an internal id, since
/// clients may reuse nonces.
#[derive(Default)]
pub(crate) struct PendingRegistry {
    entries: Mutex<BTreeMap<u64, PendingEntry>>,
    next_id: AtomicU64,
}

impl PendingRegistry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, PendingEntry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn insert(&self, command: Command, nonce: i64) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = PendingEntry {
            nonce,
            command,
            accepted_at: SystemTime::now(),
            started: Instant::now(),
            trace: telemetry::pending_accepted(command, nonce),
        };
        self.lock().insert(id, entry);
        id
    }

    pub(crate) fn take(&self, id: u64) -> Option<PendingEntry> {
        self.lock().remove(&id)
    }

    pub(crate) fn restore(&self, id: u64, entry: PendingEntry) {
        self.lock().insert(id, entry);
    }

    /// Removes the oldest open command with `nonce`.
    pub(crate) fn take_by_nonce(&self, nonce: i64) -> Option<(u64, PendingEntry)> {
        let mut entries = self.lock();
        let id = entries
            .iter()
            .find(|(_, e)| e.nonce == nonce)
            .map(|(id, _)| *id)?;
        entries.remove(&id).map(|e| (id, e))
    }

    pub(crate) fn drain(&self) -> Vec<(u64, PendingEntry)> {
        std::mem::take(&mut *self.lock()).into_iter().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn list(&self) -> Vec<PendingCommand> {
        self.lock()
            .values()
            .map(|e| PendingCommand {
                nonce: e.nonce,
                command: e.command,
                accepted_at: e.accepted_at,
                age: e.age(),
            })
            .collect()
    }
}

/// Completes one pending command: publishes its COMMAND_RESULT with the
/// request's command and nonce. Cloneable and `Send`: move it to the thread
/// that does the work. Get one from [`crate::RequestContext::accept_pending`].
#[derive(Clone)]
pub struct CompletionHandle {
    publisher: Publisher,
    id: u64,
    nonce: i64,
    command: Command,
}

impl std::fmt::Debug for CompletionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionHandle")
            .field("nonce", &self.nonce)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl CompletionHandle {
    pub(crate) fn new(publisher: Publisher, id: u64, command: Command, nonce: i64) -> Self {
        Self {
            publisher,
            id,
            nonce,
            command,
        }
    }

    /// The nonce of the request this completes.
    pub fn nonce(&self) -> i64 {
        self.nonce
    }

    /// The command of the request this completes, named by the service's
    /// generation.
    pub fn command(&self) -> Command {
        self.command
    }

    /// Publishes `response` on COMMAND_RESULT, addressed to this command and nonce.
    ///
    /// # Errors
    /// [`Error::AlreadyCompleted`] when this command was completed before
    /// (through any clone of the handle) or settled at stop;
    /// [`Error::NotRunning`] when the service is not running;
    /// [`Error::QueueFull`] when even the critical reserve is full, in which
    /// case the command stays pending and completing can be retried.
    pub fn complete(&self, response: ApiCommandRequestResponse) -> Result<(), Error> {
        let entry = self
            .publisher
            .pending()
            .take(self.id)
            .ok_or(Error::AlreadyCompleted { nonce: self.nonce })?;
        self.publisher.settle(self.id, entry, response)
    }
}
