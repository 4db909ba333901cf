//! The command thread: the one owner of the command socket. One reply per
//! request, until the stop signal. It reads requests ahead, so that an
//! emergency is answered before the requests other peers sent earlier, and
//! keeps serving while deferred replies are outstanding (sending each when
//! the app does, or the timeout reply at its deadline). What it is doing is
//! shared with the publisher thread, so that a heartbeat means "serving".

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::deferred::{DeferredTable, Ending, Waiting};
use super::dispatch::{read_request, Answer, Dispatcher, ReadRequest};
use crate::auth::gate::Gate;
use crate::threads;
use crate::transport::device::{CommandSocket, Doorbell, Incoming, Request, Wait};
use crate::wire::clock::monotonic_nanos;
use crate::wire::command::{is_emergency_command, MalformedRequest};
use crate::ApiCommandRequest;

/// Whether the command loop serves: it runs, and is not stuck on one request.
pub(crate) struct CommandLoopState {
    alive: AtomicBool,
    /// When the request being answered arrived ([`monotonic_nanos`]); -1 when idle.
    busy_since: AtomicI64,
}

impl CommandLoopState {
    pub(crate) fn new() -> Self {
        Self {
            alive: AtomicBool::new(true),
            busy_since: AtomicI64::new(-1),
        }
    }

    /// Whether the loop still runs (it ends at stop, or if its socket fails).
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Whether the loop has spent more than `stall_limit` on the request in hand.
    pub(crate) fn is_stalled(&self, stall_limit: Duration) -> bool {
        let since = self.busy_since.load(Ordering::Acquire);
        let limit = i64::try_from(stall_limit.as_nanos()).unwrap_or(i64::MAX);
        since >= 0 && monotonic_nanos().saturating_sub(since) > limit
    }
}

/// Requests larger than this are read (parsed, keys converted) on the
/// reader thread, so the command thread stays free to answer an emergency
/// meanwhile. Smaller ones cost less to read (well under a millisecond)
/// than to hand over.
const READ_INLINE_MAX_BYTES: usize = 16 * 1024;

/// An answer that took longer than this (200 µs) may have let other
/// requests arrive: the next one is chosen among all that did.
const LOOK_AHEAD_AFTER_NANOS: i64 = 200_000;

/// Requests read ahead of the one being answered, in arrival order.
/// Emergencies leave first; the rest in order. libzmq hands out one message
/// per connection in turn, so with every waiting request read and the large
/// ones read on another thread, an emergency waits only for the delegate
/// call in progress, not for one request per peer.
pub(crate) struct Inbox {
    queued: VecDeque<Queued>,
    bytes: usize,
    limit_bytes: usize,
    max_request_bytes: usize,
    /// `None` when its thread could not be started: then everything is read here.
    reader: Option<Reader>,
    next_ticket: u64,
    /// Lets only signed requests through when the service has keys.
    gate: Arc<Gate>,
}

struct Queued {
    route: Request,
    bytes: usize,
    reading: Reading,
}

/// Where a request's reading stands.
enum Reading {
    /// Small: read on the command thread when answered. Whether it is an
    /// emergency is judged once, when a choice is to be made.
    Here { emergency: Option<bool> },
    /// On the reader thread.
    Away { ticket: u64 },
    /// Read by the reader thread.
    Read(ReadRequest),
}

impl Queued {
    /// Whether it can be answered now.
    fn is_ready(&self) -> bool {
        !matches!(self.reading, Reading::Away { .. })
    }

    fn is_emergency(&mut self) -> bool {
        match &mut self.reading {
            Reading::Here { emergency } => *emergency.get_or_insert_with(|| {
                // The request is the last frame (after the envelope when signed).
                matches!(&self.route.body[..], [frame] | [_, frame] if ApiCommandRequest::is_emergency(frame))
            }),
            Reading::Away { .. } => false,
            Reading::Read(read) => matches!(
                read,
                ReadRequest::Request { request, .. } if is_emergency_command(request.command)
            ),
        }
    }
}

/// The reader thread and the channels to and from it.
struct Reader {
    jobs: Option<Sender<(u64, Vec<Vec<u8>>)>>,
    done: Receiver<(u64, ReadRequest)>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    fn start(
        doorbell: Doorbell,
        max_request_bytes: usize,
        gate: Arc<Gate>,
    ) -> Result<Self, crate::Error> {
        let (jobs, to_read) = mpsc::channel::<(u64, Vec<Vec<u8>>)>();
        let (read, done) = mpsc::channel();
        let thread = threads::spawn("reader", move || {
            for (ticket, frames) in to_read {
                let request = read_request(&frames, max_request_bytes, &gate);
                drop(frames);
                if read.send((ticket, request)).is_err() {
                    break;
                }
                if let Err(error) = doorbell.ring() {
                    tracing::error!(%error, "the reader thread cannot wake the command thread");
                    break;
                }
            }
        })?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for Reader {
    /// Ends the thread once it has read the request in hand.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Inbox {
    /// Requests read ahead at most: a count that keeps the choice cheap.
    const LIMIT_REQUESTS: usize = 256;
    /// Bytes read ahead at most, in requests of the largest size.
    pub(crate) const LIMIT_LARGEST_REQUESTS: usize = 32;

    /// An inbox that stops reading ahead at [`Self::LIMIT_REQUESTS`]
    /// requests or [`Self::LIMIT_LARGEST_REQUESTS`] × `max_request_bytes`
    /// bytes (what is not read waits in libzmq, within its per-connection
    /// bound), and reads large requests on a thread of its own that rings
    /// `doorbell` for each one read.
    pub(crate) fn new(
        max_request_bytes: usize,
        doorbell: Option<Doorbell>,
        gate: Arc<Gate>,
    ) -> Self {
        let reader = doorbell.and_then(|doorbell| {
            Reader::start(doorbell, max_request_bytes, gate.clone())
                .inspect_err(|error| {
                    tracing::warn!(%error, "no reader thread: large requests are read on the command thread")
                })
                .ok()
        });
        Self {
            queued: VecDeque::new(),
            bytes: 0,
            limit_bytes: max_request_bytes.saturating_mul(Self::LIMIT_LARGEST_REQUESTS),
            max_request_bytes,
            reader,
            next_ticket: 0,
            gate,
        }
    }

    fn is_full(&self) -> bool {
        self.queued.len() >= Self::LIMIT_REQUESTS || self.bytes >= self.limit_bytes
    }

    fn push(&mut self, mut request: Request) {
        let bytes = request.len();
        let reading = match &self.reader {
            Some(Reader {
                jobs: Some(jobs), ..
            }) if bytes > READ_INLINE_MAX_BYTES => {
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                match jobs.send((ticket, std::mem::take(&mut request.body))) {
                    Ok(()) => Reading::Away { ticket },
                    // The reader thread ended (it cannot, but then read the request here).
                    Err(mpsc::SendError((_, body))) => {
                        request.body = body;
                        Reading::Here { emergency: None }
                    }
                }
            }
            _ => Reading::Here { emergency: None },
        };
        self.bytes += bytes;
        self.queued.push_back(Queued {
            route: request,
            bytes,
            reading,
        });
    }

    /// Takes in what the reader thread has read; with `wait`, waits for at
    /// least one (there must be one on the way).
    fn collect(&mut self, wait: bool) {
        let Some(reader) = &self.reader else { return };
        let mut next = None;
        if wait {
            match reader.done.recv() {
                Ok(read) => next = Some(read),
                Err(mpsc::RecvError) => return self.reader_lost(),
            }
        }
        while let Some((ticket, read)) = next.take().or_else(|| reader.done.try_recv().ok()) {
            if let Some(queued) = self
                .queued
                .iter_mut()
                .find(|queued| matches!(queued.reading, Reading::Away { ticket: t } if t == ticket))
            {
                queued.reading = Reading::Read(read);
            }
        }
    }

    /// The reader thread ended (it does not, unless it panicked): the
    /// requests it held get an error reply, and the rest are read here.
    #[cold]
    fn reader_lost(&mut self) {
        tracing::error!("the reader thread ended; large requests are read on the command thread");
        self.reader = None;
        for queued in &mut self.queued {
            if let Reading::Away { .. } = queued.reading {
                queued.reading = Reading::Read(ReadRequest::Malformed {
                    error: MalformedRequest::unread(
                        "the request was lost by the service's reader thread".into(),
                    ),
                    signer: None,
                });
            }
        }
    }

    /// The position of the next request to answer: the first emergency
    /// that can be answered, else the oldest request if it can be.
    fn next_ready(&mut self) -> Option<usize> {
        if self.queued.len() > 1 {
            if let Some(position) = self
                .queued
                .iter_mut()
                .position(|queued| queued.is_ready() && queued.is_emergency())
            {
                return Some(position);
            }
        }
        self.queued
            .front()
            .filter(|queued| queued.is_ready())
            .map(|_| 0)
    }

    /// The next request to answer (see [`Self::next_ready`]), with its
    /// reading done, or `None` if none can be answered yet.
    fn pop(&mut self) -> Option<(Request, ReadRequest)> {
        let position = self.next_ready()?;
        let queued = self.queued.remove(position)?;
        self.bytes -= queued.bytes;
        let read = match queued.reading {
            Reading::Read(read) => read,
            _ => read_request(&queued.route.body, self.max_request_bytes, &self.gate),
        };
        Some((queued.route, read))
    }
}

pub(crate) fn serve_commands(
    socket: CommandSocket,
    mut dispatcher: Dispatcher,
    mut inbox: Inbox,
    mut deferred: DeferredTable,
    state: Arc<CommandLoopState>,
) {
    serve_until_stopped(&socket, &mut dispatcher, &mut inbox, &mut deferred, state);
    // Every deferred request gets its reply: the app's if it came, else
    // UNAVAILABLE; later sends fail.
    send_deferred(
        &socket,
        &dispatcher,
        &mut deferred,
        DeferredTable::drain_at_stop,
    );
}

/// Sends the replies of the deferred requests `ready` takes out of the table.
fn send_deferred(
    socket: &CommandSocket,
    dispatcher: &Dispatcher,
    deferred: &mut DeferredTable,
    ready: impl FnOnce(&mut DeferredTable) -> Vec<(Request, Waiting, Ending)>,
) {
    let ready = ready(deferred);
    // Counted before the replies go, so a peer that has its reply sees
    // the stats without it.
    count_deferred_open(dispatcher, deferred);
    for (request, waiting, ending) in ready {
        let reply = dispatcher.settle(waiting, ending);
        if let Err(error) = socket.reply(request, &reply) {
            tracing::error!(%error, "cannot send a deferred reply");
        }
    }
}

/// Updates the stats' count of requests waiting for a deferred reply.
fn count_deferred_open(dispatcher: &Dispatcher, deferred: &DeferredTable) {
    dispatcher
        .publisher
        .outbox()
        .counters()
        .deferred_open
        .store(deferred.len(), Ordering::Relaxed);
}

fn serve_until_stopped(
    socket: &CommandSocket,
    dispatcher: &mut Dispatcher,
    inbox: &mut Inbox,
    deferred: &mut DeferredTable,
    state: Arc<CommandLoopState>,
) {
    // Cleared however this thread ends (a panic included), which stops the heartbeat.
    struct AliveGuard(Arc<CommandLoopState>);
    impl Drop for AliveGuard {
        fn drop(&mut self) {
            self.0.alive.store(false, Ordering::Release);
        }
    }
    let guard = AliveGuard(state);
    let busy_since = &guard.0.busy_since;
    // Whether to read what else has arrived before answering. Looking costs
    // a system call when nothing has (about a tenth of a quick command's
    // round trip), so it is done only when others may be waiting: after an
    // answer that took a while, or while requests are queued.
    let mut look_ahead = false;
    loop {
        // Read what has arrived; wait only when nothing can be answered,
        // and then no longer than the next deferred reply's deadline.
        while !inbox.is_full() {
            let can_answer = inbox.next_ready().is_some();
            if can_answer && !look_ahead && inbox.queued.len() == 1 {
                break;
            }
            let wait = match (can_answer, deferred.next_deadline()) {
                (true, _) => Wait::No,
                (false, Some(deadline)) => Wait::Until(deadline),
                (false, None) => Wait::Forever,
            };
            match socket.next(wait) {
                Ok(Some(Incoming::Request(request))) => inbox.push(request),
                // From the reader thread, or a deferred reply sent.
                Ok(Some(Incoming::Doorbell)) => {
                    inbox.collect(false);
                    if deferred.len() > 0 {
                        break;
                    }
                }
                Ok(None) => break,
                Ok(Some(Incoming::Stop)) => return,
                Err(error) => {
                    tracing::error!(%error, "command socket failed; command loop ends");
                    return;
                }
            }
        }
        if deferred.len() > 0 {
            let now = std::time::Instant::now();
            send_deferred(socket, dispatcher, deferred, |table| table.ready(now));
        }
        let Some((request, read)) = inbox.pop() else {
            if inbox.is_full() {
                // The requests that can go next are on the reader thread.
                inbox.collect(true);
            }
            continue;
        };
        let started = monotonic_nanos();
        busy_since.store(started, Ordering::Release);
        let answer = dispatcher.reply(read, request.peer());
        busy_since.store(-1, Ordering::Release);
        match answer {
            Answer::Now(reply) => {
                if let Err(error) = socket.reply(request, &reply) {
                    tracing::error!(%error, "cannot send a reply");
                }
            }
            Answer::Later(waiting) => {
                let mut request = request;
                // Only the route is needed to reply.
                request.body = Vec::new();
                deferred.insert(request, waiting);
                count_deferred_open(dispatcher, deferred);
            }
        }
        look_ahead = monotonic_nanos().saturating_sub(started) > LOOK_AHEAD_AFTER_NANOS;
    }
}

#[cfg(test)]
mod tests {
    use super::{Inbox, Request};

    fn request(text: &str) -> Request {
        Request::detached(vec![text.as_bytes().to_vec()])
    }

    /// The requests' texts in the order the inbox gives them out.
    fn drain(inbox: &mut Inbox) -> Vec<String> {
        std::iter::from_fn(|| inbox.pop())
            .map(|(request, _)| String::from_utf8_lossy(&request.body[0]).into_owned())
            .collect()
    }

    const ARRIVALS: [&str; 6] = [
        r#"{"command": 400, "nonce": 1}"#,
        r#"{"command": 99999, "nonce": 2, "data": {"command": 200}}"#,
        r#"{"command": 200, "nonce": 3}"#,
        "not json",
        r#"{"nonce": 5, "command": 210}"#,
        r#"{"command": 300, "nonce": 6}"#,
    ];

    /// A gate without keys: every request gets in.
    fn open_gate() -> std::sync::Arc<super::Gate> {
        std::sync::Arc::new(super::Gate::new(
            None,
            std::time::Duration::from_secs(30),
            crate::Generation::V0_9,
        ))
    }

    #[test]
    fn emergencies_leave_first_and_the_rest_in_arrival_order() {
        let mut inbox = Inbox::new(1024, None, open_gate());
        for text in ARRIVALS {
            inbox.push(request(text));
        }
        let [a, b, stop, d, resume, f] = ARRIVALS;
        assert_eq!(drain(&mut inbox), [stop, resume, a, b, d, f]);
        assert_eq!(inbox.bytes, 0);
    }

    #[test]
    fn a_large_request_being_read_elsewhere_holds_back_later_ones_but_not_emergencies() {
        let mut inbox = Inbox::new(1 << 20, None, open_gate());
        let large = format!(
            r#"{{"command": 300, "nonce": 0, "data": "{}"}}"#,
            "x".repeat(super::READ_INLINE_MAX_BYTES)
        );
        inbox.push(request(&large));
        // As if it had been handed to the reader thread.
        inbox.queued[0].reading = super::Reading::Away { ticket: 0 };
        for text in ARRIVALS {
            inbox.push(request(text));
        }
        let [_, _, stop, _, resume, _] = ARRIVALS;
        assert_eq!(drain(&mut inbox), [stop, resume]);
        assert_eq!(inbox.queued.len(), 5);

        let read = super::read_request(&[large.into_bytes()], 1 << 20, &open_gate());
        inbox.queued[0].reading = super::Reading::Read(read);
        let [a, b, _, d, _, f] = ARRIVALS;
        let texts = drain(&mut inbox);
        assert_eq!(texts[1..], [a, b, d, f]);
        assert!(texts[0].starts_with(r#"{"command": 300"#));
    }

    #[test]
    fn reading_ahead_stops_at_the_byte_or_count_limit() {
        let mut by_bytes = Inbox::new(10, None, open_gate());
        let large = "x".repeat(10 * Inbox::LIMIT_LARGEST_REQUESTS - 1);
        by_bytes.push(request(&large));
        assert!(!by_bytes.is_full());
        by_bytes.push(request("y"));
        assert!(by_bytes.is_full());
        by_bytes.pop();
        assert!(!by_bytes.is_full());

        let mut by_count = Inbox::new(usize::MAX, None, open_gate());
        for _ in 0..Inbox::LIMIT_REQUESTS {
            assert!(!by_count.is_full());
            by_count.push(request("{}"));
        }
        assert!(by_count.is_full());
    }
}
