//! The command thread: the one owner of the REP socket. One reply per
//! request, until the stop signal. What it is doing is shared with the
//! publisher thread, so that a heartbeat means "serving".

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::dispatch::Dispatcher;
use crate::transport::device::{Incoming, RepSocket};
use crate::wire::clock::monotonic_nanos;

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

pub(crate) fn serve_commands(
    socket: RepSocket,
    mut dispatcher: Dispatcher,
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
    loop {
        match socket.next() {
            Ok(Incoming::Request(frames)) => {
                busy_since.store(monotonic_nanos(), Ordering::Release);
                let reply = dispatcher.reply_to(&frames);
                busy_since.store(-1, Ordering::Release);
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
