//! Replies a delegate sends later ([`crate::RequestContext::defer`]): the
//! handle the app keeps, and the command thread's table of requests waiting
//! for one. The command thread goes on serving other peers meanwhile; each
//! request still gets exactly one reply: the app's, or the timeout reply at
//! its deadline, or an error reply when the app drops the handle unsent or
//! the service stops.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::pending::CompletionHandle;
use super::publisher::Publisher;
use crate::transport::device::{Doorbell, Request};
use crate::{ApiCommandRequestResponse, Command, Error, SigningKey};

/// The error code of the reply a peer gets when the app did not send its
/// deferred reply in time (FAILED, SYSTEM_ERROR), as HTTP's 408; refusals
/// of signed commands use 401, 403 and 409 the same way.
pub const ERROR_CODE_REPLY_TIMEOUT: i64 = 408;

/// Where deferred replies go: a channel to the command thread and the bell
/// that wakes it. One per running service.
pub(crate) struct ReplyLine {
    sender: Sender<Settled>,
    bell: Doorbell,
    next_id: AtomicU64,
}

impl ReplyLine {
    /// The line, and the receiving end the command thread keeps.
    pub(crate) fn new(bell: Doorbell) -> (Arc<Self>, Receiver<Settled>) {
        let (sender, receiver) = mpsc::channel();
        let line = Self {
            sender,
            bell,
            next_id: AtomicU64::new(0),
        };
        (Arc::new(line), receiver)
    }
}

/// What the app did with a deferred reply, as the command thread learns it.
pub(crate) struct Settled {
    id: u64,
    outcome: Outcome,
}

pub(crate) enum Outcome {
    /// The app's reply.
    Reply(ApiCommandRequestResponse),
    /// Every handle was dropped unsent.
    Dropped,
}

/// The state the handles of one deferred reply share.
struct Shared {
    id: u64,
    command: Command,
    nonce: i64,
    timeout: Duration,
    deadline: Instant,
    line: Arc<ReplyLine>,
    publisher: Publisher,
    accepted: Arc<OnceLock<u64>>,
    /// Set by whoever settles the reply first: the app sending it, the last
    /// handle dropped, or the command thread at the deadline or at stop.
    closed: Arc<AtomicBool>,
}

impl Shared {
    fn settle(&self, outcome: Outcome) {
        let settled = Settled {
            id: self.id,
            outcome,
        };
        // The command thread is gone once the service stopped; it answered
        // the request then.
        if self.line.sender.send(settled).is_ok() {
            if let Err(error) = self.line.bell.ring() {
                tracing::error!(%error, nonce = self.nonce, "cannot wake the command thread for a deferred reply");
            }
        }
    }
}

impl Drop for Shared {
    /// The last handle dropped unsent: the peer gets an error reply now
    /// rather than waiting for the deadline.
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.settle(Outcome::Dropped);
        }
    }
}

/// A request's reply, to be sent later from any thread: get one from
/// [`crate::RequestContext::defer`].
///
/// The peer gets exactly one reply: the one given to [`Self::send`]; or,
/// if none is sent by the [deadline](Self::deadline), FAILED with
/// SYSTEM_ERROR and [`ERROR_CODE_REPLY_TIMEOUT`]; or, if every handle is
/// dropped unsent, EXCEPTION; or, if the service stops first, UNAVAILABLE.
/// Clones (from calling `defer` again) are handles to the same reply.
#[derive(Clone)]
pub struct DeferredReply {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DeferredReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredReply")
            .field("nonce", &self.shared.nonce)
            .field("command", &self.shared.command)
            .field("deadline", &self.shared.deadline)
            .finish_non_exhaustive()
    }
}

impl DeferredReply {
    /// The nonce of the request this answers.
    pub fn nonce(&self) -> i64 {
        self.shared.nonce
    }

    /// The command of the request this answers, named by the service's generation.
    pub fn command(&self) -> Command {
        self.shared.command
    }

    /// When the peer gets the timeout reply if nothing was sent.
    pub fn deadline(&self) -> Instant {
        self.shared.deadline
    }

    /// Whether the reply can still be sent (not sent, not timed out, not
    /// settled at stop).
    pub fn is_open(&self) -> bool {
        !self.shared.closed.load(Ordering::Acquire)
    }

    /// Accepts the command as pending, for a reply of
    /// PENDING_WITH_NOTIFICATION: the handle publishes its COMMAND_RESULT
    /// later. As with [`crate::RequestContext::accept_pending`] (the same
    /// handle if that was called), the acceptance is withdrawn if the reply
    /// sent is not PENDING_WITH_NOTIFICATION, or if none is sent.
    pub fn accept_pending(&self) -> CompletionHandle {
        let shared = &self.shared;
        let id = *shared.accepted.get_or_init(|| {
            shared
                .publisher
                .pending()
                .insert(shared.command, shared.nonce)
        });
        CompletionHandle::new(shared.publisher.clone(), id, shared.command, shared.nonce)
    }

    /// Sends the reply. The command and nonce are the request's, whatever
    /// `response` says.
    ///
    /// # Errors
    /// [`Error::ReplyClosed`] when the reply was settled already: sent
    /// through another handle, timed out, or answered when the service
    /// stopped.
    pub fn send(self, response: ApiCommandRequestResponse) -> Result<(), Error> {
        let shared = &self.shared;
        if shared.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::ReplyClosed {
                nonce: shared.nonce,
            });
        }
        shared.settle(Outcome::Reply(response));
        Ok(())
    }
}

/// Made by [`crate::RequestContext::defer`]: the handle, and what the
/// dispatcher needs to wait for its reply.
pub(crate) fn new_deferred(
    line: &Arc<ReplyLine>,
    command: Command,
    nonce: i64,
    timeout: Duration,
    publisher: Publisher,
    accepted: Arc<OnceLock<u64>>,
) -> DeferredReply {
    let now = Instant::now();
    let deadline = now
        .checked_add(timeout)
        .unwrap_or(now + Duration::from_secs(86_400 * 365));
    DeferredReply {
        shared: Arc::new(Shared {
            id: line.next_id.fetch_add(1, Ordering::Relaxed),
            command,
            nonce,
            timeout,
            deadline,
            line: line.clone(),
            publisher,
            accepted,
            closed: Arc::new(AtomicBool::new(false)),
        }),
    }
}

/// What the dispatcher keeps of a deferred request, to answer it later.
pub(crate) struct Waiting {
    pub id: u64,
    pub command: Command,
    pub nonce: i64,
    pub timeout: Duration,
    pub deadline: Instant,
    pub closed: Arc<AtomicBool>,
    /// The pending registry's id, once the command was accepted as pending.
    pub accepted: Arc<OnceLock<u64>>,
    /// The requester's key, to sign the reply with.
    pub signer: Option<SigningKey>,
    /// When the request was handed to the delegate.
    pub started: Instant,
}

impl DeferredReply {
    /// What the command thread keeps to answer the request.
    pub(crate) fn waiting(&self, signer: Option<SigningKey>, started: Instant) -> Waiting {
        let shared = &self.shared;
        Waiting {
            id: shared.id,
            command: shared.command,
            nonce: shared.nonce,
            timeout: shared.timeout,
            deadline: shared.deadline,
            closed: shared.closed.clone(),
            accepted: shared.accepted.clone(),
            signer,
            started,
        }
    }

    /// Closes the reply without a word to the command thread: the request
    /// was answered at once after all (the delegate panicked after
    /// deferring). Later sends fail; dropping sends nothing.
    pub(crate) fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

/// How a waiting request ended, for the dispatcher to turn into its reply.
pub(crate) enum Ending {
    /// The app settled it (sent or dropped).
    Settled(Outcome),
    /// The deadline passed first.
    TimedOut,
    /// The service is stopping.
    Stopped,
}

/// The requests waiting for a deferred reply, on the command thread.
pub(crate) struct DeferredTable {
    receiver: Receiver<Settled>,
    waiting: HashMap<u64, (Request, Waiting)>,
    /// Deadlines of the requests still open, earliest first.
    deadlines: BTreeSet<(Instant, u64)>,
}

impl DeferredTable {
    pub(crate) fn new(receiver: Receiver<Settled>) -> Self {
        Self {
            receiver,
            waiting: HashMap::new(),
            deadlines: BTreeSet::new(),
        }
    }

    /// Requests waiting for their reply.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    pub(crate) fn insert(&mut self, request: Request, waiting: Waiting) {
        self.deadlines.insert((waiting.deadline, waiting.id));
        self.waiting.insert(waiting.id, (request, waiting));
    }

    /// The earliest deadline of a request still open.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// The requests whose reply arrived, and those whose deadline passed
    /// (closed here, so a late send fails), each with how it ended.
    pub(crate) fn ready(&mut self, now: Instant) -> Vec<(Request, Waiting, Ending)> {
        let mut ready = Vec::new();
        while let Ok(settled) = self.receiver.try_recv() {
            if let Some((request, waiting)) = self.remove(settled.id) {
                ready.push((request, waiting, Ending::Settled(settled.outcome)));
            }
        }
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            let Some((_, waiting)) = self.waiting.get(&id) else {
                continue;
            };
            // Closed already: the app's reply is on its way (it was sent
            // just now); it is taken when its bell rings.
            if !waiting.closed.swap(true, Ordering::AcqRel) {
                if let Some((request, waiting)) = self.remove(id) {
                    ready.push((request, waiting, Ending::TimedOut));
                }
            }
        }
        ready
    }

    /// Everything still waiting, at stop: replies already sent are taken
    /// (waiting briefly for one whose sender is between closing and
    /// sending), the rest end as [`Ending::Stopped`].
    pub(crate) fn drain_at_stop(&mut self) -> Vec<(Request, Waiting, Ending)> {
        let mut ready = self.ready(Instant::now());
        let mut in_flight = 0;
        for (_, waiting) in self.waiting.values() {
            if waiting.closed.swap(true, Ordering::AcqRel) {
                in_flight += 1;
            }
        }
        let give_up = Instant::now() + Duration::from_millis(200);
        while in_flight > 0 {
            let left = give_up.saturating_duration_since(Instant::now());
            let Ok(settled) = self.receiver.recv_timeout(left) else {
                break;
            };
            if let Some((request, waiting)) = self.remove(settled.id) {
                in_flight -= 1;
                ready.push((request, waiting, Ending::Settled(settled.outcome)));
            }
        }
        let ids: Vec<u64> = self.waiting.keys().copied().collect();
        for id in ids {
            if let Some((request, waiting)) = self.remove(id) {
                ready.push((request, waiting, Ending::Stopped));
            }
        }
        ready
    }

    fn remove(&mut self, id: u64) -> Option<(Request, Waiting)> {
        let entry = self.waiting.remove(&id)?;
        self.deadlines.remove(&(entry.1.deadline, id));
        Some(entry)
    }
}
