#!/usr/bin/env python3
"""A synthetic fleet on NATS for the dashboard's scale test: N rig records
in the rig bucket (kept online, their heartbeat refreshed every second) and
events on `P.<rig>.event` at a steady rate, with the headers a gateway puts
on them (FLEET.md), so the stream stores them and the dashboard shows them
as it would real rigs'.

Usage: fleet_load.py --url nats://127.0.0.1:PORT [--prefix autotrainer]
           [--bucket autotrainer_rigs] [--rigs 50] [--rate 1000] [--seconds 10]

Prints {"ready": true, "rigs": [...]} once the records are in; waits for a
line on stdin, then publishes for `seconds` and prints
{"published": count}; keeps the records fresh until stdin closes.
"""

import argparse
import asyncio
import json
import sys
import time

import nats


def say(**fields):
    print(json.dumps(fields), flush=True)


def record(rig, now):
    return json.dumps({
        "rig": rig, "online": True, "since": now - 60, "lastHeartbeat": now,
        "identifier": f"{rig}-device", "version": "0.9.11", "protocol": "0.9",
        "gateway": "load", "lastEmergency": None,
    }).encode()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", default="autotrainer")
    parser.add_argument("--bucket", default="autotrainer_rigs")
    parser.add_argument("--rigs", type=int, default=50)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    nc = await nats.connect(args.url)
    kv = await nc.jetstream().key_value(args.bucket)
    rigs = [f"load-{n:02d}" for n in range(args.rigs)]

    async def refresh():
        for rig in rigs:
            await kv.put(rig, record(rig, time.time()))

    async def keep_fresh():
        while True:
            await asyncio.sleep(1)
            await refresh()

    await refresh()
    fresh = asyncio.create_task(keep_fresh())
    say(ready=True, rigs=rigs)

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)

    # Batches every 10 ms, on schedule: `rate` events a second in all.
    tick = 0.01
    per_tick = max(1, round(args.rate * tick))
    ticks = int(args.seconds / tick)
    start = time.monotonic()
    published = 0
    for n in range(ticks):
        for _ in range(per_tick):
            rig = rigs[published % len(rigs)]
            now = time.time()
            body = json.dumps({"kind": 1101, "when": now, "index": published, "context": {"load": True}})
            headers = {
                "Autotrainer-Rig": rig, "Autotrainer-Topic": "4001", "Autotrainer-Gateway": "load",
                "Autotrainer-Received": f"{now:.6f}", "Nats-Msg-Id": f"load-{start}-{published}",
            }
            await nc.publish(f"{args.prefix}.{rig}.event", body.encode(), headers=headers)
            published += 1
        delay = start + (n + 1) * tick - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    await nc.flush()
    say(published=published, seconds=round(time.monotonic() - start, 2))

    await loop.run_in_executor(None, sys.stdin.readline)
    fresh.cancel()
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
