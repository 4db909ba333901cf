"""The delegate's shape."""

from typing import TYPE_CHECKING, Protocol

from .api_command_request import ApiCommandRequest
from .api_command_request_response import ApiCommandRequestResponse


class CommandRequestDelegate(Protocol):
    """Called for each request, on the service's command thread, and
    expected to return at once. A delegate that takes a second argument
    also gets a ``RequestContext`` (``accept_pending``, ``defer``)."""

    def __call__(self, request: ApiCommandRequest) -> ApiCommandRequestResponse: ...


if TYPE_CHECKING:
    from ..rpc_service import RequestContext


class ContextCommandRequestDelegate(Protocol):
    """A delegate that also takes the ``RequestContext`` (beyond the reference)."""

    def __call__(self, request: ApiCommandRequest, context: "RequestContext") -> ApiCommandRequestResponse: ...
