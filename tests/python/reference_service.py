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

import argparse
import dataclasses
import enum
import typing
import json
import logging
import signal
import socket
import sys
import threading
import time

import zmq

from autotrainer.api import (
    ApiCommandReqeustResult,
    ApiCommandRequestResponse,
    ApiOptions,
    ApiTopic,
    create_api_service,
)
from autotrainer.api.api_event_kind import ApiEventKind
from autotrainer.api.api_options import RpcOptions
from autotrainer.api.command.configuration_response import ConfigurationResponse
from autotrainer.api.command.status_response import StatusResponse

from jsonlines import emit, flush_and_exit, stdin_objects



class _Unserializable:
    def __repr__(self):
        return "<unserializable>"


def load_answers(path):
    if path is None:
        return {}
    with open(path, "r", encoding="utf-8") as f:
        answers = json.load(f)
    if not isinstance(answers, dict):
        raise ValueError("the answers file must hold a JSON object")
    for key, value in answers.items():
        if not isinstance(value, dict):
            raise ValueError(f"answer {key!r} must be a JSON object")
    return answers


def make_delegate(answers):
    def delegate(request):
        command = int(request.command)
        emit({"request": {
            "command": command,
            "nonce": request.nonce,
            "custom_command": request.custom_command,
            "data": request.data,
        }})

        answer = answers.get(str(command), answers.get("default"))
        if answer is None:
            return ApiCommandRequestResponse(result=ApiCommandReqeustResult.SUCCESS, data=None)

        if "raise" in answer:
            raise Exception(answer["raise"])

        result = answer.get("result", int(ApiCommandReqeustResult.SUCCESS))
        try:
            result = ApiCommandReqeustResult(result)
        except ValueError:
            pass  # pass arbitrary ints through unchanged

        data = answer.get("data")
        if "dataclass" in answer:
            data = build_dataclass(answer["dataclass"]["type"], answer["dataclass"]["fields"])
        if answer.get("unserializable"):
            data = {"value": _Unserializable()}

        return ApiCommandRequestResponse(
            result=result,
            data=data,
            error_code=answer.get("error_code", 0),
            error_message=answer.get("error_message"),
        )

    return delegate


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


def bound_port(zmq_socket):
    """The port of the socket's last bind, or None while it has none yet
    (the service thread creates a socket, then binds it)."""
    endpoint = zmq_socket.getsockopt(zmq.LAST_ENDPOINT).decode()
    port = endpoint.rsplit(":", 1)[-1]
    return int(port) if port.isdigit() else None


def port_accepts(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def as_topic(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"topic must be an integer, got {value!r}")
    try:
        return ApiTopic(value)
    except ValueError:
        return value


class Runner:
    def __init__(self, service):
        self.service = service
        self._stop_lock = threading.RLock()
        self._stopped = False

    def stop_and_exit(self, code=0):
        with self._stop_lock:
            if not self._stopped:
                self._stopped = True
                try:
                    self.service.stop()
                except Exception as ex:  # never crash on the way out
                    emit({"error": f"stop failed: {ex!r}"})
                emit({"stopped": True})
        # The reference never closes its sockets or terminates its contexts;
        # skip interpreter finalization so that cannot hang the exit.
        flush_and_exit(code)

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


def main(argv=None):
    parser = argparse.ArgumentParser(description="run the reference auto-trainer-api service")
    parser.add_argument("--pub-port", type=int, required=True)
    parser.add_argument("--cmd-port", type=int, required=True)
    parser.add_argument("--identifier", default="autotrainer-device")
    parser.add_argument("--heartbeat-interval", type=float, default=5.0)
    parser.add_argument("--answers", default=None)
    parser.add_argument("--no-delegate", action="store_true")
    parser.add_argument("--ready-timeout", type=float, default=10.0)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)

    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="reference_service %(levelname)s %(name)s: %(message)s")

    try:
        answers = load_answers(args.answers)
    except Exception as ex:
        emit({"error": f"cannot load answers: {ex}"})
        return 2

    options = ApiOptions(rpc=RpcOptions(
        enable=True,
        identifier=args.identifier,
        heartbeat_interval=args.heartbeat_interval,
        subscriber_port=args.pub_port,
        command_port=args.cmd_port,
    ))
    service = create_api_service(options)
    if not args.no_delegate:
        service.command_request_delegate = make_delegate(answers)
    runner = Runner(service)

    signal.signal(signal.SIGTERM, lambda *_: runner.stop_and_exit(0))
    signal.signal(signal.SIGINT, lambda *_: runner.stop_and_exit(0))

    service.start()

    # Ready when the service thread has bound both sockets and both ports
    # accept TCP connections. If binding failed (e.g. port in use) the thread
    # ends without sockets; checking them avoids mistaking another process
    # listening on the port for this service.
    deadline = time.monotonic() + args.ready_timeout
    while True:
        bound = service._pub_socket is not None and service._cmd_socket is not None
        if bound:
            # Port 0 lets the OS pick: the reference binds its host address,
            # then 127.0.0.1, so the last endpoint is the loopback one.
            pub_port = bound_port(service._pub_socket)
            cmd_port = bound_port(service._cmd_socket)
            if pub_port and cmd_port and port_accepts(pub_port) and port_accepts(cmd_port):
                break
        thread = service._thread
        if not bound and thread is not None and not thread.is_alive():
            emit({"error": "the reference service failed to start (ports in use?)"})
            runner.stop_and_exit(1)
        if time.monotonic() > deadline:
            emit({"error": f"the reference service was not ready after {args.ready_timeout} s"})
            runner.stop_and_exit(1)
        time.sleep(0.02)

    emit({"ready": True, "pub_port": pub_port, "cmd_port": cmd_port})

    for obj in stdin_objects():
        try:
            runner.handle(obj)
        except Exception as ex:
            emit({"error": f"{type(ex).__name__}: {ex}", "input": obj})

    runner.stop_and_exit(0)


if __name__ == "__main__":
    sys.exit(main())
