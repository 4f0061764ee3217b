"""Replay into Redis Streams, the publisher alone: confirmed deliveries per second through
``RedisPublisher`` (one pipeline of XADDs per call, each entry confirmed by its id).

- ``BENCH_PUBLISH_MESSAGES`` deliveries (default 20,000), handed over in lists of ``PIPELINE`` (100),
  as a replay's lane hands them; one publisher, one thread, one connection.
- Each delivery is what a replay sends: the canonical envelope of an ``OrderCreated`` event with its
  ``replay-name`` (about 600 bytes), and the delivery headers with an idempotency key and a
  signature (a consumer secret), each header a field of the entry.
- Throughput: deliveries confirmed per second, from the first publish call to the last answer; every
  outcome must be ``delivered`` and the stream must hold them all. The per-message latency is the
  outcome's (its write to its confirmation).
- The goal for a replay into a broker, end to end, is 2,000 confirmed deliveries a second; the
  publisher alone should be well above it.

Redis is the development machine's (``BENCH_REDIS_URL``, default 127.0.0.1:6379 db 15); the stream
is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import uuid

import redis

from dashboard.replay.delivery import delivery_body, delivery_headers
from dashboard.replay.outcome import DELIVERED
from dashboard.replay.publish_redis import RedisPublisher
from dashboard.replay.publishers import PIPELINE, Message

MESSAGES = int(os.environ.get("BENCH_PUBLISH_MESSAGES", "20000"))
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
GOAL_PER_SECOND = 2000


def _messages(replay: str) -> list[Message]:
    built = []
    for n in range(MESSAGES):
        envelope = {
            "version": "0",
            "id": str(uuid.UUID(int=n + 1)),
            "detail-type": "OrderCreated",
            "source": "com.example.orders",
            "account": "123456789012",
            "time": "2026-03-01T12:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": {
                "order_id": f"ord-{n:08d}",
                "customer": {"id": f"cus-{n % 977:05d}", "tier": "gold", "country": "DE"},
                "items": [{"sku": f"SKU-{n % 131:04d}", "qty": 1 + n % 3, "price": 19.99}] * 3,
                "total": 59.97,
                "currency": "EUR",
                "shipping": {"method": "standard", "eta_days": 3},
                "traceparent": f"00-{n:032x}-{n:016x}-01",
            },
        }
        body = delivery_body(envelope, replay)
        headers = delivery_headers(
            replay_name=replay, event_id=envelope["id"], idempotency_key=f"order-{n}", secret="s3cret", body=body
        )
        built.append(Message(body=body, headers=headers, detail_type="OrderCreated", event_id=envelope["id"]))
    return built


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()  # the publisher reads its time limits from the settings

    stream = f"bench:replay:{uuid.uuid4().hex[:8]}"
    messages = _messages("bench-replay")
    publisher = RedisPublisher(REDIS, {"stream": stream}, None)
    client = redis.Redis.from_url(REDIS)
    version = str(client.info("server").get("redis_version", "?"))
    try:
        publisher.publish(messages[:1])  # connect (not timed), as a lane has by its second batch
        client.delete(stream)
        started = time.perf_counter()
        outcomes = []
        for start in range(0, MESSAGES, PIPELINE):
            outcomes += publisher.publish(messages[start : start + PIPELINE])
        elapsed = time.perf_counter() - started
        stored = client.xlen(stream)
    finally:
        publisher.close()
        client.delete(stream)
        client.close()
    not_delivered = [o for o in outcomes if o.kind != DELIVERED]
    assert not not_delivered, f"{len(not_delivered)} not delivered, first: {not_delivered[0]}"
    assert stored == MESSAGES, f"the stream holds {stored} entries, not {MESSAGES}"
    latencies = sorted(o.latency_ms for o in outcomes)
    print(
        json.dumps(
            {
                "bench": "replay_publish_redis",
                "confirmed_per_second": round(MESSAGES / elapsed),
                "goal_per_second": GOAL_PER_SECOND,
                "latency_ms_p50": round(statistics.median(latencies), 3),
                "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 3),
                "messages": MESSAGES,
                "body_bytes": round(statistics.mean(len(m.body) for m in messages)),
                "fields_per_entry": 1 + len(messages[0].headers),
                "pipeline": PIPELINE,
                "redis": version,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
