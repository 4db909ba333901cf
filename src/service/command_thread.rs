//! The command thread: the one owner of the REP socket. One reply per
//! request, until the stop signal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::dispatch::Dispatcher;
use crate::transport::device::{Incoming, RepSocket};

pub(crate) fn serve_commands(socket: RepSocket, dispatcher: Dispatcher, alive: Arc<AtomicBool>) {
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
