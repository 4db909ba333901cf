"""The delegate's shape."""

from typing import Protocol

from .api_command_request import ApiCommandRequest
from .api_command_request_response import ApiCommandRequestResponse


class CommandRequestDelegate(Protocol):
    """Called for each request, on the service's command thread, and
    expected to return at once. A delegate that takes a second argument
    also gets a ``RequestContext`` (``accept_pending``, ``defer``)."""

    def __call__(self, request: ApiCommandRequest) -> ApiCommandRequestResponse: ...
