//! Turns one request into exactly one reply: read it ([`read_request`]),
//! call the delegate (panics caught), track a pending command, serialize
//! the reply; or, when the delegate deferred it, what to wait for and
//! then the reply from how the wait ended ([`Dispatcher::settle`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use super::deferred::{Ending, Outcome, ReplyLine, Waiting, ERROR_CODE_REPLY_TIMEOUT};
use super::delegate::{DelegateSlot, RequestContext};
use super::publisher::Publisher;
use crate::auth::envelope::envelope_bytes;
use crate::auth::gate::{Gate, Refusal};
use crate::telemetry;
use crate::wire::command::MalformedRequest;
use crate::SigningKey;
use crate::{
    ApiCommandRequest, ApiCommandRequestResult, ApiCommandRequestServiceResponse, Command,
    Generation,
};

/// How many times [`crate::RpcOptions::max_request_bytes`] libzmq accepts
/// before it closes a connection instead of reading the frame.
pub const REQUEST_HARD_LIMIT_FACTOR: usize = 2;

pub(crate) struct Dispatcher {
    pub delegate: Arc<DelegateSlot>,
    pub publisher: Publisher,
    /// Where the delegate's deferred replies come back.
    pub replies: Arc<ReplyLine>,
    pub warnings: WarningBudget,
    /// Refusals are logged on a budget of their own, so a flood of bad
    /// signatures cannot hide malformed requests, nor the reverse.
    pub refusal_warnings: WarningBudget,
}

/// What to do with a request once the dispatcher has seen it.
pub(crate) enum Answer {
    /// Send these reply frames now.
    Now(Vec<Vec<u8>>),
    /// The delegate will answer later: wait for it (see [`Dispatcher::settle`]).
    Later(Waiting),
}

/// What the delegate did with a request.
enum Answered {
    Now(ApiCommandRequestServiceResponse),
    Later(Waiting),
}

/// A request as read by [`read_request`], ready to be answered.
pub(crate) enum ReadRequest {
    /// A request for the delegate, signed by `signer` when the device has keys.
    Request {
        request: ApiCommandRequest<i64>,
        signer: Option<SigningKey>,
    },
    /// A request that could not be read (from `signer`, whose signature was
    /// valid, when the device has keys).
    Malformed {
        error: MalformedRequest,
        signer: Option<SigningKey>,
    },
    /// A request refused by the gate, with what could be read of it.
    Refused {
        refusal: Refusal,
        nonce: i64,
        command: i64,
    },
}

/// Malformed requests are logged at WARN at most [`Self::PER_WINDOW`] times
/// per [`Self::WINDOW`]; the rest at DEBUG, and the next WARN says how many
/// were left out. A peer sending garbage cannot flood the app's log (a log
/// that is not read fast enough would stall the command loop).
pub(crate) struct WarningBudget {
    window_started: Instant,
    spent: u32,
    suppressed: u64,
}

impl WarningBudget {
    const PER_WINDOW: u32 = 5;
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

    pub(crate) fn new() -> Self {
        Self {
            window_started: Instant::now(),
            spent: 0,
            suppressed: 0,
        }
    }

    /// `Some(warnings left out since the last one)` when this one may be
    /// logged at WARN.
    fn take(&mut self) -> Option<u64> {
        if self.window_started.elapsed() >= Self::WINDOW {
            self.window_started = Instant::now();
            self.spent = 0;
        }
        if self.spent < Self::PER_WINDOW {
            self.spent += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

impl Dispatcher {
    /// The reply frames for a request read by [`read_request`] (on the
    /// command thread or the reader thread) from `peer`: the delegate's
    /// answer, or the error reply; signed with the requester's key when the
    /// request was signed, one unsigned frame otherwise.
    pub(crate) fn reply(&mut self, read: ReadRequest, peer: Option<&str>) -> Answer {
        let counters = self.publisher.outbox().counters();
        counters.requests.bump();
        let _trace = telemetry::request_started();
        let (reply, signer) = match read {
            ReadRequest::Request { request, signer } => {
                if let Some(key) = &signer {
                    telemetry::request_signed(key.id());
                }
                match self.answer(request, &signer) {
                    Answered::Now(reply) => (reply, signer),
                    Answered::Later(waiting) => return Answer::Later(waiting),
                }
            }
            ReadRequest::Refused {
                refusal,
                nonce,
                command,
            } => (self.refuse(refusal, nonce, command, peer), None),
            ReadRequest::Malformed { error, signer } => {
                counters.malformed_requests.bump();
                match self.warnings.take() {
                    Some(not_logged) => tracing::warn!(
                        nonce = error.nonce,
                        reason = %error.message,
                        similar_not_logged = not_logged,
                        "malformed command request"
                    ),
                    None => {
                        tracing::debug!(nonce = error.nonce, reason = %error.message, "malformed command request")
                    }
                }
                telemetry::malformed_request(&error.message);
                (
                    ApiCommandRequestServiceResponse::malformed(error, self.generation()),
                    signer,
                )
            }
        };
        Answer::Now(self.frames(&reply, signer.as_ref()))
    }

    /// The reply frames for a deferred request, from how its wait ended:
    /// the app's reply, or the service's own when the app dropped its
    /// handle, let the deadline pass, or the service stopped.
    pub(crate) fn settle(&self, waiting: Waiting, ending: Ending) -> Vec<Vec<u8>> {
        let (command, nonce) = (waiting.command, waiting.nonce);
        let reply = match ending {
            Ending::Settled(Outcome::Reply(answer)) => {
                ApiCommandRequestServiceResponse::from_delegate(command, nonce, answer)
            }
            Ending::Settled(Outcome::Dropped) => {
                tracing::error!(%command, nonce, "the app dropped a deferred reply without sending it");
                ApiCommandRequestServiceResponse::exception(
                    command,
                    nonce,
                    "the app dropped the deferred reply without sending it".into(),
                )
            }
            Ending::TimedOut => {
                self.publisher.outbox().counters().deferred_timed_out.bump();
                tracing::warn!(%command, nonce, timeout = ?waiting.timeout, "no deferred reply in time; the peer gets the timeout reply");
                ApiCommandRequestServiceResponse::system_failure(
                    command,
                    nonce,
                    ERROR_CODE_REPLY_TIMEOUT,
                    format!("no reply from the app within {:?}", waiting.timeout),
                )
            }
            Ending::Stopped => ApiCommandRequestServiceResponse::unavailable(
                command,
                nonce,
                "the service stopped before the app replied",
            ),
        };
        self.track_pending(waiting.accepted.get().copied(), &reply);
        telemetry::request_answered(&reply, waiting.started.elapsed());
        self.frames(&reply, waiting.signer.as_ref())
    }

    /// The reply's frames: its JSON, after its envelope when signed.
    fn frames(
        &self,
        reply: &ApiCommandRequestServiceResponse,
        signer: Option<&SigningKey>,
    ) -> Vec<Vec<u8>> {
        let body = self.reply_bytes(reply);
        match signer {
            Some(key) => {
                let envelope = envelope_bytes(key, crate::auth::now_millis(), &body);
                vec![envelope, body]
            }
            None => vec![body],
        }
    }

    /// A refused request's reply (FAILED, SYSTEM_ERROR, the refusal's
    /// code), counted and logged on its own budget with the key and peer.
    fn refuse(
        &mut self,
        refusal: Refusal,
        nonce: i64,
        command: i64,
        peer: Option<&str>,
    ) -> ApiCommandRequestServiceResponse {
        self.publisher.outbox().counters().refused(refusal.code);
        let key_id = refusal.key_id.as_deref().unwrap_or("-");
        let peer = peer.unwrap_or("-");
        match self.refusal_warnings.take() {
            Some(not_logged) => tracing::warn!(
                code = refusal.code,
                key_id,
                peer,
                nonce,
                reason = %refusal.message,
                similar_not_logged = not_logged,
                "refused a command request"
            ),
            None => {
                tracing::debug!(code = refusal.code, key_id, peer, nonce, reason = %refusal.message, "refused a command request")
            }
        }
        if let Some(key_id) = &refusal.key_id {
            telemetry::request_signed(key_id);
        }
        telemetry::malformed_request(&refusal.message);
        ApiCommandRequestServiceResponse::system_failure(
            Command::read(Some(self.generation()), command),
            nonce,
            refusal.code,
            refusal.message,
        )
    }

    /// The reply's JSON as the service's generation writes it.
    fn reply_bytes(&self, reply: &ApiCommandRequestServiceResponse) -> Vec<u8> {
        reply.to_wire(self.generation())
    }

    fn generation(&self) -> Generation {
        self.publisher.outbox().generation()
    }

    fn answer(&self, request: ApiCommandRequest<i64>, signer: &Option<SigningKey>) -> Answered {
        let (number, nonce) = (request.command, request.nonce);
        let generation = self.generation();
        let command = Command::read(Some(generation), number);
        tracing::debug!(%command, nonce, "command request");
        if generation == Generation::V0_12 && number == 0 {
            // 0.12's service answers NONE itself, never its delegate; we echo
            // the nonce where it sends 0 (nonce matching needs it).
            let reply = ApiCommandRequestServiceResponse::bare(
                command,
                nonce,
                ApiCommandRequestResult::Unrecognized,
            );
            telemetry::request_answered(&reply, std::time::Duration::ZERO);
            return Answered::Now(reply);
        }
        let Some(delegate) = self.delegate.get() else {
            let reply = ApiCommandRequestServiceResponse::bare(
                command,
                nonce,
                ApiCommandRequestResult::Unavailable,
            );
            telemetry::request_answered(&reply, std::time::Duration::ZERO);
            return Answered::Now(reply);
        };
        let context =
            RequestContext::new(command, nonce, self.publisher.clone(), self.replies.clone());

        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| delegate.handle(request, &context)));
        let in_delegate = started.elapsed();

        let reply = match outcome {
            Ok(answer) => {
                if let Some(deferred) = context.deferred() {
                    // The delegate's return value is not the reply.
                    return Answered::Later(deferred.waiting(signer.clone(), started));
                }
                ApiCommandRequestServiceResponse::from_delegate(command, nonce, answer)
            }
            Err(panic) => {
                if let Some(deferred) = context.deferred() {
                    // Answered now after all: a later send fails.
                    deferred.close();
                }
                let message = panic_message(panic.as_ref());
                drop_panic_payload(panic);
                tracing::error!(%command, nonce, %message, "command delegate panicked");
                ApiCommandRequestServiceResponse::exception(command, nonce, message)
            }
        };
        self.track_pending(context.accepted_id(), &reply);
        telemetry::request_answered(&reply, in_delegate);
        Answered::Now(reply)
    }

    /// Keeps the pending registry in line with the reply: an accepted command
    /// whose reply is not PENDING_WITH_NOTIFICATION is withdrawn; a
    /// PENDING_WITH_NOTIFICATION reply without `accept_pending` (the
    /// reference's manual way) is recorded so it is listed and settled.
    fn track_pending(&self, accepted: Option<u64>, reply: &ApiCommandRequestServiceResponse) {
        let pending = reply.result == ApiCommandRequestResult::PendingWithNotification;
        let registry = self.publisher.pending();
        match (accepted, pending) {
            (Some(id), false) => {
                registry.take(id);
            }
            (None, true) => {
                registry.insert(reply.command, reply.nonce);
            }
            _ => {}
        }
    }
}

/// Reads a request from its frames and lets it through `gate`: one frame
/// of at most `max_request_bytes` (two, an envelope then the request, when
/// the device has keys), parsed, signed by a key that may send its command.
/// Needs nothing of the service but the gate, so large requests can be read
/// on another thread.
pub(crate) fn read_request(
    frames: &[Vec<u8>],
    max_request_bytes: usize,
    gate: &Gate,
) -> ReadRequest {
    let malformed = |message: String| ReadRequest::Malformed {
        error: MalformedRequest::unread(message),
        signer: None,
    };
    let keys = gate.keys();
    let (envelope, body) = match frames {
        [body] => (None, body),
        [envelope, body] if keys.is_some() => (Some(&envelope[..]), body),
        [_, body] => {
            // Echo what can be read of the body, so a console can match
            // the error to its request.
            let (nonce, command) = match ApiCommandRequest::parse(body) {
                Ok(request) => (request.nonce, request.command),
                Err(error) => (error.nonce, error.command),
            };
            return ReadRequest::Malformed {
                error: MalformedRequest {
                    nonce,
                    command,
                    ..MalformedRequest::unread(
                        "a request must be one frame, got 2 (this device does not take \
                             signed requests)"
                            .into(),
                    )
                },
                signer: None,
            };
        }
        _ => {
            return malformed(format!(
                "a request must be one frame (two when signed), got {}",
                frames.len()
            ))
        }
    };
    if let Some(error) = MalformedRequest::too_large(body.len(), max_request_bytes) {
        return ReadRequest::Malformed {
            error,
            signer: None,
        };
    }
    let signer = match gate.admit(keys.as_deref(), envelope, body) {
        Ok(signer) => signer,
        Err(refusal) => {
            // Echo what can be read, so the peer can match the refusal.
            let (nonce, command) = match ApiCommandRequest::parse(body) {
                Ok(request) => (request.nonce, request.command),
                Err(error) => (error.nonce, error.command),
            };
            return ReadRequest::Refused {
                refusal,
                nonce,
                command,
            };
        }
    };
    match ApiCommandRequest::parse(body) {
        Err(error) => ReadRequest::Malformed { error, signer },
        Ok(request) => match signer
            .as_ref()
            .zip(keys.as_deref())
            .map(|(key, keys)| gate.authorize(keys, key, request.command))
        {
            Some(Err(refusal)) => ReadRequest::Refused {
                refusal,
                nonce: request.nonce,
                command: request.command,
            },
            _ => ReadRequest::Request { request, signer },
        },
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

#[cfg(test)]
mod tests {
    use super::WarningBudget;

    #[test]
    fn the_warning_budget_logs_a_few_per_window_and_counts_the_rest() {
        let mut budget = WarningBudget::new();
        for _ in 0..WarningBudget::PER_WINDOW {
            assert_eq!(budget.take(), Some(0));
        }
        assert_eq!(
            (budget.take(), budget.take(), budget.take()),
            (None, None, None)
        );
        // The next window: the first warning says how many were left out.
        budget.window_started -= WarningBudget::WINDOW;
        assert_eq!(budget.take(), Some(3));
        assert_eq!(budget.take(), Some(0));
    }
}
