"""JSON lines on stdin and stdout, shared by the test peers in this folder.

Every script here talks to the Rust tests in JSON lines: one object per line
out (flushed at once, so a test waiting on it sees it), one object per line in.
"""

import json
import os
import sys
import threading

_print_lock = threading.Lock()


def emit(obj):
    """Prints `obj` as one JSON line; thread-safe, never raises on odd values."""
    try:
        line = json.dumps(obj)
    except (TypeError, ValueError):
        line = json.dumps({"error": "unprintable output", "repr": repr(obj)})
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def stdin_objects():
    """Yields the JSON objects read from stdin, one per line; blank lines are
    skipped and bad lines reported as {"error": ..., "line": ...}."""
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError as ex:
            emit({"error": f"invalid JSON input: {ex}", "line": line})
            continue
        if not isinstance(obj, dict):
            emit({"error": "input line is not a JSON object", "line": line})
            continue
        yield obj


def flush_and_exit(code):
    """Exits at once (no interpreter finalization) after the last whole line
    is out; for peers whose libraries could hang a normal exit."""
    with _print_lock:
        sys.stdout.flush()
    os._exit(code)
