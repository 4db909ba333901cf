//! Turns one request into exactly one reply: parse, call the delegate
//! (panics caught), track a pending command, serialize the reply.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use super::delegate::DelegateSlot;
use super::outbox::Outbox;
use super::pending::{PendingRegistry, PendingSlot};
use super::stats::{bump, Counters};
use crate::telemetry;
use crate::wire::command::MalformedRequest;
use crate::wire::json::{write_python_json, PythonJsonFormatter};
use crate::{
    ApiCommand, ApiCommandRequest, ApiCommandRequestResult, ApiCommandRequestServiceResponse,
};

/// How many times [`crate::RpcOptions::max_request_bytes`] libzmq accepts
/// before it closes a connection instead of reading the frame.
pub const REQUEST_HARD_LIMIT_FACTOR: usize = 4;

pub(crate) struct Dispatcher {
    pub delegate: Arc<DelegateSlot>,
    pub pending: Arc<PendingRegistry>,
    pub outbox: Outbox,
    pub counters: Arc<Counters>,
    pub max_request_bytes: usize,
}

impl Dispatcher {
    /// The reply bytes for one request's frames.
    pub(crate) fn reply_to(&self, frames: &[Vec<u8>]) -> Vec<u8> {
        bump(&self.counters.requests);
        let _trace = telemetry::request_started();
        let reply = match self.read(frames) {
            Ok(request) => self.answer(request),
            Err(error) => {
                bump(&self.counters.malformed_requests);
                tracing::warn!(nonce = error.nonce, reason = %error.message, "malformed command request");
                telemetry::malformed_request(&error.message);
                ApiCommandRequestServiceResponse::malformed(error)
            }
        };
        let mut bytes = Vec::with_capacity(256);
        // Compact, as the reference's replies: its whole-text camelization strips spaces.
        write_python_json(&mut bytes, &reply, PythonJsonFormatter::COMPACT).map(|()| bytes).unwrap_or_else(|error| {
            // A reply holds only JSON values; this cannot happen, but a REQ
            // peer must still get an answer.
            tracing::error!(%error, "cannot serialize a reply");
            br#"{"nonce":0,"command":0,"result":0,"data":null,"errorKind":1,"errorCode":0,"errorMessage":"An error occurred serializing the response."}"#.to_vec()
        })
    }

    fn read(&self, frames: &[Vec<u8>]) -> Result<ApiCommandRequest, MalformedRequest> {
        let malformed = |message: String| MalformedRequest {
            message,
            nonce: 0,
            command: ApiCommand::None,
        };
        let [frame] = frames else {
            return Err(malformed(format!(
                "a request must be one frame, got {}",
                frames.len()
            )));
        };
        if frame.len() > self.max_request_bytes {
            return Err(malformed(format!(
                "request of {} bytes exceeds the maximum of {} bytes",
                frame.len(),
                self.max_request_bytes
            )));
        }
        ApiCommandRequest::parse(frame)
    }

    fn answer(&self, mut request: ApiCommandRequest) -> ApiCommandRequestServiceResponse {
        let (command, nonce) = (request.command, request.nonce);
        tracing::debug!(%command, nonce, "command request");
        let Some(delegate) = self.delegate.get() else {
            let reply = ApiCommandRequestServiceResponse::bare(
                command,
                nonce,
                ApiCommandRequestResult::Unavailable,
            );
            telemetry::request_answered(&reply, std::time::Duration::ZERO);
            return reply;
        };
        let slot = PendingSlot::new(self.pending.clone(), self.outbox.clone());
        request.attach_pending_slot(slot.clone());

        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| delegate.handle(request)));
        let in_delegate = started.elapsed();

        let reply = match outcome {
            Ok(answer) => ApiCommandRequestServiceResponse::from_delegate(command, nonce, answer),
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                drop_panic_payload(panic);
                tracing::error!(%command, nonce, %message, "command delegate panicked");
                ApiCommandRequestServiceResponse::exception(command, nonce, message)
            }
        };
        self.track_pending(&slot, &reply);
        telemetry::request_answered(&reply, in_delegate);
        reply
    }

    /// Keeps the pending registry in line with the reply: an accepted command
    /// whose reply is not PENDING_WITH_NOTIFICATION is withdrawn; a
    /// PENDING_WITH_NOTIFICATION reply without `accept_pending` (the
    /// reference's manual way) is recorded so it is listed and settled.
    fn track_pending(&self, slot: &PendingSlot, reply: &ApiCommandRequestServiceResponse) {
        let pending = reply.result == ApiCommandRequestResult::PendingWithNotification;
        match (slot.accepted_id(), pending) {
            (Some(id), false) => {
                self.pending.take(id);
            }
            (None, true) => {
                self.pending.insert(reply.command, reply.nonce);
            }
            _ => {}
        }
    }
}

/// Drops a panic payload without letting a `Drop` that panics too unwind out
/// of the command loop (which would end it).
fn drop_panic_payload(panic: Box<dyn std::any::Any + Send>) {
    if let Err(nested) = catch_unwind(AssertUnwindSafe(move || drop(panic))) {
        std::mem::forget(nested);
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the command delegate panicked".to_owned())
}
