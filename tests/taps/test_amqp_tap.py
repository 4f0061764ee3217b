"""A RabbitMQ tap against the real broker: producers publish with py-amqp (CloudEvents' AMQP binding,
EventBridge bodies, raw), the tap stores them as events, and the exchange's existing consumer still
gets every message."""

from __future__ import annotations

from typing import Any

import amqp
import orjson
from cloudevents.core.bindings import amqp as ce_amqp
from cloudevents.core.v1.event import CloudEvent
from django.test import Client

from dashboard.events.models import Event
from dashboard.taps.models import Tap, TapRejection
from tests.support.brokers import (
    AMQP_URL,
    amqp_channel,
    amqp_close_tap_connection,
    amqp_consumer_queue,
    amqp_drain,
    amqp_exchange,
    eventually,
    tap_row,
    unique,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def create_tap(client: Client, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/taps", fields, content_type="application/json", **auth)
    assert response.status_code == 201, response.content
    return response.json()


def publish(channel: Any, exchange: str, key: str, body: bytes, **properties: Any) -> None:
    channel.basic_publish(amqp.Message(body, **properties), exchange=exchange, routing_key=key)


def test_it_stores_what_producers_publish_and_the_consumer_still_gets_all(
    taps_running: object, operator: dict[str, str]
) -> None:
    name = unique("orders")
    with amqp_channel() as channel:
        exchange = amqp_exchange(channel)
        consumer = amqp_consumer_queue(channel, exchange)
        tap = create_tap(
            Client(), operator, name=name, url=AMQP_URL, exchange=exchange, binding_key="order.#", format="auto"
        )
        assert tap["state"] == "running"
        assert tap["url"] == "amqp://guest:***@127.0.0.1:5672/"
        # CloudEvents, AMQP binding (the SDK's): attributes as "cloudEvents_" application properties.
        event = CloudEvent({"specversion": "1.0", "id": "ce-1", "source": "shop.orders", "type": "OrderCreated",
                            "traceparent": TRACEPARENT, "idempotencykey": "order-1"}, {"order": 1})  # fmt: skip
        binary = ce_amqp.to_binary_event(event)
        publish(channel, exchange, "order.created", binary.application_data, content_type="application/json",
                application_headers=binary.application_properties)  # fmt: skip
        # The binding's other spelling, "cloudEvents:".
        colon = {"cloudEvents:specversion": "1.0", "cloudEvents:id": "ce-2", "cloudEvents:source": "shop.orders",
                 "cloudEvents:type": "OrderChecked"}  # fmt: skip
        publish(channel, exchange, "order.checked", b'{"order": 1}', application_headers=colon)
        # An EventBridge-shaped body; the trace and the key in headers; the broker's message id.
        body = orjson.dumps({"source": "shop.billing", "detail-type": "OrderPaid", "detail": {"order": 1}})
        publish(channel, exchange, "order.paid", body, message_id="m-2",
                application_headers={"traceparent": TRACEPARENT, "idempotency-key": "order-1"})  # fmt: skip
        # Raw: anything else, with the routing key as its type.
        publish(channel, exchange, "order.note", b"\x00\xffnot json", message_id="m-3")
        # Not for this tap's binding key: the consumer gets it, the tap does not.
        publish(channel, exchange, "stock.moved", b"{}", message_id="m-4")

        eventually(lambda: tap_row(name).received >= 4, what="four messages received")
        created = Event.objects.get(source="shop.orders", event_id="ce-1")
        assert (created.detail_type, created.detail, created.format) == ("OrderCreated", {"order": 1}, "cloudevents")
        assert (created.trace_id, created.idempotency_key) == (TRACE, "order-1")
        assert created.time == event.get_time().replace(microsecond=event.get_time().microsecond // 1000 * 1000)  # ms
        assert Event.objects.get(source="shop.orders", event_id="ce-2").detail_type == "OrderChecked"
        paid = Event.objects.get(source="shop.billing")
        assert (paid.event_id, paid.detail_type, paid.trace_id, paid.idempotency_key) == (
            "m-2", "OrderPaid", TRACE, "order-1"
        )  # fmt: skip
        raw = Event.objects.get(source=f"tap:{name}")
        assert (raw.event_id, raw.detail_type, raw.format) == ("m-3", "order.note", "raw")
        assert raw.detail == {"base64": "AP9ub3QganNvbg=="}
        assert not Event.objects.filter(detail_type="stock.moved").exists()
        row = tap_row(name)
        assert (row.received, row.stored, row.rejected) == (4, 4, 0)
        # The existing consumer lost nothing.
        assert len(amqp_drain(channel, consumer)) == 5
        eventually(lambda: tap_row(name).backlog == 0, what="the backlog is reported empty")
        channel.queue_delete(consumer)


def test_a_redelivered_message_is_a_duplicate_and_a_malformed_one_is_rejected_and_acked(
    taps_running: object, operator: dict[str, str]
) -> None:
    name = unique("strict")
    with amqp_channel() as channel:
        exchange = amqp_exchange(channel)
        create_tap(Client(), operator, name=name, url=AMQP_URL, exchange=exchange, binding_key="#",
                   format="cloudevents")  # fmt: skip
        good = orjson.dumps({"specversion": "1.0", "id": "x-1", "source": "s", "type": "T", "data": {}})
        publish(channel, exchange, "k", good, content_type="application/cloudevents+json")
        publish(channel, exchange, "k", good, content_type="application/cloudevents+json")  # sent again
        publish(channel, exchange, "k", b"plain text", message_id="bad-1")  # not a CloudEvent
        publish(channel, exchange, "k", b"{}", application_headers={"cloudEvents:specversion": "1.0"})  # no id
        eventually(lambda: tap_row(name).received == 4, what="four messages received")
        row = tap_row(name)
        assert (row.stored, row.duplicates, row.rejected) == (1, 1, 2)
        assert Event.objects.filter(source="s", event_id="x-1").count() == 1
        reasons = dict(TapRejection.objects.filter(tap=row).values_list("message_id", "reason"))
        assert "not a CloudEvent" in reasons["bad-1"]
        assert any("id" in reason for key, reason in reasons.items() if key != "bad-1")
        # Acknowledged: nothing waits in the tap's queue, and the tap goes on.
        _, waiting, _ = channel.queue_declare(f"eventscope.tap.{name}", passive=True)
        assert waiting == 0
        publish(channel, exchange, "k", orjson.dumps({"specversion": "1.0", "id": "x-2", "source": "s", "type": "T"}),
                content_type="application/cloudevents+json")  # fmt: skip
        eventually(lambda: tap_row(name).received == 5, what="the next one received")
        eventually(lambda: Event.objects.filter(source="s", event_id="x-2").exists(), what="the next one stored")
        detail = Client().get(f"/api/taps/{name}", **operator).json()
        assert {r["message_id"] for r in detail["recent_rejections"]} >= {"bad-1"}


def test_a_connection_closed_by_the_broker_is_failing_then_resumes_with_nothing_lost(
    taps_running: object, operator: dict[str, str]
) -> None:
    name = unique("cut")
    with amqp_channel() as channel:
        exchange = amqp_exchange(channel)
        create_tap(Client(), operator, name=name, url=AMQP_URL, exchange=exchange, binding_key="#")
        eventually(lambda: tap_row(name).owner != "" and tap_row(name).backlog is not None, what="the tap reads")
        for n in range(100):
            publish(channel, exchange, "k", orjson.dumps({"n": n}), message_id=f"before-{n}")
        eventually(lambda: tap_row(name).stored == 100, what="the first hundred stored")
        amqp_close_tap_connection(name)
        failing = eventually(lambda: tap_row(name) if tap_row(name).state == Tap.FAILING else None, what="failing")
        assert "connection" in failing.last_error.lower()
        for n in range(100):  # while the tap is away: kept in its queue
            publish(channel, exchange, "k", orjson.dumps({"n": n}), message_id=f"during-{n}")
        eventually(lambda: tap_row(name).state == Tap.RUNNING, what="running again")
        eventually(lambda: tap_row(name).stored == 200, what="all two hundred stored")
        assert Event.objects.filter(source=f"tap:{name}").count() == 200
