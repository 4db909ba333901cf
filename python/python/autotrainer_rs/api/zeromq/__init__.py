from .zeromq_api_service import ZeroMQApiService

__all__ = ["ZeroMQApiService"]
