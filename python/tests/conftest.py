"""Fixtures for the package's tests: real sockets on 127.0.0.1, the real
reference package (the venv holds one generation of it), pyzmq peers.

Every wait has a deadline that only ends a test that would otherwise hang;
no test asserts a duration.
"""

import json
import socket
import time
from typing import Iterator, List, Optional, Tuple

import pytest
import zmq

from autotrainer_rs.api import _generation

WAIT_MS = 10_000

# The generation under test is the one of the reference installed beside us.
import importlib.metadata

REFERENCE_VERSION = importlib.metadata.version("auto-trainer-api")
GENERATION = _generation.normalize(REFERENCE_VERSION)
assert _generation.PROTOCOL == GENERATION, (
    f"run the tests with AUTOTRAINER_RS_PROTOCOL={GENERATION}: the reference installed is {REFERENCE_VERSION}"
)


def free_port() -> int:
    """A port nothing listens on now (the reference cannot bind port 0 and
    tell which it got, so it is given one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Req:
    """A pyzmq REQ peer; a request without a reply in time fails the test."""

    def __init__(self, port: int):
        self.socket = zmq.Context.instance().socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(f"tcp://127.0.0.1:{port}")

    def request(self, payload: bytes) -> bytes:
        self.socket.send(payload)
        assert self.socket.poll(WAIT_MS, zmq.POLLIN), f"no reply to {payload!r}"
        frames = self.socket.recv_multipart()
        assert len(frames) == 1, frames
        return frames[0]

    def command(self, command: int, nonce: int, data=None) -> dict:
        return json.loads(self.request(json.dumps({"command": command, "nonce": nonce, "data": data}).encode()))

    def close(self):
        self.socket.close(0)


class Sub:
    """A pyzmq SUB peer of every topic."""

    def __init__(self, port: int):
        self.socket = zmq.Context.instance().socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.socket.connect(f"tcp://127.0.0.1:{port}")

    def next(self, skip_heartbeats: bool = True) -> Tuple[int, bytes]:
        while True:
            assert self.socket.poll(WAIT_MS, zmq.POLLIN), "nothing published"
            frames = self.socket.recv_multipart()
            assert len(frames) == 2, frames
            topic = int.from_bytes(frames[0], "little")
            if topic == 1001 and skip_heartbeats:
                continue
            return topic, frames[1]

    def join(self, publish_probe, is_probe) -> None:
        """Publishes probes (``publish_probe(n)``) until one arrives, then
        drains up to it: the subscription is in place."""
        deadline = time.monotonic() + WAIT_MS / 1000
        n = 0
        while time.monotonic() < deadline:
            n += 1
            publish_probe(n)
            if self.socket.poll(100, zmq.POLLIN):
                while self.socket.poll(1000, zmq.POLLIN):
                    topic, body = self.next()
                    if is_probe(topic, json.loads(body), n):
                        return
        raise AssertionError("the subscriber never joined")

    def close(self):
        self.socket.close(0)


def rpc_options(api, **extra):
    """Options on free ports for `api` (ours or the reference's ``api`` package)."""
    options = api.api_options.RpcOptions
    fields = dict(identifier="py-test", heartbeat_interval=3600, subscriber_port=free_port(), command_port=free_port())
    fields.update(extra)
    return options(**fields)


@pytest.fixture
def peers() -> Iterator[List]:
    made: List = []
    yield made
    for peer in made:
        peer.close()
