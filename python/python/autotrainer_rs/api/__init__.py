"""
API Service functionality for Autotrainer, on the Rust core.

Both generations of the reference are here, each at its own module paths;
names both put at the same place follow ``AUTOTRAINER_RS_PROTOCOL`` (see
``_generation``).
"""

from typing import Optional

from ._generation import PROTOCOL as _PROTOCOL
from ._generation import V0_9 as _V0_9
from .api_alarm_kind import ApiAlarmKind
from .api_application_mode import ApiApplicationMode
from .api_detector_kind import ApiDetectorKind
from .api_emergency_stop import ApiEmergencyResumeReason, ApiEmergencyStopReason
from .api_options import ApiOptions, RpcOptions, TelemetryOptions, create_default_api_options
from .api_system_configuration import ApiSystemConfiguration
from .api_system_status import (
    ApiAlarmStatus,
    ApiAnimalStatus,
    ApiDetectorStatus,
    ApiPelletDeviceStatus,
    ApiProjectStatus,
    ApiSystemStatus,
    ApiTunnelDeviceStatus,
)
from .api_training_mode import ApiTrainingMode
from .command import (
    ApiCommand,
    ApiCommandRequest,
    ApiCommandRequestResponse,
    ApiCommandRequestResult,
    ConfigurationResponse,
    StatusResponse,
)
from .event import ApiEvent, ApiEventDict, ApiPelletShiftSource, build_event
from .rpc_service import (
    ApiCommandReqeustResult,
    ApiCommandRequestErrorKind,
    ApiTopic,
    CompletionHandle,
    DeferredReply,
    RequestContext,
    RpcService,
)
from .util import resolve_enum

if _PROTOCOL == _V0_9:
    from .api_event_kind import ApiEventKind
else:
    from .event import ApiEventKind  # type: ignore[assignment]


__all__ = [
    "ApiAlarmKind",
    "ApiAlarmStatus",
    "ApiAnimalStatus",
    "ApiApplicationMode",
    "ApiCommand",
    "ApiCommandReqeustResult",
    "ApiCommandRequest",
    "ApiCommandRequestErrorKind",
    "ApiCommandRequestResponse",
    "ApiCommandRequestResult",
    "ApiDetectorKind",
    "ApiDetectorStatus",
    "ApiEmergencyResumeReason",
    "ApiEmergencyStopReason",
    "ApiEvent",
    "ApiEventDict",
    "ApiEventKind",
    "ApiOptions",
    "ApiPelletDeviceStatus",
    "ApiPelletShiftSource",
    "ApiProjectStatus",
    "ApiSystemConfiguration",
    "ApiSystemStatus",
    "ApiTopic",
    "ApiTrainingMode",
    "ApiTunnelDeviceStatus",
    "CompletionHandle",
    "ConfigurationResponse",
    "DeferredReply",
    "RequestContext",
    "RpcOptions",
    "RpcService",
    "StatusResponse",
    "TelemetryOptions",
    "build_event",
    "create_api_service",
    "create_default_api_options",
    "resolve_enum",
]


def create_api_service(options: ApiOptions) -> Optional[RpcService]:
    from .zeromq import ZeroMQApiService

    if options.rpc is not None and options.rpc.enable:
        return ZeroMQApiService(options.rpc)
    return None
