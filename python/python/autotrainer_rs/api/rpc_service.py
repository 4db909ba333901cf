"""The service: the reference's ``RpcService`` API on the Rust core.

The Rust core owns the sockets and threads: requests are answered as soon
as they arrive, a malformed request gets an error reply and the service goes
on, publishing never blocks (a bounded queue; ``stats()`` counts drops), and
the command thread takes the GIL only to run the delegate.
"""

import inspect
import json
import logging
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from .. import _core
from ._catalogs import CATALOGS
from ._enums_shared import ApiCommandRequestErrorKind, ApiTopic
from ._generation import PROTOCOL, V0_9, normalize
from .api_options import RpcOptions
from .command.api_command import ApiCommand
from .command.api_command_request import ApiCommandRequest
from .command.api_command_request_response import ApiCommandRequestResponse
from .command.api_command_request_result import ApiCommandRequestResult
from .command.command_request_delegate import CommandRequestDelegate, ContextCommandRequestDelegate
from .event.api_event import ApiEvent, ApiEventDict
from .util import prepare_for_serialization

logger = logging.getLogger(__name__)

ApiCommandReqeustResult = ApiCommandRequestResult
"""0.9.11's spelling."""
if PROTOCOL == V0_9:
    from ._enums_v0_9 import ApiEventKind
else:
    from ._enums_v0_12 import ApiEventKind  # type: ignore[assignment]

__all__ = [
    "ApiEvent",
    "ApiEventDict",
    "ApiCommand",
    "ApiEventKind",
    "ApiTopic",
    "ApiCommandRequest",
    "ApiCommandRequestResponse",
    "ApiCommandReqeustResult",
    "ApiCommandRequestResult",
    "ApiCommandRequestErrorKind",
    "CommandRequestDelegate",
    "ContextCommandRequestDelegate",
    "HeartbeatMessage",
    "RpcService",
    "RequestContext",
    "CompletionHandle",
    "DeferredReply",
]


@dataclass
class HeartbeatMessage:
    identifier: str
    version: str
    timestamp: float


def _data_json(data: Any) -> Tuple[Optional[str], bool]:
    """A response's data as JSON text, and whether it could not be serialized."""
    if data is None:
        return None, False
    try:
        return json.dumps(prepare_for_serialization(data), allow_nan=False), False
    except (TypeError, ValueError) as ex:
        logger.error(ex)
        return None, True


def _response_parts(response: ApiCommandRequestResponse) -> Tuple[int, Optional[str], int, Optional[str], bool]:
    data_json, unserializable = _data_json(response.data)
    return int(response.result), data_json, int(response.error_code), response.error_message, unserializable


def _sendable_parts(response: ApiCommandRequestResponse) -> Tuple[int, Optional[str], int, Optional[str]]:
    """A response's parts to send later; TypeError when its data is not JSON."""
    result, data_json, error_code, error_message, unserializable = _response_parts(response)
    if unserializable:
        raise TypeError(f"the response's data cannot be written as JSON: {response.data!r}")
    return result, data_json, error_code, error_message


class CompletionHandle:
    """Publishes the COMMAND_RESULT of a command accepted as pending, from any thread."""

    def __init__(self, handle: "_core.CompletionHandle"):
        self._handle = handle

    @property
    def nonce(self) -> int:
        return self._handle.nonce

    def complete(self, response: ApiCommandRequestResponse) -> None:
        """Publishes ``response`` addressed to the command; raises RuntimeError
        when it was completed before or the service is not running."""
        self._handle.complete(_sendable_parts(response))


class DeferredReply:
    """A reply to send later, from any thread, while the service serves other
    peers. Exactly one reply reaches the peer: this one, or at the deadline
    FAILED (errorCode 408), or EXCEPTION if it is given up, or UNAVAILABLE
    if the service stops first."""

    def __init__(self, reply: "_core.DeferredReply"):
        self._reply = reply

    @property
    def nonce(self) -> int:
        return self._reply.nonce

    @property
    def is_open(self) -> bool:
        return self._reply.is_open

    def accept_pending(self) -> CompletionHandle:
        """For a reply of PENDING_WITH_NOTIFICATION: the handle that completes it."""
        return CompletionHandle(self._reply.accept_pending())

    def send(self, response: ApiCommandRequestResponse) -> None:
        """Sends the reply; RuntimeError when it was settled already."""
        self._reply.send(_sendable_parts(response))

    def give_up(self) -> None:
        """The peer gets an EXCEPTION reply now."""
        self._reply.drop_reply()


class RequestContext:
    """What a delegate taking two arguments gets besides the request."""

    def __init__(self, context: "_core.Context"):
        self._context = context

    def accept_pending(self) -> CompletionHandle:
        """Takes the command on as pending: return PENDING_WITH_NOTIFICATION,
        then complete through the handle."""
        return CompletionHandle(self._context.accept_pending())

    def defer(self, timeout: float) -> DeferredReply:
        """Replies later (within ``timeout`` seconds); what the delegate
        returns is then not sent."""
        return DeferredReply(self._context.defer(timeout))


AnyDelegate = Union[CommandRequestDelegate, ContextCommandRequestDelegate]
"""The reference's one-argument delegate, or one that also takes the ``RequestContext``."""


def _takes_context(delegate: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(delegate).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p for p in parameters if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return len(positional) >= 2 or any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters)


class RpcService:
    """The device's service: a PUB socket for heartbeats, events and
    results, a command socket whose requests go to ``command_request_delegate``."""

    def __init__(self, options: RpcOptions):
        self._options = options
        self._protocol = normalize(options.protocol) if options.protocol else PROTOCOL
        self._command_enum = CATALOGS[self._protocol]["ApiCommand"]
        self._service = _core.Service(
            options.identifier,
            float(options.heartbeat_interval),
            options.subscriber_port,
            options.command_port,
            self._protocol,
            list(options.bind_addresses) if options.bind_addresses is not None else None,
            options.key_file,
        )
        self._command_callback: Optional[AnyDelegate] = None
        self._lock = threading.Lock()
        self._started = False
        self._termination_requested = False

    @property
    def protocol(self) -> str:
        """The protocol generation served: "0.9.11" or "0.12"."""
        return self._protocol

    @property
    def subscriber_port(self) -> int:
        """The PUB port (the bound one once started: port 0 takes a free port)."""
        return self._service.subscriber_port if self._started else self._options.subscriber_port

    @property
    def command_port(self) -> int:
        return self._service.command_port if self._started else self._options.command_port

    @property
    def identifier(self) -> str:
        return self._options.identifier

    @property
    def heartbeat_interval(self) -> int:
        return self._options.heartbeat_interval

    @property
    def command_request_delegate(self) -> Optional[AnyDelegate]:
        return self._command_callback

    @command_request_delegate.setter
    def command_request_delegate(self, value: Optional[AnyDelegate]) -> None:
        if self._termination_requested:
            logger.warning("The RPC service has been terminated. command_request_delegate not set")
            return
        self._command_callback = value
        if value is None:
            self._service.set_dispatch(None)
        else:
            self._service.set_dispatch(self._dispatcher(value))

    def _dispatcher(self, delegate: Callable[..., Any]):
        with_context = _takes_context(delegate)
        commands = self._command_enum

        def dispatch(command: int, custom_command: int, nonce: int, data_json: Optional[str], context):
            if commands.is_member(command):
                command = commands(command)
            data = json.loads(data_json) if data_json is not None else None
            request = ApiCommandRequest(command=command, custom_command=custom_command, nonce=nonce, data=data)
            try:
                if with_context:
                    response = delegate(request, RequestContext(context))
                else:
                    response = delegate(request)
                # A dataclass in `data` becomes a dict in prepare_for_serialization.
                return _response_parts(response)
            except Exception as ex:  # the reference answers EXCEPTION with the text
                return int(ApiCommandRequestResult.EXCEPTION), None, 0, str(ex), False

        return dispatch

    def start(self):
        with self._lock:
            if self._started or self._termination_requested:
                raise RuntimeError("The RPC service has already been started.")
            self._service.start()
            self._started = True

    def stop(self):
        with self._lock:
            if not self._started or self._termination_requested:
                return
            self._termination_requested = True
            self._command_callback = None
        self._service.set_dispatch(None)
        self._service.stop()

    # -- publishing (never waits on the network) --

    def _outcome(self, status: str, topic: Any) -> bool:
        if status == "ok":
            return True
        if status == "full":
            logger.warning("The publishing queue is full; message on %s dropped (counted in stats()).", topic)
        else:
            logger.warning("The RPC service is not running.  Message not sent.")
        return False

    def send(self, topic: int, data: bytes) -> bool:
        return self._outcome(self._service.publish_bytes(int(topic), bytes(data)), topic)

    def send_string(self, topic: int, message: str) -> bool:
        return self._outcome(self._service.publish_bytes(int(topic), message.encode("utf8")), topic)

    def send_dict(self, topic: int, message: Mapping[str, Any]) -> bool:
        """Publishes ``message`` as JSON with camelCase keys (values
        untouched); an emergency event on EVENT goes out on EMERGENCY first."""
        text = json.dumps(prepare_for_serialization(dict(message)))
        return self._outcome(self._service.publish_json(int(topic), text), topic)

    def send_event_dict(self, message: Mapping[str, Any]) -> bool:
        """0.12: publishes an event given as a dict (``kind``, ``when``,
        ``index``, ``context``, ``repeat``) on EVENT."""
        return self.send_dict(ApiTopic.EVENT, message)

    def send_event(self, message: Any) -> bool:
        """0.12: publishes an ``ApiEvent``."""
        return self.send_event_dict(asdict(message))

    def send_command_result(self, result: ApiCommandRequestResponse) -> bool:
        """0.12: publishes the COMMAND_RESULT of a pending command (its
        ``command`` and ``nonce`` set from the request)."""
        status = self._service.publish_command_result(_sendable_parts(result), int(result.command), int(result.nonce))
        return self._outcome(status, ApiTopic.COMMAND_RESULT)

    # -- beyond the reference --

    def stats(self) -> Dict[str, int]:
        """The service's counters (queue depth, drops, requests, refusals...)."""
        return self._service.stats()

    def pending_commands(self) -> List[Tuple[int, int]]:
        """Open pending commands as ``(nonce, command)``."""
        return self._service.pending_commands()

    def reload_keys(self) -> int:
        """Reads ``RpcOptions.key_file`` again (key rotation); returns how many keys it holds."""
        return self._service.reload_keys()

