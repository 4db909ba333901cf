#!/usr/bin/env python3
"""Runs the REAL reference service (`auto-trainer-api` 0.9.11) as a process.

Usage:
  reference_service.py --pub-port P --cmd-port C [--identifier ID]   (0: the OS picks)
                       [--heartbeat-interval SECONDS] [--answers FILE]
                       [--ready-timeout SECONDS] [--log-level LEVEL]

--answers FILE is a JSON object mapping a command number (as a string, the
value the delegate sees; the reference maps unknown numbers to 99999 first) or
"default" to one of:
  {"result": int, "data": any, "error_code": int, "error_message": str|null}
      (every key optional: result 100, data null, error_code 0,
      error_message null)
  {"raise": "message"}          the delegate raises Exception(message)
  {"unserializable": true, ...} data is replaced by an object json cannot
                                serialize (exercises the fallback reply)
  {"dataclass": {"type": NAME, "fields": {...}}, ...}
                                data is the reference's own dataclass NAME
                                (see send_dataclass below), which the
                                reference turns into a dict itself
  {"sleep": SECONDS, ...}       the delegate sleeps first (a device slow to
                                answer), then answers as the other keys say
Without a matching entry the delegate answers SUCCESS with data null.
Without --answers at all, the same. With --no-delegate no delegate is
registered (the reference then answers UNAVAILABLE).

Stdout, one JSON object per line, flushed:
  {"ready": true, "pub_port": P, "cmd_port": C}   both (bound) ports accept TCP
  {"request": {"command", "nonce", "custom_command", "data"}}  per request
  {"sent": bool}                  after each send_* line (the return value)
  {"stopped": true}               just before exiting
  {"error": "..."}                bad input (never fatal)

Stdin, one JSON object per line:
  {"send_dict": {"topic": int, "message": {...}}}
  {"send_string": {"topic": int, "message": "..."}}
  {"send": {"topic": int, "hex": "..."}}          raw bytes via service.send
  {"send_dataclass": {"topic": int, "type": NAME, "fields": {...}}}
      builds the reference's own dataclass NAME (ApiCommandRequestResponse,
      StatusResponse or ConfigurationResponse; numbers become the IntEnum its
      field is typed with) and sends dataclasses.asdict of it via send_dict,
      as the reference's README tells apps to publish a command result
  {"send_event": {"kind": int, "when": float, "index": int, "context": any}}
      the EVENT dictionary of the reference's README, `kind` an ApiEventKind
      member, via send_dict(ApiTopic.EVENT, ...); without `when` and `index`,
      time.time() and time.monotonic_ns() as the README describes them
  {"stop": true}
EOF on stdin, SIGTERM or SIGINT also stop the service and exit 0.
A topic that is not an ApiTopic member is passed through as a plain int.
"""

import dataclasses
import enum
import sys
import time
import typing

from autotrainer.api import (
    ApiCommandReqeustResult,
    ApiCommandRequestResponse,
    ApiTopic,
)
from autotrainer.api.api_event_kind import ApiEventKind
from autotrainer.api.command.configuration_response import ConfigurationResponse
from autotrainer.api.command.status_response import StatusResponse

from jsonlines import emit
from reference_host import Host, serve


DATACLASSES = {
    cls.__name__: cls
    for cls in (ApiCommandRequestResponse, StatusResponse, ConfigurationResponse)
}


def build_dataclass(name, fields):
    """The reference's dataclass `name` with `fields`; a number given for a
    field typed with an IntEnum becomes that IntEnum's member."""
    cls = DATACLASSES[name]
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in fields.items():
        hint = hints[key]
        if isinstance(hint, type) and issubclass(hint, enum.IntEnum):
            value = hint(value)
        values[key] = value
    return cls(**values)


def dataclass_answer(answer):
    """The reference's own dataclass an answer names, or None."""
    if "dataclass" not in answer:
        return None
    return build_dataclass(answer["dataclass"]["type"], answer["dataclass"]["fields"])


def as_topic(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"topic must be an integer, got {value!r}")
    try:
        return ApiTopic(value)
    except ValueError:
        return value


class Runner(Host):
    def handle(self, obj):
        if obj.get("stop"):
            self.stop_and_exit(0)
        elif "send_dict" in obj:
            spec = obj["send_dict"]
            if not isinstance(spec, dict) or not isinstance(spec.get("message"), dict):
                raise ValueError("send_dict needs {\"topic\": int, \"message\": {...}}")
            emit({"sent": bool(self.service.send_dict(as_topic(spec.get("topic")), spec["message"]))})
        elif "send_string" in obj:
            spec = obj["send_string"]
            if not isinstance(spec, dict) or not isinstance(spec.get("message"), str):
                raise ValueError("send_string needs {\"topic\": int, \"message\": \"...\"}")
            emit({"sent": bool(self.service.send_string(as_topic(spec.get("topic")), spec["message"]))})
        elif "send" in obj:
            spec = obj["send"]
            if not isinstance(spec, dict) or not isinstance(spec.get("hex"), str):
                raise ValueError("send needs {\"topic\": int, \"hex\": \"...\"}")
            emit({"sent": bool(self.service.send(as_topic(spec.get("topic")), bytes.fromhex(spec["hex"])))})
        elif "send_dataclass" in obj:
            spec = obj["send_dataclass"]
            message = dataclasses.asdict(build_dataclass(spec["type"], spec["fields"]))
            emit({"sent": bool(self.service.send_dict(as_topic(spec.get("topic")), message))})
        elif "send_event" in obj:
            spec = obj["send_event"]
            message = {
                "kind": ApiEventKind(spec["kind"]),
                "when": spec["when"] if "when" in spec else time.time(),
                "index": spec["index"] if "index" in spec else time.monotonic_ns(),
                "context": spec.get("context"),
            }
            emit({"sent": bool(self.service.send_dict(ApiTopic.EVENT, message))})
        else:
            raise ValueError(
                "unknown input; expected send_dict, send_string, send, send_dataclass, send_event or stop"
            )


if __name__ == "__main__":
    sys.exit(serve("reference_service", Runner, ApiCommandReqeustResult, dataclass_answer))
