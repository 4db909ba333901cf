"""The ZeroMQ service, as the reference names it (with the names the
reference's module imports, which apps may import from it)."""

from ..api_options import RpcOptions
from ..command.api_command import ApiCommand
from ..command.api_command_request import ApiCommandRequest
from ..rpc_service import ApiTopic, RpcService
from ..util import UUIDEncoder, get_ip4_addr_str

__all__ = ["ZeroMQApiService", "RpcOptions", "ApiCommand", "ApiCommandRequest", "ApiTopic", "UUIDEncoder",
           "get_ip4_addr_str"]


class ZeroMQApiService(RpcService):
    """The service on ZeroMQ (the only transport): ``RpcService`` as is."""
