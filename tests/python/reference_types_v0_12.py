#!/usr/bin/env python3
"""The 0.12 reference's own types on either side of our messages (see
types_v0_12.py). Run in the 0.12 venv (`scripts/python-test-env.sh 0.12`).

Subcommands:

  events
      One line per event built with the reference's `build_event` (every
      ApiEventKind, then a few more shapes):
      {"kind": int, "name": str, "repeat": int, "event_hex": "...", "dict_hex": "..."}
      event_hex: the bytes the 0.12 service publishes for it through
      `send_event(ApiEvent(..., repeat=repeat))`; dict_hex: through
      `send_event_dict(build_event(...))` (no `repeat` key). The last one,
      "int_for_float": true, has `intensity=5` (an int for a float). Then
      {"done": count}.

  sub --endpoint E --count N [--timeout S]
      A pyzmq SUB peer subscribed to everything. Prints {"ready": true}, then
      per message {"topic": int, "body": text, "frames": int, "same": bool,
      "name": kind name or null, "error": text or null}: the body read into
      the reference's types for its topic (EVENT and EMERGENCY: ApiEvent with
      the kind's typed context; COMMAND_RESULT: ApiCommandRequestResponse;
      HEARTBEAT: HeartbeatMessage; others: any JSON object) and "same" when
      the reference writes those values back to the very same bytes. Exits 0
      after N messages, 3 after S seconds.

  parse
      Stdin lines {"reply_hex": "...", "data_type": null | "ApiSystemStatus" |
      "ApiSystemConfiguration" | "List[ApiAnimalStatus]"}: the reply read as
      the reference's `_ApiCommandRequestServiceResponse`; prints
      {"same": bool, "command": name or number, "result": name, "rewritten": text}
      or {"error": text}.
"""

import argparse
import sys
import time

import zmq

from jsonlines import emit, flush_and_exit, stdin_objects
from types_v0_12 import (
    Mismatch,
    built_events,
    event_bytes,
    int_for_float_event,
    read_command_result,
    read_event,
    read_heartbeat,
    read_reply,
)

TOPIC_HEARTBEAT, TOPIC_EMERGENCY, TOPIC_EVENT, TOPIC_COMMAND_RESULT = 1001, 2001, 4001, 6001


def run_events():
    events = [(event, repeat, False) for event, repeat in built_events()]
    events.append((*int_for_float_event(), True))
    for event, repeat, int_for_float in events:
        with_repeat, as_dict = event_bytes(event, repeat)
        emit({"kind": int(event["kind"]), "name": event["kind"].name, "repeat": repeat,
              "event_hex": with_repeat.hex(), "dict_hex": as_dict.hex(),
              "int_for_float": int_for_float})
    emit({"done": len(events)})


def read_message(topic, body):
    """(kind name or None, the reference's bytes for what it read)."""
    if topic in (TOPIC_EVENT, TOPIC_EMERGENCY):
        event, again = read_event(body)
        return event.kind.name, again
    if topic == TOPIC_COMMAND_RESULT:
        return None, read_command_result(body)[1]
    if topic == TOPIC_HEARTBEAT:
        return None, read_heartbeat(body)[1]
    import json
    from types_v0_12 import to_wire
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise Mismatch(f"not an object: {obj!r}")
    return None, to_wire(obj)


def run_sub(args):
    context = zmq.Context()
    sock = context.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(args.endpoint)
    emit({"ready": True})
    deadline = time.monotonic() + args.timeout
    received = 0
    while received < args.count:
        left = deadline - time.monotonic()
        if left <= 0 or not sock.poll(int(left * 1000)):
            emit({"timeout": True, "received": received})
            flush_and_exit(3)
        frames = sock.recv_multipart()
        received += 1
        topic = int.from_bytes(frames[0], "little") if len(frames[0]) == 4 else None
        body = frames[1] if len(frames) > 1 else b""
        line = {"topic": topic, "body": body.decode("utf-8", "replace"), "frames": len(frames),
                "same": False, "name": None, "error": None}
        try:
            line["name"], again = read_message(topic, body)
            line["same"] = again == body
            if not line["same"]:
                line["error"] = f"the reference writes {again.decode('utf-8', 'replace')}"
        except Exception as ex:  # report, never die
            line["error"] = f"{type(ex).__name__}: {ex}"
        emit(line)
    flush_and_exit(0)


def run_parse():
    for obj in stdin_objects():
        try:
            body = bytes.fromhex(obj["reply_hex"])
            response, again = read_reply(body, obj.get("data_type"))
            command = response.command
            emit({"same": again == body,
                  "command": command.name if hasattr(command, "name") else command,
                  "result": response.result.name,
                  "data_type": type(response.data).__name__,
                  "rewritten": again.decode("utf-8")})
        except Exception as ex:
            emit({"error": f"{type(ex).__name__}: {ex}"})


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("events")
    subscriber = sub.add_parser("sub")
    subscriber.add_argument("--endpoint", required=True)
    subscriber.add_argument("--count", type=int, required=True)
    subscriber.add_argument("--timeout", type=float, default=60.0)
    sub.add_parser("parse")
    args = parser.parse_args()
    if args.mode == "events":
        run_events()
    elif args.mode == "sub":
        run_sub(args)
    else:
        run_parse()
    return 0


if __name__ == "__main__":
    sys.exit(main())
