#!/usr/bin/env python3
"""A small 0.12 device on the REAL reference service (`auto-trainer-api`
0.12.0), for the remote_console tests: what a 0.12 app would do with a few
commands, in the reference's own words.

Usage:
  console_peer_v0_12.py [--identifier ID] [--heartbeat-interval SECONDS]

Both ports are chosen by the OS. The delegate:
  SET_APPLICATION_MODE {mode}  SUCCESS {"mode": mode} and, when the mode
                               changes, applicationModeChanged built with the
                               reference's build_event (FAILED with the mode
                               in effect for an invalid mode)
  GET_STATUS                   SUCCESS {"applicationMode": mode in effect}
  anything else                UNRECOGNIZED (START/STOP_ACQUISITION are
                               obsolete in 0.12)

Stdout, one JSON object per line:
  {"ready": true, "pub_port": P, "cmd_port": C, "version": V}
  {"request": {"command": int, "name": str, "nonce": int, "data": any}}
  {"stopped": true}
EOF on stdin, SIGTERM or SIGINT stop the service and exit 0.
"""

import argparse
import signal
import socket
import sys
import threading
import time
from importlib.metadata import version

import zmq

from autotrainer.api import (
    ApiApplicationMode,
    ApiCommand,
    ApiCommandRequestResponse,
    ApiCommandRequestResult,
    ApiEventKind,
    ApiOptions,
    build_event,
    create_api_service,
)
from autotrainer.api.api_options import RpcOptions

from jsonlines import emit, flush_and_exit, stdin_objects


def bound_port(zmq_socket):
    endpoint = zmq_socket.getsockopt(zmq.LAST_ENDPOINT).decode()
    port = endpoint.rsplit(":", 1)[-1]
    return int(port) if port.isdigit() else None


def port_accepts(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class Device:
    def __init__(self):
        self.service = None
        self.mode = ApiApplicationMode.IDLE
        self._lock = threading.Lock()
        self._stopped = False

    def delegate(self, request):
        command = ApiCommand(int(request.command)) if int(request.command) in ApiCommand._value2member_map_ \
            else None
        emit({"request": {
            "command": int(request.command),
            "name": command.name if command is not None else None,
            "nonce": request.nonce,
            "data": request.data,
        }})
        if command == ApiCommand.SET_APPLICATION_MODE:
            try:
                requested = ApiApplicationMode(int((request.data or {})["mode"]))
            except (KeyError, TypeError, ValueError):
                return ApiCommandRequestResponse(result=ApiCommandRequestResult.FAILED,
                                                 data={"mode": int(self.mode)},
                                                 error_code=1, error_message="not a mode")
            if requested != self.mode:
                self.mode = requested
                self.service.send_event_dict(build_event(ApiEventKind.applicationModeChanged,
                                                         {"mode": requested}))
            return ApiCommandRequestResponse(result=ApiCommandRequestResult.SUCCESS,
                                             data={"mode": int(self.mode)})
        if command == ApiCommand.GET_STATUS:
            return ApiCommandRequestResponse(result=ApiCommandRequestResult.SUCCESS,
                                             data={"applicationMode": int(self.mode)})
        return ApiCommandRequestResponse(result=ApiCommandRequestResult.UNRECOGNIZED)

    def stop_and_exit(self, code=0):
        with self._lock:
            if not self._stopped:
                self._stopped = True
                try:
                    self.service.stop()
                except Exception as ex:  # never crash on the way out
                    emit({"error": f"stop failed: {ex!r}"})
                emit({"stopped": True})
        flush_and_exit(code)


def main(argv=None):
    parser = argparse.ArgumentParser(description="a 0.12 device on the reference service")
    parser.add_argument("--identifier", default="reference-0.12")
    parser.add_argument("--heartbeat-interval", type=float, default=0.2)
    parser.add_argument("--ready-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)

    device = Device()
    device.service = create_api_service(ApiOptions(rpc=RpcOptions(
        enable=True,
        identifier=args.identifier,
        heartbeat_interval=args.heartbeat_interval,
        subscriber_port=0,
        command_port=0,
    )))
    device.service.command_request_delegate = device.delegate
    signal.signal(signal.SIGTERM, lambda *_: device.stop_and_exit(0))
    signal.signal(signal.SIGINT, lambda *_: device.stop_and_exit(0))
    device.service.start()

    service = device.service
    deadline = time.monotonic() + args.ready_timeout
    while True:
        if service._pub_socket is not None and service._cmd_socket is not None:
            pub_port = bound_port(service._pub_socket)
            cmd_port = bound_port(service._cmd_socket)
            if pub_port and cmd_port and port_accepts(pub_port) and port_accepts(cmd_port):
                break
        if time.monotonic() > deadline:
            emit({"error": f"the reference service was not ready after {args.ready_timeout} s"})
            device.stop_and_exit(1)
        time.sleep(0.02)

    emit({"ready": True, "pub_port": pub_port, "cmd_port": cmd_port,
          "version": version("auto-trainer-api")})
    for _ in stdin_objects():
        pass
    device.stop_and_exit(0)


if __name__ == "__main__":
    sys.exit(main())
