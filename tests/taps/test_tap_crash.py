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

TOTAL = 5000
FIRST = 2000  # published before the kill; the rest while the server is down

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
            # Published beside the tap, not before it: a broker that acknowledges each publish
            # (JetStream) is slow enough for the tap to keep up, and would have it all stored first.
            publisher = threading.Thread(target=publish, args=(range(FIRST),), daemon=True)
            publisher.start()
            eventually(lambda: tap_row(name).stored >= 300, what="some stored before the kill")
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            publisher.join(timeout=60)
            assert not publisher.is_alive(), "the first messages were not all published"
        stored_at_kill = tap_row(name).stored
        assert stored_at_kill < FIRST, "everything was stored before the kill: the test proves nothing"
        publish(range(FIRST, TOTAL))
        with serving(tmp_path / "second.log", env):
            eventually(lambda: tap_row(name).stored >= TOTAL, timeout=120, every=0.5, what="all stored")
            eventually(lambda: tap_row(name).backlog == 0, timeout=60, what="nothing left on the broker")
        source = f"tap:{name}"
        numbers = sorted(detail["n"] for detail in Event.objects.filter(source=source).values_list("detail", flat=True))
        assert numbers == list(range(TOTAL))  # each once
        assert tap_row(name).stored == TOTAL
    finally:
        clean()
