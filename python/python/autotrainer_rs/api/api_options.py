"""The service's options, as the reference's (extra fields at the end)."""

from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class TelemetryOptions:
    enable: bool = False
    endpoint: Optional[str] = None
    api_key: str = ""


@dataclass(frozen=True)
class RpcOptions:
    enable: bool = True
    identifier: str = "autotrainer-device"
    heartbeat_interval: int = 5
    subscriber_port: int = 5556
    command_port: int = 5557
    protocol: Optional[str] = None
    """ "0.9.11" or "0.12"; None: ``AUTOTRAINER_RS_PROTOCOL``, else 0.9.11."""
    bind_addresses: Optional[Tuple[str, ...]] = None
    """Addresses to serve on; None: every IPv4 interface, as the reference."""
    key_file: Optional[str] = None
    """A key file: every request must then be signed (PROTOCOL.md, "Signed commands")."""


@dataclass(frozen=True)
class ApiOptions:
    rpc: Optional[RpcOptions] = None
    telemetry: Optional[TelemetryOptions] = None


def create_default_api_options() -> ApiOptions:
    """Default API options for the Autotrainer API service."""
    return ApiOptions(rpc=RpcOptions(), telemetry=TelemetryOptions())
