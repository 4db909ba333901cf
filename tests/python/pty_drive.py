#!/usr/bin/env python3
"""Runs a command in a pseudo-terminal and drives it like a person at a keyboard.

Used by tests/client_application.rs to test an interactive prompt. Every output
line is one JSON object on stdout, flushed.

Usage: pty_drive.py [--cols N] [--rows N] -- COMMAND [ARGS...]

Spawns COMMAND with the pty as its controlling terminal (stdin, stdout and
stderr), TERM=xterm, and prints {"ready": true, "pid": <child pid>}. Output of
the child is collected continuously (so it never blocks on a full pty). Then
reads stdin JSON lines:

  {"send": "text"}                  types text followed by Enter
  {"send_hex": "03"}                writes raw bytes (03 = Ctrl-C, 04 = Ctrl-D)
      -> {"sent": ...}
  {"expect": "substring", "timeout": S}
      waits until the substring appears in the output after the mark (output
      with ANSI escape sequences and carriage returns removed). Answers
      {"matched": "substring", "output": <text from the mark to the match's end>}
      and moves the mark past the match, or {"timeout": true, "output": <text
      after the mark>}.
  {"wait_exit": S}
      -> {"exit": code, "signal": sig or null, "output": <text after the mark>}
         or {"timeout": true, "output": ...}
  {"output": true}
      -> {"output": <all text so far>}

At stdin EOF the child is killed if still running.
"""

import argparse
import os
import pty
import re
import signal
import struct
import sys
import termios
import threading
import time
import fcntl

from jsonlines import emit, stdin_objects

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[=>()][0-9A-Za-z]?")


class Child:
    def __init__(self, argv, cols, rows):
        env = dict(os.environ, TERM="xterm")
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.pid = pid
        self.fd = fd
        self.raw = bytearray()
        self.cond = threading.Condition()
        self.closed = False
        self.status = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                # EIO once the child and every holder of the pty's other end are gone.
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            with self.cond:
                if data:
                    self.raw.extend(data)
                else:
                    self.closed = True
                self.cond.notify_all()
            if not data:
                return

    def _reap(self):
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == self.pid:
                self.status = status
        return self.status is not None

    def text(self):
        raw = self.raw.decode("utf-8", errors="replace")
        return ANSI.sub("", raw).replace("\r", "")

    def write(self, data: bytes):
        os.write(self.fd, data)

    def expect(self, needle, timeout, mark):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                text = self.text()
                index = text.find(needle, mark)
                if index >= 0:
                    end = index + len(needle)
                    return True, text[mark:end], end
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    return False, text[mark:], mark
                self.cond.wait(min(remaining, 0.2))

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._reap():
                # Let the reader drain the last output.
                with self.cond:
                    self.cond.wait_for(lambda: self.closed, timeout=2)
                return self.status
            time.sleep(0.02)
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="drive a command in a pty")
    parser.add_argument("--cols", type=int, default=200)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    child = Child(command, args.cols, args.rows)
    emit({"ready": True, "pid": child.pid})
    mark = 0

    for obj in stdin_objects():
        if "send" in obj:
            child.write(obj["send"].encode("utf-8") + b"\r")
            emit({"sent": obj["send"]})
        elif "send_hex" in obj:
            child.write(bytes.fromhex(obj["send_hex"]))
            emit({"sent_hex": obj["send_hex"]})
        elif "expect" in obj:
            found, output, mark = child.expect(obj["expect"], float(obj.get("timeout", 10)), mark)
            if found:
                emit({"matched": obj["expect"], "output": output})
            else:
                emit({"timeout": True, "output": output})
        elif "wait_exit" in obj:
            status = child.wait_exit(float(obj["wait_exit"]))
            with child.cond:
                output = child.text()[mark:]
            if status is None:
                emit({"timeout": True, "output": output})
            elif os.WIFEXITED(status):
                emit({"exit": os.WEXITSTATUS(status), "signal": None, "output": output})
            else:
                emit({"exit": None, "signal": os.WTERMSIG(status), "output": output})
        elif "output" in obj:
            with child.cond:
                emit({"output": child.text()})
        else:
            emit({"error": "unknown request"})

    if not child._reap():
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
