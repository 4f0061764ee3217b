"""RabbitMQ targets: confirmed publishes a second through one ``AmqpPublisher`` (what one replay lane
does for an ``amqp://`` consumer), without the replay engine and its database around it.

- ``BENCH_PUBLISH_MESSAGES`` messages (default 20,000), handed over in lists of ``PIPELINE`` (100) as
  the engine does; each is a delivery as a replay makes it: the canonical envelope with its
  ``replay-name`` (about 600 bytes) and the delivery headers, signature included.
- Counted: messages the broker confirmed (``delivered`` outcomes), over the wall time of all the
  ``publish`` calls. Also the per-message latency (write to confirm), median and 99th percentile.
- Two consumers: a durable queue (persistent messages are confirmed once RabbitMQ wrote them to
  disk) and a transient one (confirmed once queued in memory).
The broker is the development machine's RabbitMQ (127.0.0.1:5672, guest).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import uuid

import amqp

URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MESSAGES = int(os.environ.get("BENCH_PUBLISH_MESSAGES", "20000"))
GOAL_PER_SECOND = 2000  # end to end into a broker; the publisher alone should be well above it


def _messages() -> list:  # type: ignore[type-arg]
    from dashboard.replay.delivery import delivery_body, delivery_headers
    from dashboard.replay.publishers import Message

    made = []
    for n in range(MESSAGES):
        event_id = str(uuid.uuid4())
        envelope = {
            "version": "0",
            "id": event_id,
            "source": "com.example.orders",
            "account": "123456789012",
            "time": "2026-03-01T12:00:00.000Z",
            "region": "eu-west-1",
            "resources": [f"arn:aws:orders:eu-west-1:123456789012:order/{n}"],
            "detail-type": "Order Created",
            "detail": {
                "orderId": f"o-{n:08d}",
                "customer": {"id": f"c-{n % 977:05d}", "tier": "gold", "country": "NL"},
                "lines": [{"sku": f"SKU-{n % 131:04d}", "qty": 1 + n % 3, "price": 19.99}] * 2,
                "total": 59.97,
                "currency": "EUR",
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            },
        }
        body = delivery_body(envelope, "bench-replay")
        headers = delivery_headers(replay_name="bench-replay", event_id=event_id, idempotency_key=f"order-{n}",
                                   secret="bench-secret", body=body)  # fmt: skip
        made.append(Message(body=body, headers=headers, detail_type="Order Created", event_id=event_id))
    return made


def _run(durable: bool, messages: list) -> dict[str, object]:  # type: ignore[type-arg]
    from dashboard.replay.publish_amqp import AmqpPublisher
    from dashboard.replay.publishers import PIPELINE

    tag = uuid.uuid4().hex[:8]
    exchange, queue = f"bench.replay.{tag}", f"bench.replay.{tag}"
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest")
    connection.connect()
    channel = connection.channel()
    channel.exchange_declare(exchange, "topic", durable=durable, auto_delete=False)
    channel.queue_declare(queue, durable=durable, auto_delete=False)
    channel.queue_bind(queue, exchange, "#")
    publisher = AmqpPublisher(URL, {"exchange": exchange}, None)
    try:
        publisher.publish(messages[:1])  # connects: not measured
        outcomes = []
        started = time.perf_counter()
        for start in range(1, len(messages), PIPELINE):
            outcomes += publisher.publish(messages[start : start + PIPELINE])
        elapsed = time.perf_counter() - started
        delivered = [outcome for outcome in outcomes if outcome.kind == "delivered"]
        stored = channel.queue_declare(queue, passive=True).message_count
        if len(delivered) != len(outcomes) or stored != len(messages):
            raise RuntimeError(f"{len(delivered)} of {len(outcomes)} confirmed, {stored} of {len(messages)} queued")
        latencies = sorted(outcome.latency_ms for outcome in delivered)
        return {
            "queue": "durable" if durable else "transient",
            "confirmed_per_second": round(len(delivered) / elapsed),
            "latency_ms_p50": round(statistics.median(latencies), 2),
            "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        }
    finally:
        publisher.close()
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from dashboard.replay.publishers import PIPELINE

    messages = _messages()
    conditions = {
        "messages": MESSAGES,
        "pipeline": PIPELINE,
        "body_bytes": round(statistics.mean(len(message.body) for message in messages)),
        "broker": "RabbitMQ on the same machine, one connection",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    for durable in (True, False):
        figures = _run(durable, messages)
        print(json.dumps({"bench": "publish_amqp", **figures, "goal_per_second": GOAL_PER_SECOND, **conditions}),
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
