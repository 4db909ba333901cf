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
import sys
from importlib.metadata import version

from autotrainer.api import (
    ApiApplicationMode,
    ApiCommand,
    ApiCommandRequestResponse,
    ApiCommandRequestResult,
    ApiEventKind,
    build_event,
)

from jsonlines import emit, stdin_objects
from reference_host import Host, create_service


class Device(Host):
    def __init__(self, service):
        super().__init__(service)
        self.mode = ApiApplicationMode.IDLE

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


def main(argv=None):
    parser = argparse.ArgumentParser(description="a 0.12 device on the reference service")
    parser.add_argument("--identifier", default="reference-0.12")
    parser.add_argument("--heartbeat-interval", type=float, default=0.2)
    parser.add_argument("--ready-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)

    device = Device(create_service(args.identifier, args.heartbeat_interval))
    device.service.command_request_delegate = device.delegate
    signal.signal(signal.SIGTERM, lambda *_: device.stop_and_exit(0))
    signal.signal(signal.SIGINT, lambda *_: device.stop_and_exit(0))
    device.service.start()
    pub_port, cmd_port = device.wait_ready(args.ready_timeout)

    emit({"ready": True, "pub_port": pub_port, "cmd_port": cmd_port,
          "version": version("auto-trainer-api")})
    for _ in stdin_objects():
        pass
    device.stop_and_exit(0)


if __name__ == "__main__":
    sys.exit(main())
