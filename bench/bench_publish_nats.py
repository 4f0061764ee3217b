"""The NATS JetStream replay target on its own: confirmed publishes per second through ``NatsPublisher``.

- ``BENCH_PUBLISH_MESSAGES`` deliveries (default 20,000), each a replay delivery as the engine builds
  it: a canonical envelope of about 600 bytes with ``replay-name``, and the delivery headers
  (Content-Type, User-Agent, X-Eventscope-Replay, X-Eventscope-Event-Id, Idempotency-Key,
  X-Eventscope-Signature), plus the ``Nats-Msg-Id`` the publisher adds.
- Handed to one publisher in lists of ``PIPELINE`` (100), as a replay lane does, one list after the
  other; a message counts only once its JetStream ack came back (a file-storage stream on the
  development machine's NATS, 127.0.0.1:4222).
- Throughput: confirmed messages per second from the first list handed over to the last answered;
  the best of ``BENCH_PUBLISH_ROUNDS`` (3) rounds, each into a fresh stream, with the median beside it.
  Latency: the median and 99th percentile of the per-message ``latency_ms`` (its write to its ack).

The project's goal for replays into a broker is 2,000 confirmed deliveries a second end to end; the
publisher alone should be far above it.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

import nats  # noqa: E402

from dashboard.replay.delivery import delivery_body, delivery_headers  # noqa: E402
from dashboard.replay.outcome import DELIVERED  # noqa: E402
from dashboard.replay.publish_nats import NatsPublisher  # noqa: E402
from dashboard.replay.publishers import PIPELINE, Message  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_PUBLISH_MESSAGES", "20000"))
ROUNDS = int(os.environ.get("BENCH_PUBLISH_ROUNDS", "3"))
NATS = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
REPLAY = "bench-replay"


def _messages() -> list[Message]:
    messages = []
    for n in range(MESSAGES):
        event_id = f"{uuid.UUID(int=n)}"
        envelope = {
            "version": "0",
            "id": event_id,
            "source": "shop.orders",
            "detail-type": "OrderCreated",
            "account": "123456789012",
            "region": "eu-west-1",
            "time": "2026-01-01T00:00:00.000000Z",
            "resources": [f"arn:aws:shop:eu-west-1:123456789012:order/{n}"],
            "detail": {
                "order": {"id": f"ord-{n:08d}", "customer": f"cus-{n % 977:06d}", "currency": "EUR", "total": 129.9},
                "items": [{"sku": "SKU-000123", "quantity": 2, "price": 39.95}, {"sku": "SKU-004567", "quantity": 1}],
                "metadata": {"idempotency-key": f"order-{n}", "traceparent": f"00-{n:032x}-{n:016x}-01"},
            },
        }
        body = delivery_body(envelope, REPLAY)
        headers = delivery_headers(
            replay_name=REPLAY, event_id=event_id, idempotency_key=f"order-{n}", secret="bench-secret", body=body
        )
        messages.append(Message(body=body, headers=headers, detail_type="OrderCreated", event_id=event_id,
                                delivery_id=f"bench-delivery-{n}"))  # fmt: skip
    return messages


async def _stream(action: str, name: str, subject: str = "") -> None:
    connection = await nats.connect(servers=[NATS])
    try:
        if action == "add":
            await connection.jetstream().add_stream(name=name, subjects=[subject])
        else:
            await connection.jetstream().delete_stream(name)
    finally:
        await connection.close()


def _round(messages: list[Message]) -> tuple[float, list[float]]:
    tag = uuid.uuid4().hex[:8]
    subject, stream = f"bench.replay.{tag}", f"BENCH_REPLAY_{tag}"
    asyncio.run(_stream("add", stream, subject))
    publisher = NatsPublisher(NATS, {"subject": subject})
    try:
        publisher.publish(messages[:1])  # connected before the clock starts, as a running lane is
        latencies: list[float] = []
        started = time.perf_counter()
        for start in range(0, len(messages), PIPELINE):
            outcomes = publisher.publish(messages[start : start + PIPELINE])
            if any(outcome.kind != DELIVERED for outcome in outcomes):
                raise RuntimeError(f"not confirmed: {[o for o in outcomes if o.kind != DELIVERED][:1]}")
            latencies.extend(outcome.latency_ms for outcome in outcomes)
        elapsed = time.perf_counter() - started
    finally:
        publisher.close()
        asyncio.run(_stream("delete", stream))
    return len(messages) / elapsed, latencies


def main() -> None:
    messages = _messages()
    rates, latencies = [], []
    for _ in range(ROUNDS):
        rate, round_latencies = _round(messages)
        rates.append(rate)
        latencies = round_latencies if rate >= max(rates) else latencies
    latencies.sort()
    print(
        json.dumps(
            {
                "bench": "replay_publish_nats",
                "confirmed_per_second": round(max(rates)),
                "median_round_per_second": round(statistics.median(rates)),
                "latency_ms_p50": round(latencies[len(latencies) // 2], 2),
                "latency_ms_p99": round(latencies[int(len(latencies) * 0.99)], 2),
                "goal_deliveries_per_second": 2000,
                "messages": MESSAGES,
                "rounds": ROUNDS,
                "list_size": PIPELINE,
                "body_bytes": round(statistics.mean(len(message.body) for message in messages)),
                "broker": "nats-server with JetStream, file storage, same machine",
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
