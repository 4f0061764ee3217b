"""Replay into brokers on the embedded default: confirmed deliveries per second into RabbitMQ (publisher
confirms), NATS JetStream (acks) and Redis Streams (XADD ids), one line per broker.

- The archive: ``BENCH_REPLAY_EVENTS`` events (default 20,000) ingested through ``/api/events``, with
  1,000 idempotency keys in turn (as ``bench_replay``). A pipelined group never holds two deliveries
  with one key, so an archive whose consecutive events share keys is sent in smaller groups.
- The consumer: a broker URL (``BENCH_AMQP_URL``, ``BENCH_NATS_URL``, ``BENCH_REDIS_URL``; the local
  brokers by default); ``BENCH_REPLAY_BROKERS`` picks some (``amqp,nats,redis``).
- The figure: delivered / (finished_at - started_at) of the replay as the API reports it, so the
  replay's start (lanes, first page) is inside it; every message is then counted on the broker.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import amqp
import nats
import redis
import requests

from bench.server import bench_server, manage

EVENTS = int(os.environ.get("BENCH_REPLAY_EVENTS", "20000"))
BATCH = 500
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
BROKERS = os.environ.get("BENCH_REPLAY_BROKERS", "amqp,nats,redis").split(",")


def _amqp() -> tuple[dict[str, str], Callable[[], int], Callable[[], None]]:
    """A fresh exchange with one durable queue bound to everything: ``(consumer fields, count, clean)``."""
    parts = urlsplit(AMQP_URL)
    connection = amqp.Connection(
        f"{parts.hostname}:{parts.port or 5672}",
        userid=unquote(parts.username or "guest"),
        password=unquote(parts.password or "guest"),
        virtual_host=unquote(parts.path[1:]) or "/",
    )
    connection.connect()
    channel = connection.channel()
    exchange, queue = f"bench.replay.{uuid.uuid4().hex[:8]}", f"bench.replay.{uuid.uuid4().hex[:8]}"
    channel.exchange_declare(exchange, "topic", durable=False, auto_delete=False)
    channel.queue_declare(queue, durable=True, auto_delete=False)
    channel.queue_bind(queue, exchange, "#")

    def count() -> int:
        return int(channel.queue_declare(queue, passive=True).message_count)

    def clean() -> None:
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()

    return {"url": AMQP_URL, "exchange": exchange}, count, clean


def _nats() -> tuple[dict[str, str], Callable[[], int], Callable[[], None]]:
    subject, stream = f"bench.replay.{uuid.uuid4().hex[:8]}", f"BENCH_REPLAY_{uuid.uuid4().hex[:8]}"

    async def call(work: Callable[[Any], Any]) -> Any:
        connection = await nats.connect(servers=[NATS_URL])
        try:
            return await work(connection.jetstream())
        finally:
            await connection.close()

    asyncio.run(call(lambda js: js.add_stream(name=stream, subjects=[subject])))

    def count() -> int:
        async def messages(js: Any) -> int:
            return int((await js.stream_info(stream)).state.messages)

        return int(asyncio.run(call(messages)))

    return {"url": NATS_URL, "subject": subject}, count, lambda: asyncio.run(call(lambda js: js.delete_stream(stream)))


def _redis() -> tuple[dict[str, str], Callable[[], int], Callable[[], None]]:
    client, stream = redis.Redis.from_url(REDIS_URL), f"bench:replay:{uuid.uuid4().hex[:8]}"
    return {"url": REDIS_URL, "stream": stream}, lambda: int(client.xlen(stream)), lambda: client.delete(stream)


CASES = {"amqp": _amqp, "nats": _nats, "redis": _redis}


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def main() -> None:
    conditions = {
        "mode": "embedded (SQLite WAL, in-process worker)",
        "server": "daphne, 1 process",
        "brokers": "local RabbitMQ, NATS (JetStream, file storage), Redis; same machine",
        "events": EVENTS,
        "rate_limit": None,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with bench_server() as server:
        token = json.loads(manage(server.env, "create_token", "bench-replay", "--scopes", "ingest,read,operate",
                                  "--json").splitlines()[-1])["token"]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        session = requests.Session()
        for start in range(0, EVENTS, BATCH):
            batch = [
                {"source": "bench.orders", "detail-type": "OrderCreated", "time": f"2026-01-01T00:00:00.{i:06d}Z",
                 "detail": {"n": i, "order": f"o-{i:08d}", "amount": i % 977, "currency": "EUR",
                            "metadata": {"idempotency-key": f"k-{i % 1000}"}}}
                for i in range(start, min(EVENTS, start + BATCH))
            ]  # fmt: skip
            assert session.post(f"{server.url}/api/events", json=batch, headers=headers, timeout=60).ok
        for broker in BROKERS:
            fields, count, clean = CASES[broker]()
            try:
                name = f"bench-{broker}"
                created = session.post(f"{server.url}/api/consumers", json={"name": name, **fields}, headers=headers)
                assert created.status_code == 201, created.text
                answer = session.post(
                    f"{server.url}/api/replays",
                    json={"name": name, "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z",
                          "consumers": [name]},
                    headers=headers,
                )  # fmt: skip
                assert answer.status_code == 202, answer.text
                replay_url = f"{server.url}/api/replays/{answer.json()['id']}"
                deadline = time.monotonic() + 600
                while (replay := session.get(replay_url, headers=headers).json())["state"] in ("pending", "running"):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the replay into {broker} did not finish within 10 minutes")
                    time.sleep(0.2)
                assert replay["state"] == "completed", replay
                assert replay["delivered"] == EVENTS, replay
                on_broker = count()
                assert on_broker == EVENTS, f"{broker} holds {on_broker} of {EVENTS} messages"
                seconds = _seconds(replay["started_at"], replay["finished_at"])
            finally:
                clean()
            print(
                json.dumps(
                    {"bench": f"replay_confirmed_{broker}", "deliveries_per_second": round(EVENTS / seconds),
                     "goal_deliveries_per_second": 2000, "confirmed_on_broker": on_broker, **conditions}
                )
            )  # fmt: skip


if __name__ == "__main__":
    main()
