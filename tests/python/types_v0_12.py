"""The 0.12 reference's (`auto-trainer-api` 0.12.0) own types, as the interop
tests use them: realistic contexts for every ApiEventKind built with the
reference's `build_event`, the bytes its service writes for them, and the
reverse, rebuilding the reference's typed values (dataclasses, TypedDicts,
enums) from a message and writing them again with the reference's own
serializer.

The context type of each kind is read from `build_event`'s overloads, the
reference's single source of truth for it.
"""

import collections.abc
import dataclasses
import enum
import json
import typing
import uuid
from collections import namedtuple
from dataclasses import asdict, dataclass, is_dataclass

import humps
from typing_extensions import NotRequired

from autotrainer.api import (
    ApiAnimalStatus,
    ApiCommand,
    ApiCommandRequestErrorKind,
    ApiCommandRequestResponse,
    ApiCommandRequestResult,
    ApiEvent,
    ApiEventKind,
    ApiSystemConfiguration,
    ApiSystemStatus,
    RpcService,
)
from autotrainer.api.event import api_event_payloads as p
from autotrainer.api.event.build_event import build_event
from autotrainer.api.rpc_service import HeartbeatMessage, _ApiCommandRequestServiceResponse

NO_CONTEXT = object()
"""The context type of a kind whose `build_event` overload takes none."""


def context_types():
    """ApiEventKind -> its context type (NO_CONTEXT for kinds without one)."""
    types = {}
    for overload in typing.get_overloads(build_event):
        hints = typing.get_type_hints(overload)
        (kind,) = typing.get_args(hints["kind"])
        types[kind] = hints.get("context", NO_CONTEXT)
    missing = [kind.name for kind in ApiEventKind if kind not in types]
    if missing:
        raise RuntimeError(f"build_event has no overload for {missing}")
    return types


def to_wire(message):
    """The bytes the 0.12 service publishes for a dictionary (`_send_dict`)."""
    return RpcService.dictionary_to_json_bytes(message)


# --- Building realistic values ----------------------------------------------------------------------

@dataclass(frozen=True)
class ReachEvent:
    """An app's reach event (a `ReachEventLike`, like autotrainer.core's)."""
    init: int
    end: typing.Optional[int]
    max: typing.Optional[int]
    method: str
    outcome: str
    delay_since_presented: float


Offset3D = namedtuple("Offset3D", "x y z")


@dataclass(frozen=True)
class IntertrialResponseData:
    """An app's intertrial response (an `IntertrialResponseDataLike`)."""
    rh_max_vp_list: list
    reach_events: list
    other_events: list
    hand_events: list
    food_consumed: int
    successful_reaches: int
    total_reaches: int


TEXT = {
    "reason": "front door opened",
    "version": "1.4.2-rc.1",
    "root": "/data/My Files",
    "device_id": "rig-7",
    "day": "2026-09-14",
    "location": "/data/2026-09-14/trial143/detection.h5",
    "error": "no frames: camera 2 \"offline\"",
    "context": "cmd-4411",
    "name": "Mouse 42 \u00e9",
    "identifier": "m-001",
    "day_path": "/data/2026-09-14",
}


def _plain(hint):
    """`hint` without NotRequired[...]."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is NotRequired else hint


class Sampler:
    """Deterministic, realistic values for the reference's types: floats with
    fractional parts, enums cycling through their members, optional fields
    alternating between a value and None."""

    def __init__(self):
        self.n = 0

    def tick(self):
        self.n += 1
        return self.n

    def value(self, hint, name="context"):
        hint = _plain(hint)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        n = self.tick()
        if hint is typing.Any:
            return {"frame_rate": 29.97 + n, "roi_list": [1, 2.5, None], "label_text": "Mouse 42"}
        if origin is typing.Union:
            arms = [arm for arm in args if arm is not type(None)]
            if len(arms) < len(args) and n % 3 == 0 and name not in ("animal",):
                return None
            if p.ReachEventDict in arms:
                return self.reach() if n % 2 else self.value(p.ReachEventDict, name)
            if p.IntertrialResponseDict in arms:
                return self.intertrial_response()
            return self.value(arms[0], name)
        if origin in (list, collections.abc.Sequence):
            return [self.value(args[0], name) for _ in range(2)]
        if origin is collections.abc.Mapping:
            return {"plan_id": str(uuid.UUID(int=n)), "step_index": n, "weight": n + 0.5}
        if typing.is_typeddict(hint):
            hints = typing.get_type_hints(hint, include_extras=True)
            return hint(**{key: self.value(h, key) for key, h in hints.items()})
        if is_dataclass(hint):
            hints = typing.get_type_hints(hint)
            return hint(**{f.name: self.value(hints[f.name], f.name) for f in dataclasses.fields(hint)})
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            members = list(hint)
            return members[n % len(members)]
        if hint is bool:
            return n % 2 == 0
        if hint is int:
            return -n if name == "init" else n * 7
        if hint is float:
            if name == "date":
                return 1789000000.25 + n
            return round(n * 1.25 + 0.1, 6)
        if hint is uuid.UUID:
            return uuid.UUID(int=(n << 64) | 0x4000_8000_0000_0000)
        if hint is str:
            if name in ("session_id", "batch_id"):
                return str(uuid.UUID(int=n))
            return TEXT.get(name, f"{name}-{n}")
        raise TypeError(f"no sample for {hint!r} ({name})")

    def reach(self):
        n = self.tick()
        return ReachEvent(init=-n, end=n + 40, max=None if n % 2 else n + 20,
                          method="right_hand", outcome="eaten", delay_since_presented=n + 0.125)

    def intertrial_response(self):
        return IntertrialResponseData(
            rh_max_vp_list=[Offset3D(0.5, -1.25, 2.75), None, (1.5, 2.5, 3.5)],
            reach_events=[self.reach(), self.value(p.ReachEventDict)],
            other_events=[],
            hand_events=[self.reach()],
            food_consumed=1,
            successful_reaches=2,
            total_reaches=3,
        )


def built_events():
    """(build_event dict, repeat) for every ApiEventKind, then a few more
    shapes: a None context where one is optional, a NotRequired key left out."""
    types = context_types()
    sampler = Sampler()
    events = []
    for i, kind in enumerate(ApiEventKind):
        hint = types[kind]
        event = build_event(kind) if hint is NO_CONTEXT else build_event(kind, sampler.value(hint))
        events.append((event, i % 3))
    events.append((build_event(ApiEventKind.animalSelected, None), 0))
    events.append((build_event(ApiEventKind.protocolEvent), 0))
    events.append((build_event(ApiEventKind.dayStarted, p.DayStartedContext(date=1789000000.5)), 1))
    events.append((build_event(ApiEventKind.trialAnimalSeen, p.TrialSeenContext(
        session_id=str(uuid.UUID(int=7)), trial_id=143, batch_id=None)), 0))
    return events


def int_for_float_event():
    """An int where the type says float, as Python apps may write: Python
    writes `5`, a typed reader writes `5.0`."""
    return build_event(ApiEventKind.autoClampEngaged, p.IntensityContext(intensity=5)), 0


def event_bytes(event, repeat):
    """What the 0.12 service publishes for this event: through `send_event`
    (an ApiEvent, which has `repeat`) and through `send_event_dict` (the
    `build_event` dictionary as is, without `repeat`)."""
    api_event = ApiEvent(kind=event["kind"], when=event["when"], index=event["index"],
                         context=event["context"], repeat=repeat)
    return to_wire(asdict(api_event)), to_wire(event)


# --- Reading messages back into the reference's types -------------------------------------------------

class Mismatch(Exception):
    pass


def typed(hint, value, path="context"):
    """`value` (snake_case keys) as the reference's type `hint`: dataclasses
    and TypedDicts rebuilt field by field (no missing, no extra keys), enums
    by value; numbers must be of the hinted kind (an int is not a float)."""
    hint = _plain(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return value
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        arms = [arm for arm in args if arm is not type(None)]
        # Structural protocols arrive as their dict form.
        for arm in arms:
            if typing.is_typeddict(arm) or is_dataclass(arm) or not isinstance(arm, type) \
                    or not getattr(arm, "_is_protocol", False):
                try:
                    return typed(arm, value, path)
                except Mismatch:
                    continue
        raise Mismatch(f"{path}: {value!r} is none of {arms}")
    if origin in (list, collections.abc.Sequence):
        if not isinstance(value, list):
            raise Mismatch(f"{path}: {value!r} is not a list")
        return [typed(args[0], item, f"{path}[{i}]") for i, item in enumerate(value)]
    if origin is collections.abc.Mapping:
        if not isinstance(value, dict):
            raise Mismatch(f"{path}: {value!r} is not an object")
        return value
    if typing.is_typeddict(hint) or is_dataclass(hint):
        if not isinstance(value, dict):
            raise Mismatch(f"{path}: {value!r} is not an object")
        if typing.is_typeddict(hint):
            hints = typing.get_type_hints(hint, include_extras=True)
            required = set(hint.__required_keys__)
        else:
            hints = typing.get_type_hints(hint)
            required = {f.name for f in dataclasses.fields(hint)}
        extra = set(value) - set(hints)
        missing = required - set(value)
        if extra or missing:
            raise Mismatch(f"{path}: {hint.__name__} extra keys {sorted(extra)}, missing {sorted(missing)}")
        fields = {key: typed(hints[key], item, f"{path}.{key}") for key, item in value.items()}
        if is_dataclass(hint):
            # In field order, as the reference's own instances are.
            fields = {f.name: fields[f.name] for f in dataclasses.fields(hint) if f.name in fields}
        return hint(**fields)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError as ex:
            raise Mismatch(f"{path}: {ex}") from ex
    if hint is float:
        if type(value) is not float:
            raise Mismatch(f"{path}: {value!r} is not a float")
        return value
    if hint is int:
        if type(value) is not int:
            raise Mismatch(f"{path}: {value!r} is not an int")
        return value
    if hint in (bool, str):
        if type(value) is not hint:
            raise Mismatch(f"{path}: {value!r} is not a {hint.__name__}")
        return value
    if hint is uuid.UUID:
        try:
            return uuid.UUID(value)
        except (TypeError, ValueError, AttributeError) as ex:
            raise Mismatch(f"{path}: {value!r} is not a UUID") from ex
    raise Mismatch(f"{path}: cannot read {hint!r}")


def expect_keys(obj, keys, what):
    if not isinstance(obj, dict) or list(obj) != keys:
        raise Mismatch(f"{what}: keys {list(obj) if isinstance(obj, dict) else obj!r}, expected {keys}")


def read_event(body):
    """An EVENT body as the reference's ApiEvent with a typed context, and
    the bytes the reference writes for that ApiEvent."""
    obj = json.loads(body)
    expect_keys(obj, ["kind", "when", "index", "context", "repeat"], "event")
    kind = ApiEventKind(obj["kind"])
    hint = context_types()[kind]
    if hint is NO_CONTEXT:
        if obj["context"] is not None:
            raise Mismatch(f"{kind.name} takes no context, got {obj['context']!r}")
        context = None
    elif obj["context"] is None:  # humps.decamelize(None) is ""
        context = typed(hint, None)
    else:
        context = typed(hint, humps.decamelize(obj["context"]))
    for key, kind_of in (("when", float), ("index", int), ("repeat", int)):
        if type(obj[key]) is not kind_of:
            raise Mismatch(f"{key}: {obj[key]!r}")
    event = ApiEvent(kind=kind, when=obj["when"], index=obj["index"], context=context, repeat=obj["repeat"])
    if is_dataclass(context):
        context = asdict(context)
    return event, to_wire(asdict(dataclasses.replace(event, context=context)))


REPLY_DATA = {
    "ApiSystemStatus": ApiSystemStatus,
    "ApiSystemConfiguration": ApiSystemConfiguration,
    "List[ApiAnimalStatus]": typing.List[ApiAnimalStatus],
}


def read_reply(body, data_type=None):
    """A reply as the reference's `_ApiCommandRequestServiceResponse` (its
    `data` as `data_type` when given), and the bytes the reference writes for it."""
    obj = json.loads(body)
    expect_keys(obj, ["nonce", "command", "result", "data", "errorKind", "errorCode", "errorMessage"], "reply")
    fields = humps.decamelize(obj)
    command = fields["command"]
    if ApiCommand.is_member(command):
        command = ApiCommand(command)
    data = fields["data"]
    if data_type is not None:
        data = typed(REPLY_DATA[data_type], data, "data")
    response = _ApiCommandRequestServiceResponse(
        nonce=fields["nonce"], command=command, result=ApiCommandRequestResult(fields["result"]),
        data=data, error_kind=ApiCommandRequestErrorKind(fields["error_kind"]),
        error_code=fields["error_code"], error_message=fields["error_message"])
    return response, response.as_bytes(False)


def read_command_result(body):
    """A COMMAND_RESULT body as the reference's ApiCommandRequestResponse,
    and the bytes `send_command_result` writes for it."""
    obj = json.loads(body)
    expect_keys(obj, ["result", "data", "errorCode", "errorMessage", "command", "nonce"], "command result")
    fields = humps.decamelize(obj)
    response = ApiCommandRequestResponse(
        result=ApiCommandRequestResult(fields["result"]), data=fields["data"],
        error_code=fields["error_code"], error_message=fields["error_message"],
        command=ApiCommand(fields["command"]), nonce=fields["nonce"])
    return response, to_wire(asdict(response))


def read_heartbeat(body):
    obj = json.loads(body)
    expect_keys(obj, ["identifier", "version", "timestamp"], "heartbeat")
    heartbeat = HeartbeatMessage(**obj)
    return heartbeat, to_wire(asdict(heartbeat))
