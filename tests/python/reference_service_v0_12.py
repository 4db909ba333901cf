#!/usr/bin/env python3
"""Runs the REAL 0.12 reference service (`auto-trainer-api` 0.12.0) as a
process, in the 0.12 venv (`scripts/python-test-env.sh 0.12`). Modelled on
reference_service.py (the 0.9.11 one).

Usage:
  reference_service_v0_12.py --pub-port P --cmd-port C [--identifier ID]   (0: the OS picks)
                             [--heartbeat-interval SECONDS] [--answers FILE] [--no-delegate]
                             [--ready-timeout SECONDS] [--log-level LEVEL]

--answers FILE is a JSON object mapping a command number (as a string, the
value the delegate sees; the reference maps unknown numbers to 99999 first,
and answers NONE 0 itself) or "default" to one of:
  {"result": int, "data": any, "error_code": int, "error_message": str|null}
      (every key optional: result 100, data null, error_code 0,
      error_message null)
  {"raise": "message"}          the delegate raises Exception(message)
  {"unserializable": true, ...} data is an object json cannot serialize
  {"typed": {"type": NAME, "fields": any}, ...}
                                data is the reference's own NAME
                                (ApiSystemStatus, ApiSystemConfiguration or
                                List[ApiAnimalStatus]) rebuilt from the
                                snake_case JSON `fields` (types_v0_12.typed)
  {"sleep": SECONDS, ...}       the delegate sleeps first (a device slow to
                                answer), then answers as the other keys say
Without a matching entry the delegate answers SUCCESS with data null.

Stdout, one JSON object per line, flushed:
  {"ready": true, "pub_port": P, "cmd_port": C}   both (bound) ports accept TCP
  {"request": {"command", "nonce", "custom_command", "data"}}  per request
  {"sent": bool}                  after each send_* line (the return value)
  {"stopped": true}               just before exiting
  {"error": "..."}                bad input (never fatal)

Stdin, one JSON object per line:
  {"send_event": {"kind": int, "context": any, "repeat": int, "when": float, "index": int}}
      build_event(ApiEventKind(kind), context as the kind's typed context)
      made an ApiEvent with `repeat` (default 0), via service.send_event;
      `when`/`index` replace build_event's when given
  {"send_event_dict": {"kind": int, "context": any}}
      build_event(...) as is, via service.send_event_dict (no `repeat`)
  {"send_command_result": {"result": int, "data": any, "error_code": int,
                           "error_message": str|null, "command": int, "nonce": int}}
      an ApiCommandRequestResponse via service.send_command_result
  {"send_dict": {"topic": int, "message": {...}}}
      the service's own `_send_dict` on its publishing thread (0.12 has no
      public send_dict; join probes use this)
  {"stop": true}
EOF on stdin, SIGTERM or SIGINT also stop the service and exit 0.
"""

import sys

from autotrainer.api import (
    ApiCommand,
    ApiCommandRequestResponse,
    ApiCommandRequestResult,
    ApiEvent,
    ApiEventKind,
    build_event,
)

from jsonlines import emit
from reference_host import Host, serve
from types_v0_12 import NO_CONTEXT, REPLY_DATA, context_types, typed


def typed_answer(answer):
    """The reference's own payload an answer asks for (`typed`), or None."""
    if "typed" not in answer:
        return None
    return typed(REPLY_DATA[answer["typed"]["type"]], answer["typed"]["fields"], "data")


def built_event(spec):
    """build_event for the spec's kind, its context rebuilt as the kind's type."""
    kind = ApiEventKind(spec["kind"])
    hint = context_types()[kind]
    if hint is NO_CONTEXT:
        event = build_event(kind)
    else:
        event = build_event(kind, typed(hint, spec.get("context")))
    for key in ("when", "index"):
        if key in spec:
            event[key] = spec[key]
    return event


class Runner(Host):
    def handle(self, obj):
        service = self.service
        if obj.get("stop"):
            self.stop_and_exit(0)
        elif "send_event" in obj:
            spec = obj["send_event"]
            event = built_event(spec)
            api_event = ApiEvent(kind=event["kind"], when=event["when"], index=event["index"],
                                 context=event["context"], repeat=spec.get("repeat", 0))
            emit({"sent": bool(service.send_event(api_event))})
        elif "send_event_dict" in obj:
            emit({"sent": bool(service.send_event_dict(built_event(obj["send_event_dict"])))})
        elif "send_command_result" in obj:
            spec = obj["send_command_result"]
            response = ApiCommandRequestResponse(
                result=ApiCommandRequestResult(spec.get("result", 100)),
                data=spec.get("data"),
                error_code=spec.get("error_code", 0),
                error_message=spec.get("error_message"),
                command=ApiCommand(spec["command"]),
                nonce=spec["nonce"],
            )
            emit({"sent": bool(service.send_command_result(response))})
        elif "send_dict" in obj:
            spec = obj["send_dict"]
            if not isinstance(spec, dict) or not isinstance(spec.get("message"), dict):
                raise ValueError("send_dict needs {\"topic\": int, \"message\": {...}}")
            topic, message = int(spec["topic"]), spec["message"]
            service._queue.put(lambda: service._send_dict(topic, message))
            emit({"sent": True})
        else:
            raise ValueError(
                "unknown input; expected send_event, send_event_dict, send_command_result, send_dict or stop"
            )


if __name__ == "__main__":
    sys.exit(serve("reference_service_v0_12", Runner, ApiCommandRequestResult, typed_answer))
