"""Runs the README's Python signing code (given as a file, extracted from
README.md by tests/signed_python.rs) against a device, one JSON line per
step on stdout:

    readme_signing.py --code FILE --endpoint tcp://127.0.0.1:PORT \
        --operator ID:B64 --viewer ID:B64

Every step uses only the README's functions (signature, sign, verify_reply,
signed_request, Refused, ForgedReply); this file only drives them.
"""

import argparse
import base64
import json
import sys

import zmq


def load(path):
    """The README's code as a namespace, executed exactly as written."""
    namespace = {"__name__": "readme_signing_code"}
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), namespace)
    return namespace


def key(text):
    key_id, secret = text.split(":", 1)
    return key_id, base64.b64decode(secret)


def emit(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def outcome(call):
    """What a call of the README's code gave: the reply, or the refusal, or
    the forged-reply error."""
    try:
        return {"reply": call()}
    except readme["Refused"] as refused:
        return {"refused": refused.reply}
    except readme["ForgedReply"] as forged:
        return {"forged": str(forged)}


def main():
    global readme
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--operator", required=True)
    parser.add_argument("--viewer", required=True)
    args = parser.parse_args()
    readme = load(args.code)
    operator, viewer = key(args.operator), key(args.viewer)

    context = zmq.Context.instance()
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, 10_000)
    socket.connect(args.endpoint)
    request = readme["signed_request"]

    emit("status", **outcome(lambda: request(socket, *operator, {"command": 400, "nonce": 1})))

    wrong = (operator[0], bytes(32))
    emit("wrong_secret", **outcome(lambda: request(socket, *wrong, {"command": 400, "nonce": 2})))

    # The same signed bytes twice.
    frames = readme["sign"](*operator, json.dumps({"command": 100, "nonce": 3}).encode())
    for attempt in ("replay_first", "replay_second"):
        socket.send_multipart(frames)
        emit(attempt, **outcome(lambda: readme["verify_reply"](*operator, socket.recv_multipart())))

    emit("viewer_start", **outcome(lambda: request(socket, *viewer, {"command": 100, "nonce": 4})))
    emit("viewer_stop", **outcome(lambda: request(socket, *viewer, {"command": 200, "nonce": 5})))

    # A good reply, then the same reply tampered with: a byte of its
    # signature flipped, its body changed (still JSON), checked with another key.
    socket.send_multipart(readme["sign"](*operator, json.dumps({"command": 400, "nonce": 6}).encode()))
    reply = socket.recv_multipart()
    emit("untampered", **outcome(lambda: readme["verify_reply"](*operator, reply)))
    envelope = json.loads(reply[0])
    sig = envelope["sig"]
    envelope["sig"] = ("1" if sig[0] == "0" else "0") + sig[1:]
    bad_sig = [json.dumps(envelope).encode(), reply[1]]
    emit("tampered_signature", **outcome(lambda: readme["verify_reply"](*operator, bad_sig)))
    bad_body = [reply[0], reply[1][:-1] + b" }"]
    emit("tampered_body", **outcome(lambda: readme["verify_reply"](*operator, bad_body)))
    emit("other_key", **outcome(lambda: readme["verify_reply"](*viewer, reply)))
    socket.close()
    emit("done")


if __name__ == "__main__":
    readme = None
    sys.exit(main())
