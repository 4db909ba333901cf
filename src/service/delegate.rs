//! The app's command handler.

use std::sync::{Arc, RwLock};

use crate::{ApiCommandRequest, ApiCommandRequestResponse};

/// Answers command requests; registered with
/// [`crate::RpcService::set_command_request_delegate`].
///
/// Called on the service's command thread, one request at a time, and
/// expected to return at once (like the reference): a slow command calls
/// [`ApiCommandRequest::accept_pending`], starts its work elsewhere and
/// returns [`ApiCommandRequestResponse::pending_with_notification`]. A panic
/// is caught and answered with result EXCEPTION; the service goes on.
///
/// Any `Fn(ApiCommandRequest) -> ApiCommandRequestResponse` closure is a delegate.
pub trait CommandRequestDelegate: Send + Sync + 'static {
    /// The immediate answer to `request`.
    fn handle(&self, request: ApiCommandRequest) -> ApiCommandRequestResponse;
}

impl<F> CommandRequestDelegate for F
where
    F: Fn(ApiCommandRequest) -> ApiCommandRequestResponse + Send + Sync + 'static,
{
    fn handle(&self, request: ApiCommandRequest) -> ApiCommandRequestResponse {
        self(request)
    }
}

/// The current delegate; set, replaced and cleared while the service runs.
#[derive(Default)]
pub(crate) struct DelegateSlot(RwLock<Option<Arc<dyn CommandRequestDelegate>>>);

impl DelegateSlot {
    pub(crate) fn set(&self, delegate: Option<Arc<dyn CommandRequestDelegate>>) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = delegate;
    }

    pub(crate) fn get(&self) -> Option<Arc<dyn CommandRequestDelegate>> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
