from .api_command import ApiCommand
from .api_command_request import ApiCommandRequest
from .api_command_request_response import ApiCommandRequestResponse
from .api_command_request_result import ApiCommandRequestResult
from .configuration_response import ConfigurationResponse
from .status_response import StatusResponse

__all__ = [
    "ApiCommand",
    "ApiCommandRequest",
    "ApiCommandRequestResponse",
    "ApiCommandRequestResult",
    "ConfigurationResponse",
    "StatusResponse",
]
