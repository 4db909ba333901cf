"""Reads float bit patterns (16 hex digits a line) on stdin and writes, for
each, what the reference's JSON path writes for that float (json.dumps,
which uses float.__repr__ and NaN/Infinity), one line each."""

import json
import struct
import sys

out = sys.stdout
for line in sys.stdin:
    value = struct.unpack("<d", int(line, 16).to_bytes(8, "little"))[0]
    out.write(json.dumps(value))
    out.write("\n")
