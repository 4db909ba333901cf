//! The app's command handler and the context it is called with.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock, RwLock};

use super::deferred::{new_deferred, DeferredReply, ReplyLine};
use super::pending::CompletionHandle;
use super::publisher::Publisher;
use crate::{v0_9, ApiCommandRequest, ApiCommandRequestResponse, Catalog, Command};

/// Answers command requests; registered with
/// [`crate::RpcService::set_command_request_delegate`] or
/// [`crate::RpcService::set_delegate`].
///
/// Called on the service's command thread, one request at a time, and
/// expected to return at once (like the reference): a slow command calls
/// [`RequestContext::accept_pending`], starts its work elsewhere and returns
/// [`ApiCommandRequestResponse::pending_with_notification`]. A delegate
/// whose *reply* must wait (on a browser, on hardware) calls
/// [`RequestContext::defer`] and sends the reply later from any thread,
/// while the service serves other peers. A panic is caught and answered
/// with result EXCEPTION; the service goes on.
///
/// `C` is the catalog the delegate reads commands with: the 0.9.11
/// [`v0_9::ApiCommand`] by default, [`crate::v0_12::ApiCommand`] for a 0.12
/// device (with [`crate::RpcOptions::protocol`] set to match), or `i64` for
/// the bare numbers. Any `Fn(ApiCommandRequest<C>, &RequestContext) ->
/// ApiCommandRequestResponse` closure is a delegate:
///
/// ```
/// use auto_trainer_api::*;
///
/// let service = ZeroMqRpcService::new(RpcOptions::loopback());
/// service.set_delegate(|request: ApiCommandRequest, context: &RequestContext| {
///     match request.command {
///         ApiCommand::None => ApiCommandRequestResponse::success(),
///         ApiCommand::StartAcquisition => {
///             let done = context.accept_pending();
///             std::thread::spawn(move || done.complete(ApiCommandRequestResponse::success()));
///             ApiCommandRequestResponse::pending_with_notification()
///         }
///         _ => ApiCommandRequestResponse::unrecognized(),
///     }
/// });
/// ```
///
/// A 0.12 device:
///
/// ```
/// use auto_trainer_api::*;
///
/// let mut options = RpcOptions::loopback();
/// options.protocol = Generation::V0_12;
/// let service = ZeroMqRpcService::new(options);
/// service.set_delegate(|request: v0_12::ApiCommandRequest, _: &RequestContext| {
///     match request.command {
///         v0_12::ApiCommand::SetApplicationMode => ApiCommandRequestResponse::success(),
///         _ => ApiCommandRequestResponse::unrecognized(),
///     }
/// });
/// ```
pub trait CommandRequestDelegate<C = v0_9::ApiCommand>: Send + Sync + 'static {
    /// The immediate answer to `request`.
    fn handle(
        &self,
        request: ApiCommandRequest<C>,
        context: &RequestContext,
    ) -> ApiCommandRequestResponse;
}

impl<C, F> CommandRequestDelegate<C> for F
where
    F: Fn(ApiCommandRequest<C>, &RequestContext) -> ApiCommandRequestResponse
        + Send
        + Sync
        + 'static,
{
    fn handle(
        &self,
        request: ApiCommandRequest<C>,
        context: &RequestContext,
    ) -> ApiCommandRequestResponse {
        self(request, context)
    }
}

/// A delegate of catalog `C` seen as one of bare numbers, which is what the
/// service calls: commands are read with `C` on the way in and written back
/// as numbers on the way out.
pub(crate) struct Numbered<C, D>(pub D, PhantomData<fn(C) -> C>);

impl<C, D> Numbered<C, D> {
    pub(crate) fn new(delegate: D) -> Self {
        Self(delegate, PhantomData)
    }
}

impl<C: Catalog, D: CommandRequestDelegate<C>> CommandRequestDelegate<i64> for Numbered<C, D> {
    fn handle(
        &self,
        request: ApiCommandRequest<i64>,
        context: &RequestContext,
    ) -> ApiCommandRequestResponse {
        self.0.handle(request.map_command(C::from_code), context)
    }
}

/// What the service offers a delegate while it handles one request: taking
/// the command on as pending work, replying later, and a [`Publisher`] to
/// hand to the threads that do the work. Lent for the call only; what
/// outlives it is the [`CompletionHandle`], the [`DeferredReply`] and the
/// publisher's clones.
pub struct RequestContext {
    command: Command,
    nonce: i64,
    publisher: Publisher,
    replies: Arc<ReplyLine>,
    /// The pending registry's id, once the command was accepted as pending
    /// (shared with a deferred reply, which may accept it later).
    accepted: Arc<OnceLock<u64>>,
    deferred: OnceLock<DeferredReply>,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("command", &self.command)
            .field("nonce", &self.nonce)
            .field("accepted", &self.accepted.get().is_some())
            .field("deferred", &self.deferred.get().is_some())
            .finish_non_exhaustive()
    }
}

impl RequestContext {
    pub(crate) fn new(
        command: Command,
        nonce: i64,
        publisher: Publisher,
        replies: Arc<ReplyLine>,
    ) -> Self {
        Self {
            command,
            nonce,
            publisher,
            replies,
            accepted: Arc::new(OnceLock::new()),
            deferred: OnceLock::new(),
        }
    }

    /// Replies later: the peer gets the reply given to
    /// [`DeferredReply::send`], from any thread, while the service goes on
    /// serving other peers (emergency stops included). What the delegate
    /// returns is then not sent. If nothing is sent within `timeout`, the
    /// peer gets FAILED with SYSTEM_ERROR and
    /// [`crate::ERROR_CODE_REPLY_TIMEOUT`]; see [`DeferredReply`] for the
    /// other endings. Calling it again returns a handle to the same reply
    /// (with the first call's deadline).
    ///
    /// Each peer still gets exactly one reply per request; replies to
    /// different peers may go out in any order (a REQ peer has one request
    /// in flight, so it cannot tell).
    ///
    /// ```
    /// use std::time::Duration;
    /// use auto_trainer_api::*;
    ///
    /// let service = ZeroMqRpcService::new(RpcOptions::loopback());
    /// service.set_delegate(|request: ApiCommandRequest, context: &RequestContext| {
    ///     let reply = context.defer(Duration::from_secs(1));
    ///     // Asks the hardware, which answers on another thread.
    ///     std::thread::spawn(move || {
    ///         let _ = reply.send(ApiCommandRequestResponse::success());
    ///     });
    ///     ApiCommandRequestResponse::success() // not sent: the reply is deferred
    /// });
    /// ```
    pub fn defer(&self, timeout: std::time::Duration) -> DeferredReply {
        self.deferred
            .get_or_init(|| {
                new_deferred(
                    &self.replies,
                    self.command,
                    self.nonce,
                    timeout,
                    self.publisher.clone(),
                    self.accepted.clone(),
                )
            })
            .clone()
    }

    /// A handle to the deferred reply, if the delegate deferred.
    pub(crate) fn deferred(&self) -> Option<DeferredReply> {
        self.deferred.get().cloned()
    }

    /// Accepts the request as a slow command, to be completed later.
    ///
    /// The service records the nonce and command; return
    /// [`ApiCommandRequestResponse::pending_with_notification`] from the
    /// delegate, do the work elsewhere, then call
    /// [`CompletionHandle::complete`], which publishes the COMMAND_RESULT
    /// with this request's command and nonce. If the delegate returns any
    /// other result, the acceptance is withdrawn. Calling it again returns a
    /// handle to the same pending command.
    pub fn accept_pending(&self) -> CompletionHandle {
        let id = *self
            .accepted
            .get_or_init(|| self.publisher.pending().insert(self.command, self.nonce));
        CompletionHandle::new(self.publisher.clone(), id, self.command, self.nonce)
    }

    /// The service's publisher, to clone into threads that publish.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// The registry id of the pending command, if the delegate accepted it.
    pub(crate) fn accepted_id(&self) -> Option<u64> {
        self.accepted.get().copied()
    }
}

/// The current delegate; set, replaced and cleared while the service runs.
#[derive(Default)]
pub(crate) struct DelegateSlot(RwLock<Option<Arc<dyn CommandRequestDelegate<i64>>>>);

impl DelegateSlot {
    pub(crate) fn set(&self, delegate: Option<Arc<dyn CommandRequestDelegate<i64>>>) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = delegate;
    }

    pub(crate) fn get(&self) -> Option<Arc<dyn CommandRequestDelegate<i64>>> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
