"""The server killed (SIGKILL) while a tap has thousands of messages in flight, then started again:
every message is stored exactly once (what was stored and not acknowledged comes back from the broker
as a duplicate of itself; what was not stored comes back and is stored)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import amqp
import orjson
import pytest
import requests

from dashboard.core import tokens
from dashboard.events.models import Event
from tests.support.brokers import (
    AMQP_URL,
    NATS_URL,
    amqp_channel,
    amqp_exchange,
    eventually,
    nats_js_publish,
    nats_stream,
    redis_client,
    redis_url,
    run,
    tap_row,
    unique,
)
from tests.support.servers import server_env, serving

CHUNK = 100  # published at a time while the server runs, until it is killed
CAP = 50_000  # a publisher that gets this far was never interrupted: the test would prove nothing
LATER = 2000  # published while the server is down

pytestmark = pytest.mark.server


def _body(n: int) -> bytes:
    return orjson.dumps({"n": n, "pad": "x" * 64})


def amqp_case() -> tuple[dict[str, str], Callable[[range], None], Callable[[], None]]:
    holder = amqp_channel()
    channel = holder.__enter__()
    exchange = amqp_exchange(channel)

    def publish(numbers: range) -> None:
        for n in numbers:
            channel.basic_publish(amqp.Message(_body(n), message_id=f"m-{n}"), exchange=exchange, routing_key="k")

    return (
        {"url": AMQP_URL, "exchange": exchange, "binding_key": "#"},
        publish,
        lambda: holder.__exit__(None, None, None),
    )


def redis_case() -> tuple[dict[str, str], Callable[[range], None], Callable[[], None]]:
    client, stream = redis_client(), unique("test:crash:")

    def publish(numbers: range) -> None:
        pipe = client.pipeline(transaction=False)
        for n in numbers:
            pipe.xadd(stream, {"body": _body(n)})
        pipe.execute()

    return {"url": redis_url(), "stream": stream}, publish, lambda: client.delete(stream)


def nats_case() -> tuple[dict[str, str], Callable[[range], None], Callable[[], None]]:
    subject = unique("test.crash.")
    run(nats_stream(NATS_URL, [subject]))

    def publish(numbers: range) -> None:
        run(nats_js_publish(NATS_URL, subject, [(_body(n), {"Nats-Msg-Id": f"m-{n}"}) for n in numbers]))

    return {"url": NATS_URL, "subject": subject}, publish, lambda: None


@pytest.mark.parametrize("case", [amqp_case, redis_case, nats_case], ids=["amqp", "redis", "nats"])
def test_a_killed_server_stores_every_message_exactly_once_after_its_restart(
    transactional_db: None,
    tmp_path: Path,
    case: Callable[[], tuple[dict[str, str], Callable[[range], None], Callable[[], None]]],
) -> None:
    fields, publish, clean = case()
    name = unique("crash")
    token = tokens.create_token("crash", ["read", "operate"]).token
    # The embedded mode's server runs the tap (on this run's database, SQLite or PostgreSQL).
    env = server_env(redis=False, EVENTSCOPE_TAP_LEASE_SECONDS="3", EVENTSCOPE_TAP_ACK_WAIT_SECONDS="5",
                     EVENTSCOPE_TAP_BATCH="200")  # fmt: skip
    try:
        with serving(tmp_path / "first.log", env) as (process, url):
            answer = requests.post(f"{url}/api/taps", json={"name": name, **fields},
                                   headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
            assert answer.status_code == 201, answer.text
            eventually(lambda: tap_row(name).backlog is not None, what="the server runs the tap")
            # Published beside the tap, chunk after chunk until the kill, so the server always dies with
            # traffic in flight however fast this machine's broker and tap are.
            stop, published = threading.Event(), [0]

            def keep_publishing() -> None:
                while not stop.is_set() and published[0] < CAP:
                    publish(range(published[0], published[0] + CHUNK))
                    published[0] += CHUNK

            publisher = threading.Thread(target=keep_publishing, daemon=True)
            publisher.start()
            eventually(lambda: tap_row(name).stored >= 300, what="some stored before the kill")
            os.kill(process.pid, signal.SIGKILL)
            still_publishing = publisher.is_alive()
            stop.set()
            process.wait(timeout=10)
            publisher.join(timeout=60)
            assert not publisher.is_alive(), "the publisher did not stop"
        assert still_publishing, "everything was published before the kill: the test proves nothing"
        first = published[0]
        assert tap_row(name).stored <= first
        total = first + LATER
        publish(range(first, total))
        with serving(tmp_path / "second.log", env):
            eventually(lambda: tap_row(name).stored >= total, timeout=120, every=0.5, what="all stored")
            eventually(lambda: tap_row(name).backlog == 0, timeout=60, what="nothing left on the broker")
        source = f"tap:{name}"
        numbers = sorted(detail["n"] for detail in Event.objects.filter(source=source).values_list("detail", flat=True))
        assert numbers == list(range(total))  # each once
        assert tap_row(name).stored == total
    finally:
        clean()
