"""A NATS tap against the real server: a JetStream durable consumer when a stream holds the subject,
a core subscription otherwise. Producers publish with nats-py; the subject's existing subscribers
still get every message; a server that goes away makes the tap failing, and it resumes by itself."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats
import orjson
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.v1.event import CloudEvent
from django.test import Client

from dashboard.events.models import Event
from dashboard.taps.models import Tap
from tests.support.brokers import (
    NATS_URL,
    PrivateNats,
    eventually,
    nats_js_publish,
    nats_publish,
    nats_stream,
    run,
    tap_row,
    unique,
)

TRACE = "5bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def create(operator: dict[str, str], name: str, url: str, subject: str) -> dict[str, Any]:
    response = Client().post(
        "/api/taps", {"name": name, "url": url, "subject": subject}, content_type="application/json", **operator
    )
    assert response.status_code == 201, response.content
    return response.json()


def messages() -> list[tuple[bytes, dict[str, str] | None]]:
    event = CloudEvent({"specversion": "1.0", "id": "ce-n1", "source": "shop.orders", "type": "OrderCreated",
                        "traceparent": TRACEPARENT, "idempotencykey": "order-5"}, {"order": 5})  # fmt: skip
    binary = ce_http.to_binary_event(event)
    paid = orjson.dumps({"source": "shop.billing", "detail-type": "OrderPaid", "detail": {"order": 5}})
    return [
        (binary.body, dict(binary.headers)),
        (paid, {"Nats-Msg-Id": "paid-5", "traceparent": TRACEPARENT, "idempotency-key": "order-5"}),
        (b'{"note": 1}', {"Nats-Msg-Id": "raw-5"}),
    ]


def check_stored(name: str, subject: str) -> None:
    created = Event.objects.get(source="shop.orders", event_id="ce-n1")
    assert (created.detail, created.trace_id, created.idempotency_key) == ({"order": 5}, TRACE, "order-5")
    paid = Event.objects.get(source="shop.billing", event_id="paid-5")
    assert (paid.detail_type, paid.trace_id, paid.idempotency_key) == ("OrderPaid", TRACE, "order-5")
    raw = Event.objects.get(source=f"tap:{name}", event_id="raw-5")
    assert (raw.detail_type, raw.detail) == (subject, {"note": 1})


async def _subscriber(subject: str, expected: int, ready: asyncio.Event, got: list[bytes]) -> None:
    connection = await nats.connect(servers=[NATS_URL])
    try:
        subscription = await connection.subscribe(subject)
        await connection.flush()
        ready.set()
        while len(got) < expected:
            got.append((await subscription.next_msg(timeout=30)).data)
    finally:
        await connection.close()


def test_a_jetstream_subject_is_read_by_a_durable_consumer(taps_running: object, operator: dict[str, str]) -> None:
    subject = unique("test.orders.")
    run(nats_stream(NATS_URL, [subject]))
    name = unique("js")
    create(operator, name, NATS_URL, subject)

    async def produce_and_listen() -> list[bytes]:
        got: list[bytes] = []
        ready = asyncio.Event()
        listener = asyncio.create_task(_subscriber(subject, 3, ready, got))
        await ready.wait()
        await nats_js_publish(NATS_URL, subject, messages())
        await asyncio.wait_for(listener, 30)
        return got

    assert len(run(produce_and_listen())) == 3  # the subject's existing subscriber got every message
    eventually(lambda: tap_row(name).stored == 3, what="three stored")
    check_stored(name, subject)
    eventually(lambda: tap_row(name).backlog == 0, what="the backlog is reported empty")
    # Without a Nats-Msg-Id, the stream's sequence number is the message's id: a new event.
    run(nats_js_publish(NATS_URL, subject, [(b'{"note": 1}', None)]))
    eventually(lambda: tap_row(name).received == 4, what="the fourth received")
    assert Event.objects.filter(source=f"tap:{name}").count() == 2
    assert Event.objects.filter(source=f"tap:{name}", event_id__regex=r"^TEST_.*:4$").exists()


def test_a_subject_no_stream_holds_is_read_by_a_core_subscription(
    taps_running: object, operator: dict[str, str]
) -> None:
    subject = unique("test.core.")
    name = unique("core")
    tap = create(operator, name, NATS_URL, subject)
    assert tap["backlog"] is None
    eventually(lambda: tap_row(name).owner and tap_row(name).last_error == "" and _subscribed(subject),
               what="the tap subscribed")  # fmt: skip

    async def produce_and_listen() -> list[bytes]:
        got: list[bytes] = []
        ready = asyncio.Event()
        listener = asyncio.create_task(_subscriber(subject, 3, ready, got))
        await ready.wait()
        await nats_publish(NATS_URL, subject, messages())
        await asyncio.wait_for(listener, 30)
        return got

    assert len(run(produce_and_listen())) == 3
    eventually(lambda: tap_row(name).stored == 4, what="the probe and the three stored")
    check_stored(name, subject)
    assert tap_row(name).backlog is None


def _subscribed(subject: str) -> bool:
    """Whether someone (the tap) gets what is published on ``subject`` (a request finds a listener:
    without one, NATS answers "no responders")."""

    async def ask() -> bool:
        connection = await nats.connect(servers=[NATS_URL])
        try:
            await connection.request(subject, b'{"probe": true}', timeout=0.2, headers={"Nats-Msg-Id": "probe"})
        except nats.errors.NoRespondersError:
            return False
        except nats.errors.TimeoutError:
            return True  # delivered to a subscriber that does not answer: the tap
        finally:
            await connection.close()
        return True

    return bool(run(ask()))


def test_a_server_that_goes_away_makes_the_tap_failing_and_it_resumes_with_nothing_lost(
    taps_running: object, operator: dict[str, str], tmp_path: Path
) -> None:
    server = PrivateNats(tmp_path)
    server.start()
    try:
        subject = unique("test.cut.")
        run(nats_stream(server.url, [subject]))
        name = unique("natscut")
        create(operator, name, server.url, subject)
        before = [(orjson.dumps({"n": n}), {"Nats-Msg-Id": f"n-{n}"}) for n in range(100)]
        run(nats_js_publish(server.url, subject, before))
        eventually(lambda: tap_row(name).stored == 100, what="the first hundred stored")
        server.kill()
        failing = eventually(lambda: tap_row(name) if tap_row(name).state == Tap.FAILING else None, what="failing")
        assert "nats" in failing.last_error.lower()
        server.start()
        after = [(orjson.dumps({"n": n}), {"Nats-Msg-Id": f"n-{n}"}) for n in range(100, 200)]
        run(nats_js_publish(server.url, subject, after))
        eventually(lambda: tap_row(name).state == Tap.RUNNING, what="running again")
        eventually(lambda: tap_row(name).stored == 200, what="all two hundred stored")
        numbers = sorted(e.detail["n"] for e in Event.objects.filter(source=f"tap:{name}"))
        assert numbers == list(range(200))
    finally:
        server.stop()
