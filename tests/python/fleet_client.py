#!/usr/bin/env python3
"""An independent NATS client (nats-py) for the gateway's end-to-end tests.

It knows nothing of the gateway's code: it speaks to the NATS server as any
client of the fleet would (FLEET.md), so the Rust tests can check the
gateway from outside.

Usage: fleet_client.py --url nats://127.0.0.1:PORT

Prints {"ready": true} once connected. Then reads one JSON command per line
on stdin and answers each, in order, with one JSON line on stdout that
echoes the command's "id" (commands are served one at a time; subscriptions
go on collecting meanwhile). A message is written as
{"subject", "body" (UTF-8 text or null), "body_hex", "headers" ({} when
none)}, plus "seq" for a stream message.

  {"op": "request", "subject", "body"? | "body_hex"?, "headers"?, "timeout"?}
      -> {"reply": message} or {"error": "timeout" | "no-responders" | "..."}
  {"op": "request_many", "requests": [{"subject", "body"? | "body_hex"?,
   "headers"?}, ...], "timeout"?}
      -> {"replies": [{"reply": message} | {"error": ...}, ...]}: every
         request sent at once, the answers in the order of the requests
  {"op": "subscribe", "subject", "name"}
      -> {"subscribed": name}; messages are collected under `name`
  {"op": "messages", "name", "count"?, "timeout"?}
      -> {"messages": [message, ...]}: every message collected under `name`
         so far (not consumed), after waiting up to `timeout` seconds
         (default 0) for at least `count` (default 0) of them
  {"op": "stream", "stream", "subject", "start_seq"?}
      -> {"messages": [message + "seq", ...]}: the stored messages whose
         subject matches `subject` (wildcards allowed), in stream order,
         from `start_seq` (default 1) to the end
  {"op": "stream_info", "stream"}
      -> {"config": {...}, "state": {...}} as the JetStream API sends them
  {"op": "kv_get", "bucket", "key"}
      -> {"value": <the JSON value> | null, "revision": n | null}
  {"op": "kv_wait", "bucket", "key", "match", "timeout"?}
      -> {"value": v, "seen": [v, ...]} once the key's value holds every
         field of `match` with the same value, or
         {"error": "timeout", "seen": [...]} after `timeout` seconds
         (default 30); `seen` lists the values watched, oldest first
  {"op": "publish", "subject", "body"? | "body_hex"?, "headers"?}
      -> {"published": true} (after a flush)

A failing command answers {"error": "..."}; it is never fatal. EOF on
stdin closes the connection and exits 0.
"""

import argparse
import asyncio
import json
import sys

import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import KeyNotFoundError, NotFoundError

from jsonlines import emit


def as_text(data):
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def message(subject, data, headers, seq=None):
    data = data or b""
    out = {
        "subject": subject,
        "body": as_text(data),
        "body_hex": data.hex(),
        "headers": dict(headers or {}),
    }
    if seq is not None:
        out["seq"] = seq
    return out


def payload(cmd):
    if "body_hex" in cmd:
        return bytes.fromhex(cmd["body_hex"])
    return cmd.get("body", "").encode("utf-8")


def matches(value, wanted):
    return isinstance(value, dict) and all(value.get(k) == v for k, v in wanted.items())


def json_or_text(data):
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return {"unparsed": as_text(data)}


class Client:
    def __init__(self, nc):
        self.nc = nc
        self.js = nc.jetstream()
        self.collected = {}
        self.arrived = asyncio.Condition()

    async def request(self, cmd):
        try:
            reply = await self.nc.request(
                cmd["subject"],
                payload(cmd),
                timeout=float(cmd.get("timeout", 10)),
                headers=cmd.get("headers"),
            )
        except NatsTimeout:
            return {"error": "timeout"}
        except NoRespondersError:
            return {"error": "no-responders"}
        return {"reply": message(reply.subject, reply.data, reply.headers)}

    async def request_many(self, cmd):
        timeout = cmd.get("timeout", 10)
        each = [dict(request, timeout=timeout) for request in cmd["requests"]]
        replies = await asyncio.gather(*(self.request(request) for request in each))
        return {"replies": list(replies)}

    async def subscribe(self, cmd):
        name = cmd["name"]
        self.collected.setdefault(name, [])

        async def collect(msg):
            async with self.arrived:
                self.collected[name].append(message(msg.subject, msg.data, msg.headers))
                self.arrived.notify_all()

        await self.nc.subscribe(cmd["subject"], cb=collect)
        # The server knows the subscription once a round trip went through.
        await self.nc.flush()
        return {"subscribed": name}

    async def messages(self, cmd):
        name = cmd["name"]
        count = int(cmd.get("count", 0))
        collected = self.collected.get(name)
        if collected is None:
            return {"error": f"no subscription named {name!r}"}
        async with self.arrived:
            try:
                await asyncio.wait_for(
                    self.arrived.wait_for(lambda: len(collected) >= count),
                    timeout=float(cmd.get("timeout", 0)),
                )
            except asyncio.TimeoutError:
                pass
            return {"messages": list(collected)}

    async def stream(self, cmd):
        jsm = self.js._jsm
        seq = int(cmd.get("start_seq", 1))
        out = []
        while True:
            try:
                raw = await jsm.get_msg(cmd["stream"], seq=seq, subject=cmd["subject"], next=True)
            except NotFoundError:
                return {"messages": out}
            out.append(message(raw.subject, raw.data, raw.headers, raw.seq))
            seq = raw.seq + 1

    async def stream_info(self, cmd):
        # The server's own JSON, as the JetStream API sends it.
        reply = await self.nc.request(f"$JS.API.STREAM.INFO.{cmd['stream']}", b"", timeout=10)
        info = json.loads(reply.data)
        if "error" in info:
            return {"error": info["error"]}
        return {"config": info["config"], "state": info["state"]}

    async def kv_get(self, cmd):
        kv = await self.js.key_value(cmd["bucket"])
        try:
            entry = await kv.get(cmd["key"])
        except KeyNotFoundError:
            return {"value": None, "revision": None}
        return {"value": json_or_text(entry.value), "revision": entry.revision}

    async def kv_wait(self, cmd):
        kv = await self.js.key_value(cmd["bucket"])
        watcher = await kv.watch(cmd["key"])
        seen = []

        async def until_match():
            async for entry in watcher:
                if entry is None or entry.value is None:
                    continue  # the "no more history" marker, or a deletion
                value = json_or_text(entry.value)
                seen.append(value)
                if matches(value, cmd["match"]):
                    return value

        try:
            value = await asyncio.wait_for(until_match(), timeout=float(cmd.get("timeout", 30)))
            return {"value": value, "seen": seen}
        except asyncio.TimeoutError:
            return {"error": "timeout", "seen": seen}
        finally:
            await watcher.stop()

    async def publish(self, cmd):
        await self.nc.publish(cmd["subject"], payload(cmd), headers=cmd.get("headers"))
        await self.nc.flush()
        return {"published": True}


async def main():
    parser = argparse.ArgumentParser(description="fleet_client: a nats-py client for the gateway's tests")
    parser.add_argument("--url", required=True)
    args = parser.parse_args()

    async def note(error):
        # One line on stderr (the test shows it if it fails), not a traceback.
        print(f"fleet_client: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    nc = await nats.connect(
        args.url,
        connect_timeout=10,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        error_cb=note,
    )
    client = Client(nc)
    ops = {
        "request": client.request,
        "request_many": client.request_many,
        "subscribe": client.subscribe,
        "messages": client.messages,
        "stream": client.stream,
        "stream_info": client.stream_info,
        "kv_get": client.kv_get,
        "kv_wait": client.kv_wait,
        "publish": client.publish,
    }
    emit({"ready": True})

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        cmd = None
        try:
            cmd = json.loads(line)
            op = ops[cmd["op"]]
        except (ValueError, KeyError, TypeError) as ex:
            id = cmd.get("id") if isinstance(cmd, dict) else None
            emit({"error": f"bad command: {ex!r}", "line": line, "id": id})
            continue
        try:
            out = await op(cmd)
        except Exception as ex:  # a failed command is answered, never fatal
            out = {"error": f"{type(ex).__name__}: {ex}"}
        out["id"] = cmd.get("id")
        emit(out)

    await nc.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
