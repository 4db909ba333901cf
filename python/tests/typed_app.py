"""An app written against the package's types, for ``test_typing.py``: mypy
--strict must accept it (the stubs and annotations describe the package as
an app uses it)."""

import threading
from typing import Any, Dict

from autotrainer_rs.api import (
    ApiCommand,
    ApiCommandRequestResponse,
    ApiCommandRequestResult,
    ApiOptions,
    ApiTopic,
    RequestContext,
    create_api_service,
)
from autotrainer_rs.api.api_emergency_stop import ApiEmergencyStopReason
from autotrainer_rs.api.api_options import RpcOptions
from autotrainer_rs.api.command import ApiCommandRequest
from autotrainer_rs.api.command.status_response import ApiAppStatus, StatusResponse
from autotrainer_rs.api.event import ApiEventKind, build_event
from autotrainer_rs.api.event import api_event_payloads as p
from autotrainer_rs.api.command.status_response import ApiTrainingMode


def simple(request: ApiCommandRequest) -> ApiCommandRequestResponse:
    if request.command == ApiCommand.GET_STATUS:
        status = StatusResponse(ApiAppStatus.IDLE, ApiTrainingMode.MANUAL, "m-001")
        return ApiCommandRequestResponse(result=ApiCommandRequestResult.SUCCESS, data=status)
    return ApiCommandRequestResponse(result=ApiCommandRequestResult.UNRECOGNIZED)


def with_context(request: ApiCommandRequest, context: RequestContext) -> ApiCommandRequestResponse:
    done = context.accept_pending()
    finish = ApiCommandRequestResponse(result=ApiCommandRequestResult.SUCCESS)
    threading.Thread(target=lambda: done.complete(finish)).start()
    later = context.defer(1.0)
    later.send(ApiCommandRequestResponse(result=ApiCommandRequestResult.PENDING_WITH_NOTIFICATION))
    return ApiCommandRequestResponse(result=ApiCommandRequestResult.PENDING_WITH_NOTIFICATION)


def main() -> None:
    service = create_api_service(ApiOptions(rpc=RpcOptions(identifier="rig-7")))
    assert service is not None
    service.command_request_delegate = simple
    service.command_request_delegate = with_context
    stop = p.EmergencyStopContext(reason="door", reason_code=ApiEmergencyStopReason.user_button, active_alarms=[])
    sent: bool = service.send_event_dict(build_event(ApiEventKind.emergencyStop, stop))
    sent = service.send_event_dict(build_event(ApiEventKind.applicationLaunched, p.VersionContext(version="1.0")))
    sent = service.send_dict(ApiTopic.PROPERTY_CHANGE, {"lamp": True})
    stats: Dict[str, int] = service.stats()
    pending: Any = service.pending_commands()
    print(sent, stats, pending)
