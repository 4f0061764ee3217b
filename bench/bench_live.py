"""Live tail latency: from the ingest acknowledgement to the websocket frame, in both layers.

- 20 websocket subscribers, each with a different event pattern (by source, detail type, numeric
  ranges, prefixes), on one daphne server.
- Producers post 1,000 events/s for ``BENCH_LIVE_SECONDS`` (10 events a request, paced).
- Latency of an event at a subscriber = the time its frame arrived minus the time its request was
  acknowledged (same process, same clock). Publishing happens after the commit and before the
  response is written, so a frame may beat its acknowledgement: such latencies count as 0.
- The count check: for every subscriber, received + reported dropped must equal what its pattern
  matched among the events sent (computed here with the same pattern engine).

Run for the embedded default (in-process layer) and with channels-redis on 127.0.0.1:6379
(database ``BENCH_LIVE_REDIS_DB``, 13 by default, flushed first).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import threading
import time
from typing import Any

import orjson
import redis
import requests
from websockets.asyncio.client import connect

from bench.server import BenchServer, bench_server
from dashboard.patterns.engine import compile_pattern

RATE = 1000  # events per second
PER_REQUEST = 10
PRODUCERS = 2
SECONDS = float(os.environ.get("BENCH_LIVE_SECONDS", "10"))
REDIS_DB = int(os.environ.get("BENCH_LIVE_REDIS_DB", "13"))
SOURCES = ["shop.orders", "shop.billing", "shop.inventory", "shop.shipping"]
TYPES = ["OrderCreated", "OrderPaid", "OrderShipped", "PaymentFailed", "StockReserved"]

PATTERNS: list[dict[str, Any]] = [
    *({"source": [source]} for source in SOURCES),
    *({"detail-type": [name]} for name in TYPES),
    {"detail": {"amount": [{"numeric": [">", 400]}]}},
    {"detail": {"amount": [{"numeric": [">=", 100, "<", 200]}]}},
    {"detail-type": [{"prefix": "Order"}], "source": ["shop.orders"]},
    {"detail-type": [{"suffix": "Failed"}]},
    {"source": [{"anything-but": ["shop.orders", "shop.billing"]}]},
    {"detail": {"region": ["eu", "us"]}},
    {"detail": {"region": [{"equals-ignore-case": "APAC"}]}},
    {"$or": [{"detail-type": ["OrderPaid"]}, {"detail": {"amount": [{"numeric": ["<", 10]}]}}]},
    {"detail": {"customer": [{"wildcard": "c-1*"}]}},
    {"detail": {"seq": [{"exists": True}]}},  # everything
    {"source": ["shop.shipping"], "detail": {"region": ["eu"]}},
]
assert len(PATTERNS) == 20


def _event(seq: int) -> dict[str, Any]:
    return {
        "source": SOURCES[seq % 4],
        "detail-type": TYPES[(seq // 4) % 5],
        "detail": {
            "seq": seq,
            "amount": (seq * 37) % 500,
            "region": ["eu", "us", "apac"][seq % 3],
            "customer": f"c-{seq % 300}",
        },
    }


def _produce(server: BenchServer, first: int, step: int, total: int, t0: float, acks: dict[int, float]) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    for start in range(first, total, step):
        due = t0 + start / RATE
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        seqs = range(start, min(start + PER_REQUEST, total))
        response = session.post(
            f"{server.url}/api/events", data=orjson.dumps([_event(s) for s in seqs]), headers=headers, timeout=30
        )
        acked = time.perf_counter()
        response.raise_for_status()
        for seq in seqs:
            acks[seq] = acked


async def _subscriber(
    url: str, token: str, pattern: dict[str, Any], arrivals: dict[int, float], totals: dict[str, int], ready: Any
) -> None:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None) as socket:
        await socket.send(orjson.dumps({"type": "subscribe", "pattern": pattern, "kinds": ["event"]}).decode())
        assert orjson.loads(await socket.recv())["type"] == "subscribed"
        ready()
        while True:
            message = orjson.loads(await socket.recv())
            now = time.perf_counter()
            if message["type"] == "event":
                arrivals[message["event"]["detail"]["seq"]] = now
                totals["received"] += 1
            elif message["type"] == "dropped":
                totals["dropped"] += message["count"]


async def _run(server: BenchServer) -> dict[str, Any]:
    url = server.url.replace("http://", "ws://") + "/ws/live/"
    total = int(RATE * SECONDS)
    arrivals: list[dict[int, float]] = [{} for _ in PATTERNS]
    totals = [{"received": 0, "dropped": 0} for _ in PATTERNS]
    compiled = [compile_pattern(p) for p in PATTERNS]
    expected = [0] * len(PATTERNS)
    for seq in range(total):
        envelope = {"version": "0", "account": "", "region": "", "resources": [], **_event(seq)}
        for i, pattern in enumerate(compiled):
            expected[i] += pattern.matches(envelope)
    subscribed = asyncio.Event()
    count = 0

    def ready() -> None:
        nonlocal count
        count += 1
        if count == len(PATTERNS):
            subscribed.set()

    tasks = [
        asyncio.create_task(_subscriber(url, server.token, p, arrivals[i], totals[i], ready))
        for i, p in enumerate(PATTERNS)
    ]
    await asyncio.wait_for(subscribed.wait(), 30)
    acks: dict[int, float] = {}
    t0 = time.perf_counter() + 0.2
    step = PER_REQUEST * PRODUCERS
    producers = [
        threading.Thread(target=_produce, args=(server, p * PER_REQUEST, step, total, t0, acks))
        for p in range(PRODUCERS)
    ]
    for thread in producers:
        thread.start()
    while any(thread.is_alive() for thread in producers):
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t0
    deadline = time.perf_counter() + 15
    while time.perf_counter() < deadline and any(
        t["received"] + t["dropped"] < e for t, e in zip(totals, expected, strict=True)
    ):
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    latencies = sorted(max(0.0, arrived - acks[seq]) * 1000 for per_sub in arrivals for seq, arrived in per_sub.items())
    received = sum(t["received"] for t in totals)
    dropped = sum(t["dropped"] for t in totals)
    matched = sum(expected)
    return {
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2) if latencies else None,
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "events_sent": total,
        "achieved_events_per_second": round(total / elapsed),
        "matched": matched,
        "received": received,
        "dropped": dropped,
        "count_check": "ok"
        if all(t["received"] + t["dropped"] == e for t, e in zip(totals, expected, strict=True))
        else "MISMATCH",
    }


def main() -> None:
    conditions = {
        "subscribers": len(PATTERNS),
        "target_events_per_second": RATE,
        "events_per_request": PER_REQUEST,
        "seconds": SECONDS,
        "server": "daphne, 1 process, SQLite WAL",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with bench_server() as server:
        result = asyncio.run(_run(server))
    print(json.dumps({"bench": "live_latency_in_process_layer", **result, **conditions}))
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    with bench_server({"REDIS_URL": redis_url}) as server:
        result = asyncio.run(_run(server))
    print(json.dumps({"bench": "live_latency_channels_redis", **result, **conditions, "redis": redis_url}))


if __name__ == "__main__":
    main()
