//! Telemetry hooks. The rest of the crate calls these unconditionally; without
//! the `telemetry` feature they compile to nothing.

use std::time::Duration;

use crate::{ApiCommandRequestResponse, ApiCommandRequestServiceResponse, ApiTopic};

/// A request was answered after `in_delegate` in the delegate.
#[inline]
pub(crate) fn request_answered(_reply: &ApiCommandRequestServiceResponse, _in_delegate: Duration) {}

/// A request could not be read.
#[inline]
pub(crate) fn malformed_request(_reason: &str) {}

/// A message went out on `topic`.
#[inline]
pub(crate) fn message_published(_topic: ApiTopic) {}

/// A heartbeat went out.
#[inline]
pub(crate) fn heartbeat_sent() {}

/// A pending command's result went out, `pending_for` after acceptance.
#[inline]
pub(crate) fn pending_completed(
    _result: &ApiCommandRequestResponse,
    _pending_for: Option<Duration>,
) {
}
