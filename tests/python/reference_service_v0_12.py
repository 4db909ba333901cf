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

import argparse
import json
import logging
import signal
import socket
import sys
import threading
import time
import typing

import zmq

from autotrainer.api import (
    ApiCommand,
    ApiCommandRequestResponse,
    ApiCommandRequestResult,
    ApiEvent,
    ApiEventKind,
    ApiOptions,
    build_event,
    create_api_service,
)
from autotrainer.api.api_options import RpcOptions

from jsonlines import emit, flush_and_exit, stdin_objects
from types_v0_12 import NO_CONTEXT, REPLY_DATA, context_types, typed


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
            return ApiCommandRequestResponse(result=ApiCommandRequestResult.SUCCESS, data=None)

        if "raise" in answer:
            raise Exception(answer["raise"])

        result = answer.get("result", int(ApiCommandRequestResult.SUCCESS))
        try:
            result = ApiCommandRequestResult(result)
        except ValueError:
            pass  # pass arbitrary ints through unchanged

        data = answer.get("data")
        if "typed" in answer:
            data = typed(REPLY_DATA[answer["typed"]["type"]], answer["typed"]["fields"], "data")
        if answer.get("unserializable"):
            data = {"value": _Unserializable()}

        return ApiCommandRequestResponse(
            result=result,
            data=data,
            error_code=answer.get("error_code", 0),
            error_message=answer.get("error_message"),
        )

    return delegate


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


class Runner:
    def __init__(self, service):
        self.service = service
        self._stop_lock = threading.RLock()
        self._stopped = False

    def stop_and_exit(self, code=0):
        with self._stop_lock:
            if not self._stopped:
                self._stopped = True
                # Bound to port 0, the reference cannot unbind its addresses
                # ("tcp://...:0" was never an endpoint) and its thread dies
                # with a traceback; it closes the sockets anyway.
                self.service._pub_addresses = []
                self.service._cmd_addresses = []
                try:
                    self.service.stop()
                except Exception as ex:  # never crash on the way out
                    emit({"error": f"stop failed: {ex!r}"})
                emit({"stopped": True})
        # Skip interpreter finalization so nothing can hang the exit.
        flush_and_exit(code)

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


def main(argv=None):
    parser = argparse.ArgumentParser(description="run the 0.12 reference auto-trainer-api service")
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
                        format="reference_service_v0_12 %(levelname)s %(name)s: %(message)s")

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
