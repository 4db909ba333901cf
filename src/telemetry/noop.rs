//! The hooks without the `telemetry` feature: nothing, inlined away.

use std::time::Duration;

use super::ServiceGauges;
use crate::{ApiCommandRequestResponse, ApiCommandRequestServiceResponse, ApiTopic, Command};

/// Held while a request is handled.
pub(crate) struct RequestTrace;

/// Travels with a pending command until its result is published.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingTrace;

/// A request arrived; the returned guard ends its span when dropped.
#[inline(always)]
pub(crate) fn request_started() -> RequestTrace {
    RequestTrace
}

/// A request was answered after `in_delegate` in the delegate.
#[inline(always)]
pub(crate) fn request_answered(_reply: &ApiCommandRequestServiceResponse, _in_delegate: Duration) {}

/// A request was signed by (or named) the key `key_id`.
#[inline(always)]
pub(crate) fn request_signed(_key_id: &str) {}

/// A request could not be read.
#[inline(always)]
pub(crate) fn malformed_request(_reason: &str) {}

/// The delegate accepted a command as pending.
#[inline(always)]
pub(crate) fn pending_accepted(_command: Command, _nonce: i64) -> PendingTrace {
    PendingTrace
}

/// A message went out on `topic`.
#[inline(always)]
pub(crate) fn message_published(_topic: ApiTopic) {}

/// A heartbeat went out.
#[inline(always)]
pub(crate) fn heartbeat_sent() {}

/// A command result went out; `pending` is set when it settled a pending command.
#[inline(always)]
pub(crate) fn pending_completed(
    _result: &ApiCommandRequestResponse,
    _pending: Option<&PendingTrace>,
) {
}

/// A service started; `gauges` reads its counters (`None` once it is gone).
#[inline(always)]
pub(crate) fn service_started(
    _identifier: &str,
    _gauges: impl Fn() -> Option<ServiceGauges> + Send + Sync + 'static,
) {
}
