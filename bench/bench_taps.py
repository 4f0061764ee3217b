"""Broker taps on the embedded default: messages stored per second by one tap, per broker (RabbitMQ,
NATS JetStream, Redis Streams) and body size (100 bytes, 2 KB).

- ``BENCH_TAP_MESSAGES`` messages (default 20,000) are published while the tap is stopped, so the
  producer's speed is not what is measured; then the tap is started.
- Throughput: messages stored per second, from the first time the tap's counter is seen above zero
  to the time it reaches them all (polled every 50 ms through ``GET /api/taps/<name>``).
- Each message is an EventBridge-shaped JSON body padded to the size, with a broker message id.
The brokers are the development machine's (RabbitMQ 127.0.0.1:5672, NATS 127.0.0.1:4222, Redis
127.0.0.1:6379 db 15).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
import uuid
from collections.abc import Callable

import amqp
import nats
import orjson
import redis
import requests

from bench.server import bench_server, manage

MESSAGES = int(os.environ.get("BENCH_TAP_MESSAGES", "20000"))
SIZES = (100, 2048)
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
NATS = "nats://127.0.0.1:4222"
REDIS = "redis://127.0.0.1:6379/15"


def _bodies(size: int) -> list[bytes]:
    bodies = []
    for n in range(MESSAGES):
        head = {"source": "bench.orders", "detail-type": "OrderCreated", "detail": {"n": n, "pad": ""}}
        pad = max(0, size - len(orjson.dumps(head)))
        head["detail"]["pad"] = "x" * pad  # type: ignore[index]
        bodies.append(orjson.dumps(head))
    return bodies


def _amqp(tag: str) -> tuple[dict[str, str], Callable[[list[bytes]], None], Callable[[], None]]:
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest")
    connection.connect()
    channel = connection.channel()
    exchange = f"bench.{tag}"
    channel.exchange_declare(exchange, "topic", durable=False, auto_delete=False)

    def publish(bodies: list[bytes]) -> None:
        for n, body in enumerate(bodies):
            channel.basic_publish(amqp.Message(body, message_id=f"{tag}-{n}"), exchange=exchange, routing_key="o.c")

    def clean() -> None:
        channel.exchange_delete(exchange)
        connection.close()

    return {"url": AMQP, "exchange": exchange, "binding_key": "#"}, publish, clean


def _nats(tag: str) -> tuple[dict[str, str], Callable[[list[bytes]], None], Callable[[], None]]:
    subject, stream = f"bench.{tag}", f"BENCH_{tag}"

    async def setup() -> None:
        connection = await nats.connect(servers=[NATS])
        await connection.jetstream().add_stream(name=stream, subjects=[subject])
        await connection.close()

    async def send(bodies: list[bytes]) -> None:
        connection = await nats.connect(servers=[NATS])
        jetstream = connection.jetstream()
        for start in range(0, len(bodies), 500):
            chunk = bodies[start : start + 500]
            await asyncio.gather(*(jetstream.publish(subject, body, headers={"Nats-Msg-Id": f"{tag}-{start + i}"})
                                   for i, body in enumerate(chunk)))  # fmt: skip
        await connection.close()

    async def drop() -> None:
        connection = await nats.connect(servers=[NATS])
        await connection.jetstream().delete_stream(stream)
        await connection.close()

    asyncio.run(setup())
    return {"url": NATS, "subject": subject}, lambda bodies: asyncio.run(send(bodies)), lambda: asyncio.run(drop())


def _redis(tag: str) -> tuple[dict[str, str], Callable[[list[bytes]], None], Callable[[], None]]:
    client, stream = redis.Redis.from_url(REDIS), f"bench:{tag}"

    def publish(bodies: list[bytes]) -> None:
        for start in range(0, len(bodies), 1000):
            pipe = client.pipeline(transaction=False)
            for body in bodies[start : start + 1000]:
                pipe.xadd(stream, {"body": body})
            pipe.execute()

    return {"url": REDIS, "stream": stream}, publish, lambda: client.delete(stream)


def _measure(url: str, headers: dict[str, str], name: str) -> float:
    session = requests.Session()
    answer = session.post(f"{url}/api/taps/{name}/start", headers=headers, timeout=30)
    assert answer.ok, answer.text
    first_seen, first_count = 0.0, 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        tap = session.get(f"{url}/api/taps/{name}", headers=headers, timeout=30).json()
        now = time.monotonic()
        if tap["stored"] and not first_seen:
            first_seen, first_count = now, tap["stored"]
        if tap["stored"] >= MESSAGES:
            return (MESSAGES - first_count) / (now - first_seen) if now > first_seen else float("inf")
        time.sleep(0.05)
    raise RuntimeError(f"tap {name}: not every message stored within 10 minutes ({tap})")


def main() -> None:
    conditions = {
        "mode": "embedded (SQLite WAL, the server runs the tap)",
        "server": "daphne, 1 process",
        "messages": MESSAGES,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with bench_server() as server:
        token = json.loads(manage(server.env, "create_token", "bench-taps", "--scopes", "read,operate", "--json")
                           .splitlines()[-1])["token"]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        for broker, make in (("amqp", _amqp), ("nats", _nats), ("redis", _redis)):
            for size in SIZES:
                tag = f"{broker}{size}{uuid.uuid4().hex[:6]}"
                fields, publish, clean = make(tag)
                try:
                    created = requests.post(f"{server.url}/api/taps", json={"name": tag, **fields}, headers=headers,
                                            timeout=30)  # fmt: skip
                    assert created.status_code == 201, created.text
                    assert created.json()["state"] == "running", created.text
                    stopped = requests.post(f"{server.url}/api/taps/{tag}/stop", headers=headers, timeout=30)
                    assert stopped.ok, stopped.text
                    time.sleep(1.5)  # the server lets go of the tap within a second
                    publish(_bodies(size))
                    per_second = _measure(server.url, headers, tag)
                    requests.delete(f"{server.url}/api/taps/{tag}", headers=headers, timeout=30)
                finally:
                    clean()
                print(
                    json.dumps(
                        {"bench": "tap_throughput", "broker": broker, "body_bytes": size,
                         "messages_per_second": round(per_second), "goal_messages_per_second": 5000, **conditions}
                    ),
                    flush=True,
                )  # fmt: skip


if __name__ == "__main__":
    main()
