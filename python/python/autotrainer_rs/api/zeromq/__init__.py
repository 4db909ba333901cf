"""The ZeroMQ service, as the reference names it."""

from ..rpc_service import RpcService


class ZeroMQApiService(RpcService):
    """The service on ZeroMQ (the only transport)."""


__all__ = ["ZeroMQApiService"]
