"""What the scripts that run a REAL reference service share: the delegate
scripted by an answers file, the wait until both sockets accept
connections, the exit that never hangs, and the command line. It imports
`autotrainer.api`, so it serves whichever generation the venv has (0.9.11
in target/python-venv, 0.12.0 in target/python-venv-0.12); the scripts
(reference_service.py, reference_service_v0_12.py, console_peer_v0_12.py)
add what differs between generations.
"""

import argparse
import json
import logging
import signal
import socket
import sys
import threading
import time

import zmq

from autotrainer.api import ApiCommandRequestResponse, ApiOptions, create_api_service
from autotrainer.api.api_options import RpcOptions

from jsonlines import emit, flush_and_exit, stdin_objects


class Unserializable:
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


def make_delegate(answers, results, typed_data):
    """A delegate answering from `answers` (see the scripts' docs). `results`
    is the reference's result IntEnum (0.9.11 spells it
    ApiCommandReqeustResult); `typed_data(answer)` returns the reference's own
    payload object an answer asks for, or None."""

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
            return ApiCommandRequestResponse(result=results.SUCCESS, data=None)

        if "sleep" in answer:
            # A slow device: the reference's command loop waits with it.
            time.sleep(float(answer["sleep"]))

        if "raise" in answer:
            raise Exception(answer["raise"])

        result = answer.get("result", int(results.SUCCESS))
        try:
            result = results(result)
        except ValueError:
            pass  # pass arbitrary ints through unchanged

        data = answer.get("data")
        typed = typed_data(answer)
        if typed is not None:
            data = typed
        if answer.get("unserializable"):
            data = {"value": Unserializable()}

        return ApiCommandRequestResponse(
            result=result,
            data=data,
            error_code=answer.get("error_code", 0),
            error_message=answer.get("error_message"),
        )

    return delegate


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


class Host:
    """Owns a started reference service; `handle` (of a subclass) serves one
    stdin line."""

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
        # The reference never terminates its contexts; skip interpreter
        # finalization so that cannot hang the exit.
        flush_and_exit(code)

    def handle(self, obj):
        raise NotImplementedError

    def wait_ready(self, timeout):
        """The bound ports once both sockets are bound and accept TCP; exits
        with an error line if the service fails or is not ready in time. A
        socket bound to port 0 is read back (the reference binds its host
        address, then 127.0.0.1: the last endpoint is the loopback one)."""
        service = self.service
        deadline = time.monotonic() + timeout
        while True:
            bound = service._pub_socket is not None and service._cmd_socket is not None
            if bound:
                pub_port = bound_port(service._pub_socket)
                cmd_port = bound_port(service._cmd_socket)
                if pub_port and cmd_port and port_accepts(pub_port) and port_accepts(cmd_port):
                    return pub_port, cmd_port
            thread = service._thread
            if not bound and thread is not None and not thread.is_alive():
                emit({"error": "the reference service failed to start (ports in use?)"})
                self.stop_and_exit(1)
            if time.monotonic() > deadline:
                emit({"error": f"the reference service was not ready after {timeout} s"})
                self.stop_and_exit(1)
            time.sleep(0.02)


def create_service(identifier, heartbeat_interval, pub_port=0, cmd_port=0):
    return create_api_service(ApiOptions(rpc=RpcOptions(
        enable=True,
        identifier=identifier,
        heartbeat_interval=heartbeat_interval,
        subscriber_port=pub_port,
        command_port=cmd_port,
    )))


def serve(name, host_class, results, typed_data, argv=None):
    """The command line of a reference-service script: options, the
    scripted delegate, the ready line, then one stdin line at a time."""
    parser = argparse.ArgumentParser(description=f"{name}: run the reference auto-trainer-api service")
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
                        format=f"{name} %(levelname)s %(name)s: %(message)s")

    try:
        answers = load_answers(args.answers)
    except Exception as ex:
        emit({"error": f"cannot load answers: {ex}"})
        return 2

    service = create_service(args.identifier, args.heartbeat_interval, args.pub_port, args.cmd_port)
    if not args.no_delegate:
        service.command_request_delegate = make_delegate(answers, results, typed_data)
    host = host_class(service)

    signal.signal(signal.SIGTERM, lambda *_: host.stop_and_exit(0))
    signal.signal(signal.SIGINT, lambda *_: host.stop_and_exit(0))

    service.start()
    pub_port, cmd_port = host.wait_ready(args.ready_timeout)
    emit({"ready": True, "pub_port": pub_port, "cmd_port": cmd_port})

    for obj in stdin_objects():
        try:
            host.handle(obj)
        except Exception as ex:
            emit({"error": f"{type(ex).__name__}: {ex}", "input": obj})

    host.stop_and_exit(0)
