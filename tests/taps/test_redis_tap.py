"""A Redis Streams tap against the real server: producers XADD with redis-py (an entry's ``body``
field is the message, its other fields headers), the tap reads as the group ``eventscope``, and a
connection Redis kills is failing, then resumes with nothing lost."""

from __future__ import annotations

import orjson
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.v1.event import CloudEvent
from django.test import Client

from dashboard.events.models import Event
from dashboard.taps.models import Tap, TapRejection
from tests.support.brokers import eventually, redis_client, redis_kill_tap_connection, redis_url, tap_row, unique

TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"


def create(operator: dict[str, str], name: str, stream: str) -> dict[str, object]:
    response = Client().post(
        "/api/taps", {"name": name, "url": redis_url(), "stream": stream}, content_type="application/json", **operator
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_it_stores_entries_as_events_and_other_groups_still_get_them(
    taps_running: object, operator: dict[str, str]
) -> None:
    client = redis_client()
    stream, name = unique("test:orders:"), unique("orders")
    client.xgroup_create(stream, "billing", id="$", mkstream=True)  # an existing consumer group
    create(operator, name, stream)
    # CloudEvents, binary mode: the SDK's ce- headers as entry fields.
    event = CloudEvent({"specversion": "1.0", "id": "ce-r1", "source": "shop.orders", "type": "OrderCreated",
                        "traceparent": TRACEPARENT, "idempotencykey": "order-9"}, {"order": 9})  # fmt: skip
    binary = ce_http.to_binary_event(event)
    client.xadd(stream, {**binary.headers, "body": binary.body})
    eb = orjson.dumps({"source": "shop.billing", "detail-type": "OrderPaid", "detail": {"order": 9}})
    paid_id = client.xadd(stream, {"body": eb, "traceparent": TRACEPARENT, "idempotency-key": "order-9"}).decode()
    raw_id = client.xadd(stream, {"body": b'{"note": "hello"}', "origin": "till-3"}).decode()
    client.xadd(stream, {"body": b"{}", "ce-specversion": "0.3"})  # a CloudEvent of another version: rejected

    eventually(lambda: tap_row(name).received == 4, what="four entries received")
    created = Event.objects.get(source="shop.orders", event_id="ce-r1")
    assert (created.detail, created.trace_id, created.idempotency_key) == ({"order": 9}, TRACE, "order-9")
    paid = Event.objects.get(source="shop.billing")
    assert (paid.event_id, paid.trace_id, paid.idempotency_key) == (paid_id, TRACE, "order-9")
    raw = Event.objects.get(source=f"tap:{name}")
    assert (raw.event_id, raw.detail_type, raw.detail) == (raw_id, stream, {"note": "hello"})
    assert raw.extra == {"headers": {"origin": "till-3"}}
    row = tap_row(name)
    assert (row.stored, row.rejected) == (3, 1)
    assert "specversion" in TapRejection.objects.get(tap=row).reason
    # Acknowledged: nothing pending in the tap's group; the other group still has all four to read.
    eventually(lambda: client.xpending(stream, "eventscope")["pending"] == 0, what="all acknowledged")
    assert len(client.xreadgroup("billing", "b1", {stream: ">"})[0][1]) == 4
    eventually(lambda: tap_row(name).backlog == 0, what="the backlog is reported empty")
    client.delete(stream)


def test_a_connection_killed_by_redis_is_failing_then_resumes_with_nothing_lost(
    taps_running: object, operator: dict[str, str]
) -> None:
    client = redis_client()
    stream, name = unique("test:cut:"), unique("cut")
    create(operator, name, stream)
    eventually(lambda: tap_row(name).backlog is not None, what="the tap reads")
    for n in range(100):
        client.xadd(stream, {"body": orjson.dumps({"n": n})})
    eventually(lambda: tap_row(name).stored == 100, what="the first hundred stored")
    eventually(lambda: redis_kill_tap_connection(name), what="the tap's connection killed")
    failing = eventually(lambda: tap_row(name) if tap_row(name).state == Tap.FAILING else None, what="failing")
    assert "redis" in failing.last_error.lower()
    for n in range(100, 200):
        client.xadd(stream, {"body": orjson.dumps({"n": n})})
    eventually(lambda: tap_row(name).state == Tap.RUNNING, what="running again")
    eventually(lambda: tap_row(name).stored == 200, what="all two hundred stored")
    numbers = sorted(e.detail["n"] for e in Event.objects.filter(source=f"tap:{name}"))
    assert numbers == list(range(200))
    client.delete(stream)
