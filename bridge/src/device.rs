//! The device behind the bridge: the one Socket.IO client connected, and the
//! commands it owes an answer.
//!
//! The service's delegate runs on the service's command thread. It never
//! waits for the browser: it defers the command's reply
//! ([`RequestContext::defer`]), emits `commandRequest` and returns, so the
//! next request (an EMERGENCY_STOP from another console) is served at once.
//! The client's `commandResult` then sends the deferred reply; a result of
//! PENDING_WITH_NOTIFICATION keeps the command's [`CompletionHandle`], and
//! the client's later `commandResult` for the same nonce publishes the
//! COMMAND_RESULT. The service answers a command whose reply is not sent by
//! its deadline (the command timeout).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use auto_trainer_api::{
    to_camel_keys, ApiCommandRequest, ApiCommandRequestResponse, ApiCommandRequestResult,
    CommandRequestDelegate, CompletionHandle, DeferredReply, Generation, Publisher, RequestContext,
};
use serde_json::{json, Value};
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::event::read_api_event;
use crate::COMMAND_REQUEST;

/// The reply to a command while no client is connected (the reference's
/// words).
const NO_CLIENT: &str = "No Socket.IO client connected.";
/// The reply to the commands of a client that went away (the reference's
/// words).
const CLIENT_DISCONNECTED: &str = "Socket.IO client disconnected.";
/// How long a client that passed the connect check may take to be
/// connected before another may take its place (it failed between the
/// check and the connection).
const STALE_CLAIM: Duration = Duration::from_secs(10);
/// How long after a command's deadline its entry is dropped (when the
/// service has answered it by then).
const FORGET_AFTER_DEADLINE: Duration = Duration::from_secs(1);

/// The connected client and what it owes; shared by the service's delegate
/// and the Socket.IO handlers.
pub(crate) struct Device {
    state: Mutex<State>,
    generation: Generation,
    command_timeout: Duration,
    publisher: Publisher,
    runtime: tokio::runtime::Handle,
    next_id: AtomicU64,
}

#[derive(Default)]
struct State {
    client: Option<Client>,
    /// Commands emitted to the client whose reply is not sent yet, by nonce.
    waiting: HashMap<i64, Waiting>,
    /// Commands the client took on as PENDING_WITH_NOTIFICATION, whose
    /// result it has not sent yet, by nonce.
    completing: HashMap<i64, Completing>,
}

struct Client {
    socket: SocketRef,
    claimed: Instant,
}

struct Waiting {
    /// Tells this command from a later one with the same nonce.
    id: u64,
    sid: Sid,
    reply: DeferredReply,
}

struct Completing {
    sid: Sid,
    handle: CompletionHandle,
}

/// Why a second client may not connect: sent to it as the `connect_error`
/// message.
#[derive(Debug, thiserror::Error)]
#[error(
    "this bridge already has its Socket.IO client (it serves one device at a time); \
     connect again once that client has disconnected"
)]
pub(crate) struct AlreadyConnected;

/// A `commandResult` or `sendApiEvent` that was refused, and why.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) error: String,
    /// The nonce of a refused `commandResult`, when it could be read.
    pub(crate) nonce: Option<i64>,
}

impl Refusal {
    fn new(error: impl Into<String>, nonce: Option<i64>) -> Self {
        Self {
            error: error.into(),
            nonce,
        }
    }

    /// A payload Socket.IO could not hand over as JSON.
    pub(crate) fn unreadable(error: &impl std::fmt::Display) -> Self {
        Self::new(format!("the payload cannot be read as JSON: {error}"), None)
    }
}

impl Device {
    pub(crate) fn new(
        generation: Generation,
        command_timeout: Duration,
        publisher: Publisher,
        runtime: tokio::runtime::Handle,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            generation,
            command_timeout,
            publisher,
            runtime,
            next_id: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays whole across a panic: every change is one insert
        // or remove.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The service's delegate: forwards every command to this device.
    pub(crate) fn delegate(self: &Arc<Self>) -> impl CommandRequestDelegate<i64> {
        let device = Arc::clone(self);
        move |request: ApiCommandRequest<i64>, context: &RequestContext| {
            device.forward(request, context)
        }
    }

    /// Takes the client's place for `socket` (the connect middleware),
    /// unless another client holds it.
    pub(crate) fn claim(&self, socket: &SocketRef) -> Result<(), AlreadyConnected> {
        let mut state = self.lock();
        if let Some(current) = &state.client {
            let failed = !current.socket.connected() && current.claimed.elapsed() > STALE_CLAIM;
            if !failed {
                tracing::warn!(sid = %socket.id, current = %current.socket.id, "refused a second Socket.IO client");
                return Err(AlreadyConnected);
            }
            let stale = current.socket.id;
            tracing::warn!(sid = %stale, "a Socket.IO client never finished connecting; its place is taken");
            self.release(&mut state, stale);
        }
        state.client = Some(Client {
            socket: socket.clone(),
            claimed: Instant::now(),
        });
        Ok(())
    }

    /// The client `sid` went away: its place is free, and what it owed is
    /// answered FAILED at once (replies, and the results of pending commands).
    pub(crate) fn disconnected(&self, sid: Sid) {
        let mut state = self.lock();
        self.release(&mut state, sid);
    }

    /// Disconnects the client, if one is connected; what it owed is answered
    /// as when it goes away by itself.
    pub(crate) fn disconnect_client(&self) {
        let socket = self
            .lock()
            .client
            .as_ref()
            .map(|client| client.socket.clone());
        if let Some(socket) = socket {
            let sid = socket.id;
            // Outside the lock: the disconnect handler takes it.
            if let Err(error) = socket.disconnect() {
                tracing::debug!(%sid, %error, "the Socket.IO client was gone already");
            }
            self.disconnected(sid);
        }
    }

    fn release(&self, state: &mut State, sid: Sid) {
        if state.client.as_ref().is_some_and(|c| c.socket.id == sid) {
            state.client = None;
        }
        let waiting: Vec<Waiting> = state
            .waiting
            .extract_if(|_, waiting| waiting.sid == sid)
            .map(|(_, waiting)| waiting)
            .collect();
        for Waiting { reply, .. } in waiting {
            let nonce = reply.nonce();
            if let Err(error) = reply.send(failed(CLIENT_DISCONNECTED)) {
                tracing::debug!(nonce, %error, "no reply for a disconnected client's command");
            }
        }
        let completing: Vec<Completing> = state
            .completing
            .extract_if(|_, completing| completing.sid == sid)
            .map(|(_, completing)| completing)
            .collect();
        for Completing { handle, .. } in completing {
            if let Err(error) = handle.complete(failed(CLIENT_DISCONNECTED)) {
                tracing::warn!(nonce = handle.nonce(), %error, "cannot publish the result of a disconnected client's pending command");
            }
        }
    }

    /// Hands `request` to the client; its reply is sent when the client
    /// answers, or by the service at the deadline.
    fn forward(
        self: &Arc<Self>,
        request: ApiCommandRequest<i64>,
        context: &RequestContext,
    ) -> ApiCommandRequestResponse {
        let nonce = request.nonce;
        let mut state = self.lock();
        let Some(socket) = state
            .client
            .as_ref()
            .map(|client| client.socket.clone())
            .filter(|socket| socket.connected())
        else {
            return ApiCommandRequestResponse::new(ApiCommandRequestResult::Unavailable)
                .with_error(0, NO_CLIENT);
        };
        if state
            .waiting
            .get(&nonce)
            .is_some_and(|waiting| !waiting.reply.is_open())
        {
            // Answered by the service at its deadline: the nonce is free again.
            state.waiting.remove(&nonce);
        }
        if state.waiting.contains_key(&nonce) || state.completing.contains_key(&nonce) {
            // Answers are matched by nonce: a second command with the same
            // one could take the first's answer.
            return failed(format!(
                "A command with nonce {nonce} is still awaiting the Socket.IO client; \
                 send each command with a nonce of its own."
            ));
        }
        let reply = context.defer(self.command_timeout);
        let deadline = reply.deadline();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let payload = json!({
            "command": request.command,
            "customCommand": request.custom_command,
            "nonce": nonce,
            "data": request.data.map(to_camel_keys),
        });
        if let Err(error) = socket.emit(COMMAND_REQUEST, &payload) {
            tracing::warn!(nonce, %error, "cannot emit commandRequest");
            let _ = reply.send(failed(format!(
                "Failed to emit commandRequest to the Socket.IO client: {error}"
            )));
        } else {
            tracing::debug!(nonce, command = request.command, sid = %socket.id, "forwarded");
            state.waiting.insert(
                nonce,
                Waiting {
                    id,
                    sid: socket.id,
                    reply,
                },
            );
            let forget = Arc::clone(self).forget(deadline + FORGET_AFTER_DEADLINE, nonce, id);
            self.runtime.spawn(forget);
        }
        // Not sent: the deferred reply is.
        ApiCommandRequestResponse::new(ApiCommandRequestResult::Failed)
    }

    /// Drops the entry of a command the client never answered, from `at`
    /// on (after its deadline) once the service has answered it: dropped
    /// while still open, it would send another reply.
    async fn forget(self: Arc<Self>, at: Instant, nonce: i64, id: u64) {
        tokio::time::sleep_until(at.into()).await;
        loop {
            {
                let mut state = self.lock();
                match state.waiting.get(&nonce) {
                    Some(waiting) if waiting.id == id => {
                        if !waiting.reply.is_open() {
                            state.waiting.remove(&nonce);
                            tracing::info!(nonce, "the Socket.IO client did not answer in time");
                            return;
                        }
                    }
                    _ => return,
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// A `commandResult` from the client `sid`: the reply to a waiting
    /// command, or the result of one it took on as pending.
    pub(crate) fn command_result(&self, sid: Sid, payload: &Value) -> Result<(), Refusal> {
        let (nonce, response) = read_command_result(payload)?;
        let mut state = self.lock();
        if let Some(waiting) = state.waiting.remove(&nonce) {
            if waiting.sid != sid {
                state.waiting.insert(nonce, waiting);
                return Err(Refusal::new(
                    format!("the command with nonce {nonce} was sent to another client"),
                    Some(nonce),
                ));
            }
            let too_late = || {
                Refusal::new(
                    format!(
                        "the command with nonce {nonce} timed out: its peer got the \
                         timeout reply (the bridge's --command-timeout)"
                    ),
                    Some(nonce),
                )
            };
            if !waiting.reply.is_open() {
                return Err(too_late());
            }
            let pending = response.result == ApiCommandRequestResult::PendingWithNotification;
            let handle = pending.then(|| waiting.reply.accept_pending());
            // Closed meanwhile: the deadline passed (the service stopping
            // answers every peer, and the bridge with it).
            waiting.reply.send(response).map_err(|_| too_late())?;
            if let Some(handle) = handle {
                state.completing.insert(nonce, Completing { sid, handle });
            }
            return Ok(());
        }
        if let Some(completing) = state.completing.remove(&nonce) {
            if response.result == ApiCommandRequestResult::PendingWithNotification
                || completing.sid != sid
            {
                let error = if completing.sid != sid {
                    format!("the command with nonce {nonce} was taken on by another client")
                } else {
                    format!(
                        "the command with nonce {nonce} is already pending; \
                         send its final result (not 201)"
                    )
                };
                state.completing.insert(nonce, completing);
                return Err(Refusal::new(error, Some(nonce)));
            }
            return completing.handle.complete(response).map_err(|error| {
                Refusal::new(
                    format!("the result of nonce {nonce} could not be published: {error}"),
                    Some(nonce),
                )
            });
        }
        Err(Refusal::new(
            format!(
                "no command with nonce {nonce} awaits an answer: it was answered already, \
                 timed out, or was never sent"
            ),
            Some(nonce),
        ))
    }

    /// A `sendApiEvent`: published when it is an event of the bridge's
    /// generation.
    pub(crate) fn send_api_event(&self, payload: &Value) -> Result<(), Refusal> {
        let event = read_api_event(self.generation, payload).map_err(|e| Refusal::new(e, None))?;
        let kind = event.kind;
        self.publisher.publish_event(event).map_err(|error| {
            Refusal::new(format!("the event could not be published: {error}"), None)
        })?;
        tracing::debug!(kind, "published an event from the Socket.IO client");
        Ok(())
    }
}

/// FAILED with a message and errorCode 0, as the reference's bridge answers.
fn failed(message: impl Into<String>) -> ApiCommandRequestResponse {
    ApiCommandRequestResponse::new(ApiCommandRequestResult::Failed).with_error(0, message)
}

/// The nonce and response of a `commandResult`:
/// `{"nonce", "result", "data", "errorCode", "errorMessage"}` (the
/// snake_case spellings, which the reference also reads, are taken too;
/// `command` is ignored: a reply answers its request's command).
fn read_command_result(payload: &Value) -> Result<(i64, ApiCommandRequestResponse), Refusal> {
    let Value::Object(fields) = payload else {
        return Err(Refusal::new(
            "a commandResult is an object {nonce, result, data, errorCode, errorMessage}",
            None,
        ));
    };
    let nonce = fields.get("nonce").and_then(Value::as_i64);
    let refuse = |error: String| Refusal::new(error, nonce);
    let nonce = nonce.ok_or_else(|| refuse("a commandResult needs an integer 'nonce'".into()))?;
    let mut response = None;
    let mut data = None;
    let mut error_code = 0;
    let mut error_message = None;
    for (key, value) in fields {
        match key.as_str() {
            "nonce" | "command" => {}
            "result" => {
                let result = value.as_i64().ok_or_else(|| {
                    refuse(format!("'result' must be an integer code, not {value}"))
                })?;
                response = Some(ApiCommandRequestResult::from_value(result));
            }
            "data" => data = Some(value.clone()).filter(|data| !data.is_null()),
            "errorCode" | "error_code" => {
                error_code = value.as_i64().ok_or_else(|| {
                    refuse(format!("'errorCode' must be an integer, not {value}"))
                })?;
            }
            "errorMessage" | "error_message" => {
                error_message = match value {
                    Value::Null => None,
                    Value::String(text) => Some(text.clone()),
                    other => {
                        return Err(refuse(format!(
                            "'errorMessage' must be a string or null, not {other}"
                        )))
                    }
                };
            }
            other => {
                return Err(refuse(format!(
                    "unknown field '{other}' (a commandResult has nonce, result, data, \
                     errorCode, errorMessage)"
                )))
            }
        }
    }
    let result = response.ok_or_else(|| refuse("a commandResult needs a 'result'".into()))?;
    let mut response = ApiCommandRequestResponse::new(result);
    response.data = data;
    response.error_code = error_code;
    response.error_message = error_message;
    Ok((nonce, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_result_reads_both_spellings() {
        let (nonce, response) = read_command_result(&json!({
            "nonce": 7, "result": 400, "data": {"animalId": "m-1"},
            "error_code": 12, "errorMessage": "jammed", "command": 400,
        }))
        .unwrap();
        assert_eq!(nonce, 7);
        assert_eq!(response.result, ApiCommandRequestResult::Failed);
        assert_eq!(response.data, Some(json!({"animalId": "m-1"})));
        assert_eq!(
            (response.error_code, response.error_message.as_deref()),
            (12, Some("jammed"))
        );
    }

    #[test]
    fn an_unknown_result_number_is_kept() {
        let (_, response) = read_command_result(&json!({"nonce": 1, "result": 777})).unwrap();
        assert_eq!(response.result.value(), 777);
    }

    #[test]
    fn a_bad_command_result_is_refused_with_the_reason_and_the_nonce() {
        for (payload, reason, nonce) in [
            (json!("done"), "is an object", None),
            (json!({"result": 100}), "'nonce'", None),
            (json!({"nonce": "3", "result": 100}), "'nonce'", None),
            (json!({"nonce": 3}), "needs a 'result'", Some(3)),
            (
                json!({"nonce": 3, "result": "SUCCESS"}),
                "'result'",
                Some(3),
            ),
            (
                json!({"nonce": 3, "result": 100, "errorCode": "x"}),
                "'errorCode'",
                Some(3),
            ),
            (
                json!({"nonce": 3, "result": 100, "errorMessage": 5}),
                "'errorMessage'",
                Some(3),
            ),
            (
                json!({"nonce": 3, "result": 100, "extra": 1}),
                "unknown field 'extra'",
                Some(3),
            ),
        ] {
            let refusal = read_command_result(&payload).unwrap_err();
            assert!(
                refusal.error.contains(reason),
                "{payload}: {}",
                refusal.error
            );
            assert_eq!(refusal.nonce, nonce, "{payload}");
        }
    }
}
