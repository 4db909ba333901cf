#!/usr/bin/env python3
"""An independent pyzmq peer for the interop tests.

It does not use the `autotrainer` package: it speaks raw ZeroMQ so the Rust
tests can drive (or impersonate) either side of the wire protocol, including
malformed traffic. Every output line is one JSON object on stdout, flushed.

Subcommands:

  req --endpoint E [--timeout S]
      REQ client. Reads stdin JSON lines {"text": "..."} (sent as UTF-8) or
      {"hex": "..."} (raw bytes, may be empty or invalid UTF-8). Prints
      {"reply": <utf-8 text or null>, "reply_hex": "..."} per request, or
      {"timeout": true} when no reply arrives within S seconds; the REQ socket
      is then closed and reopened (Lazy Pirate). Exits 0 at EOF.

  sub --endpoint E --count N [--timeout S] [--topic INT ...]
      SUB client, subscribed to each topic as a 4-byte little-endian prefix
      (no --topic: everything). Prints {"ready": true} after connecting, then
      one line per message: {"topic", "topic_hex", "body", "body_hex",
      "frames", "frames_hex"}. Exits 0 after N messages; prints
      {"timeout": true, "received": k} and exits 3 if S seconds pass first.

  pub --endpoint E
      Binds a PUB socket (port 0 or * picks a free port). Prints
      {"ready": true, "endpoint": "<actual endpoint>"}, then reads stdin JSON
      lines {"frames_hex": ["..", ..]} (sent as one multipart message, answered
      with {"sent": <frame count>}) or {"sleep": seconds} (answered with
      {"slept": seconds}). Exits 0 at EOF.

  silent-rep --endpoint E [--socket-type router|rep]
      Binds a REP-compatible socket that receives requests and never answers
      (default: a ROUTER, which sees every request and keeps every connection
      open; "rep" = a literal REP socket, which can only see the first one).
      Prints {"ready": true, "endpoint": ...}, then {"received": "<text>",
      "received_hex": "..."} per request. Exits 0 when stdin reaches EOF.

Bad stdin lines produce {"error": "..."} and are otherwise ignored.
"""

import argparse
import sys
import threading
import time

import zmq

from jsonlines import emit, flush_and_exit, stdin_objects



def utf8_or_none(data: bytes):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def actual_endpoint(sock) -> str:
    ep = sock.getsockopt(zmq.LAST_ENDPOINT)
    return ep.decode("utf-8") if isinstance(ep, bytes) else str(ep)


def normalize_bind_endpoint(endpoint: str) -> str:
    # libzmq accepts "*" for an ephemeral port; accept ":0" as well.
    if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
        return endpoint[:-2] + ":*"
    return endpoint


def cmd_req(args) -> int:
    ctx = zmq.Context.instance()
    timeout_ms = max(0, int(args.timeout * 1000))
    sock = None

    def open_socket():
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(args.endpoint)
        return s

    for obj in stdin_objects():
        if "text" in obj:
            if not isinstance(obj["text"], str):
                emit({"error": "'text' must be a string"})
                continue
            payload = obj["text"].encode("utf-8")
        elif "hex" in obj:
            try:
                payload = bytes.fromhex(obj["hex"])
            except (TypeError, ValueError) as ex:
                emit({"error": f"invalid 'hex': {ex}"})
                continue
        else:
            emit({"error": "expected {\"text\": ...} or {\"hex\": ...}"})
            continue

        if sock is None:
            sock = open_socket()

        sock.send(payload)
        if sock.poll(timeout_ms, zmq.POLLIN) & zmq.POLLIN:
            frames = sock.recv_multipart()
            reply = b"".join(frames)
            out = {"reply": utf8_or_none(reply), "reply_hex": reply.hex()}
            if len(frames) != 1:
                out["frames"] = len(frames)
            emit(out)
        else:
            emit({"timeout": True})
            # Lazy Pirate: a REQ socket whose reply never came is stuck in the
            # "awaiting reply" state; throw it away and start over.
            sock.close(linger=0)
            sock = None

    if sock is not None:
        sock.close(linger=0)
    ctx.term()
    return 0


def cmd_sub(args) -> int:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if args.topic:
        for topic in args.topic:
            sock.setsockopt(zmq.SUBSCRIBE, int(topic).to_bytes(4, "little", signed=topic < 0))
    else:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(args.endpoint)
    emit({"ready": True})

    deadline = time.monotonic() + args.timeout
    received = 0
    while received < args.count:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not (sock.poll(int(remaining * 1000) + 1, zmq.POLLIN) & zmq.POLLIN):
            if time.monotonic() < deadline:
                continue
            emit({"timeout": True, "received": received})
            sock.close(linger=0)
            return 3
        frames = sock.recv_multipart()
        received += 1
        first = frames[0] if frames else b""
        body = frames[1] if len(frames) > 1 else None
        emit({
            "topic": int.from_bytes(first, "little") if len(first) == 4 else None,
            "topic_hex": first.hex(),
            "body": utf8_or_none(body) if body is not None else None,
            "body_hex": body.hex() if body is not None else None,
            "frames": len(frames),
            "frames_hex": [f.hex() for f in frames],
        })

    sock.close(linger=0)
    return 0


def cmd_pub(args) -> int:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.PUB)
    # Give queued messages a moment to leave when stdin closes.
    sock.setsockopt(zmq.LINGER, 1000)
    sock.bind(normalize_bind_endpoint(args.endpoint))
    emit({"ready": True, "endpoint": actual_endpoint(sock)})

    for obj in stdin_objects():
        if "frames_hex" in obj:
            try:
                frames = [bytes.fromhex(f) for f in obj["frames_hex"]]
            except (TypeError, ValueError) as ex:
                emit({"error": f"invalid 'frames_hex': {ex}"})
                continue
            if not frames:
                emit({"error": "'frames_hex' must not be empty"})
                continue
            sock.send_multipart(frames)
            emit({"sent": len(frames)})
        elif "sleep" in obj:
            try:
                seconds = float(obj["sleep"])
            except (TypeError, ValueError) as ex:
                emit({"error": f"invalid 'sleep': {ex}"})
                continue
            time.sleep(max(0.0, seconds))
            emit({"slept": seconds})
        else:
            emit({"error": "expected {\"frames_hex\": [...]} or {\"sleep\": seconds}"})

    sock.close()
    return 0


def cmd_silent_rep(args) -> int:
    ctx = zmq.Context.instance()
    # By default a ROUTER socket stands in for the REP socket: it is
    # wire-compatible with REP for REQ and DEALER clients, it can keep
    # receiving requests without ever replying, and it never drops a
    # connection, so every client is left waiting exactly as with a service
    # whose command loop has died. With --socket-type rep a literal REP socket
    # is used instead; it can only ever receive the first request.
    literal_rep = args.socket_type == "rep"
    sock = ctx.socket(zmq.REP if literal_rep else zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(normalize_bind_endpoint(args.endpoint))
    emit({"ready": True, "endpoint": actual_endpoint(sock)})

    def exit_at_eof():
        for _ in sys.stdin.buffer:
            pass
        flush_and_exit(0)

    threading.Thread(target=exit_at_eof, name="stdin-watch", daemon=True).start()

    while True:
        frames = sock.recv_multipart()
        if not literal_rep:
            # ROUTER envelope: identity, any further routing frames, an empty
            # delimiter, then the request body.
            if b"" in frames[1:]:
                frames = frames[frames.index(b"", 1) + 1:]
            else:
                frames = frames[1:]
        data = b"".join(frames)
        emit({"received": data.decode("utf-8", errors="replace"), "received_hex": data.hex()})
        if literal_rep:
            # A REP socket cannot receive again before replying; just wait for
            # stdin EOF (or a signal).
            while True:
                time.sleep(3600)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="pyzmq peer for interop tests")
    sub = parser.add_subparsers(dest="mode", required=True)

    p = sub.add_parser("req", help="REQ client fed from stdin")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--timeout", type=float, default=5.0)

    p = sub.add_parser("sub", help="SUB client printing received messages")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--topic", type=int, action="append", default=[])

    p = sub.add_parser("pub", help="PUB server fed from stdin")
    p.add_argument("--endpoint", required=True)

    p = sub.add_parser("silent-rep", help="REP server that never answers")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--socket-type", choices=["router", "rep"], default="router")

    args = parser.parse_args(argv)
    handlers = {"req": cmd_req, "sub": cmd_sub, "pub": cmd_pub, "silent-rep": cmd_silent_rep}
    try:
        return handlers[args.mode](args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
