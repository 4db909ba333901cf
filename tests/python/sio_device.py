#!/usr/bin/env python3
"""A Socket.IO client that plays the device behind the bridge
(`auto-trainer-bridge`), for the bridge's tests: python-socketio 5.x, a
real client with its real transports (long-polling through requests,
WebSocket through websocket-client), driven over stdin and stdout in JSON
lines (see jsonlines.py).

Every event the bridge emits to it is printed as it arrives:
    {"event": "<name>", "data": <payload>}
and so are the connection's own events:
    {"event": "connect"}, {"event": "connect_error", "data": ...},
    {"event": "disconnect", "reason": "..."}

Requests on stdin, each answered with a line carrying the same "id":
  {"op": "connect", "id": n, "url": "http://127.0.0.1:P",
   "transports": ["polling", "websocket"] (optional),
   "origin": "http://app.example" (optional; without it no Origin header
             is sent on either transport)}
      -> {"id": n, "connected": true, "sid": "..."}
         or {"id": n, "connected": false, "error": "...", "connect_error": <the server's data or null>}
  {"op": "emit", "id": n, "event": "...", "data": ..., "ack": true|false}
      -> {"id": n, "ack": <the server's ack>} (ack: true; waits for it)
         or {"id": n, "emitted": true}
  {"op": "disconnect", "id": n} -> {"id": n, "disconnected": true}
  {"op": "http", "id": n, "method": "GET", "url": "...", "headers": {...}}
      -> {"id": n, "status": int, "headers": {lowercased: value}, "body": "..."}
  {"op": "ws_handshake", "id": n, "url": "ws://...", "origin": "..." or null}
      -> {"id": n, "status": int, "body": "..."}: a bare WebSocket handshake
         (101 when accepted), for checks of the upgrade request itself

Exits 0 when stdin closes.
"""

import argparse
import sys

import requests
import socketio
import websocket

from jsonlines import emit, flush_and_exit, stdin_objects

# Generous: the machine may be busy; tests bound their own waits.
PATIENCE = 30


def make_client():
    # No reconnection: a test decides when a device comes and goes.
    client = socketio.Client(reconnection=False, request_timeout=PATIENCE)
    state = {"connect_error": None}

    @client.event
    def connect():
        emit({"event": "connect"})

    @client.event
    def connect_error(data):
        state["connect_error"] = data
        emit({"event": "connect_error", "data": data})

    @client.event
    def disconnect(reason=None):
        emit({"event": "disconnect", "reason": str(reason)})

    @client.on("*")
    def any_event(event, *args):
        data = args[0] if len(args) == 1 else list(args)
        emit({"event": event, "data": data})

    return client, state


def connect(request):
    client, state = make_client()
    origin = request.get("origin")
    headers = {"Origin": origin} if origin else {}
    # websocket-client sends an Origin of its own (the server's URL) unless told
    # otherwise: send exactly the one asked for, or none.
    client.eio.websocket_extra_options = (
        {"origin": origin} if origin else {"suppress_origin": True}
    )
    try:
        client.connect(
            request["url"],
            headers=headers,
            transports=request.get("transports"),
            wait_timeout=PATIENCE,
        )
    except socketio.exceptions.ConnectionError as error:
        return None, {
            "connected": False,
            "error": str(error),
            "connect_error": state["connect_error"],
        }
    return client, {"connected": True, "sid": client.get_sid()}


def http(request):
    response = requests.request(
        request.get("method", "GET"),
        request["url"],
        headers=request.get("headers") or {},
        data=request.get("body"),
        timeout=PATIENCE,
    )
    return {
        "status": response.status_code,
        "headers": {k.lower(): v for k, v in response.headers.items()},
        "body": response.text,
    }


def ws_handshake(request):
    origin = request.get("origin")
    options = {"origin": origin} if origin else {"suppress_origin": True}
    try:
        ws = websocket.create_connection(request["url"], timeout=PATIENCE, **options)
    except websocket.WebSocketBadStatusException as error:
        body = error.resp_body.decode("utf-8", "replace") if error.resp_body else ""
        return {"status": error.status_code, "body": body}
    status = ws.getstatus()
    ws.close()
    return {"status": status, "body": ""}


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    client = None
    for request in stdin_objects():
        op, answer = request.get("op"), {"id": request.get("id")}
        try:
            if op == "connect":
                client, outcome = connect(request)
                answer.update(outcome)
            elif op == "emit":
                if client is None:
                    raise RuntimeError("not connected")
                if request.get("ack"):
                    answer["ack"] = client.call(
                        request["event"], request.get("data"), timeout=PATIENCE
                    )
                else:
                    client.emit(request["event"], request.get("data"))
                    answer["emitted"] = True
            elif op == "disconnect":
                if client is not None:
                    client.disconnect()
                    client = None
                answer["disconnected"] = True
            elif op == "http":
                answer.update(http(request))
            elif op == "ws_handshake":
                answer.update(ws_handshake(request))
            else:
                answer["error"] = f"unknown op {op!r}"
        except Exception as error:  # reported to the test, which decides
            answer["error"] = f"{type(error).__name__}: {error}"
        emit(answer)
    if client is not None:
        client.disconnect()
    # python-socketio's background threads may hold up a normal exit.
    flush_and_exit(0)


if __name__ == "__main__":
    sys.exit(main())
