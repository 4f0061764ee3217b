"""A tapped message becomes an event: CloudEvents bindings, EventBridge bodies and raw, the trace and
key from headers, the broker's message id as the producer id, and the reasons for what is no event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard.events.envelope import EntryError
from dashboard.taps.messages import TappedMessage, amqp_headers, to_event

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def read(message: TappedMessage, format: str = "auto") -> object:
    return to_event("orders", format, message, NOW)


def test_ce_headers_are_a_binary_cloudevent() -> None:
    message = TappedMessage(b'{"order": 1}', "orders.created", "n-1", {"ce-specversion": "1.0", "ce-id": "e-1",
                            "ce-source": "shop", "ce-type": "OrderCreated", "ce-traceparent": TRACEPARENT,
                            "Content-Type": "application/json"}, "application/json")  # fmt: skip
    event = read(message)
    assert (event.event_id, event.source, event.detail_type, event.detail) == (
        "e-1",
        "shop",
        "OrderCreated",
        {"order": 1},
    )
    assert (event.format, event.trace_id) == ("cloudevents", "4bf92f3577b34da6a3ce929d0e0e4736")


def test_amqp_binding_properties_are_ce_headers_and_a_timestamp_is_the_time() -> None:
    properties = {"cloudEvents_id": "e-1", "cloudEvents:source": "shop", "cloudEvents_type": "T",
                  "cloudEvents_specversion": "1.0", "cloudEvents_time": 1772366400000, "other": 5}  # fmt: skip
    headers = amqp_headers(properties)
    assert headers == {"ce-id": "e-1", "ce-source": "shop", "ce-type": "T", "ce-specversion": "1.0",
                       "ce-time": "2026-03-01T12:00:00Z", "other": "5"}  # fmt: skip
    assert read(TappedMessage(b"{}", "k", headers=headers)).time == NOW


def test_a_structured_body_is_a_cloudevent() -> None:
    body = b'{"specversion": "1.0", "id": "e-2", "source": "shop", "type": "T", "idempotencykey": "k-1", "data": {}}'
    event = read(TappedMessage(body, "k"))
    assert (event.event_id, event.idempotency_key, event.format) == ("e-2", "k-1", "cloudevents")


def test_an_eventbridge_body_takes_the_message_id_trace_and_key_from_the_broker() -> None:
    body = b'{"source": "shop", "detail-type": "OrderPaid", "detail": {"order": 1}}'
    headers = {"traceparent": TRACEPARENT, "Idempotency-Key": "pay-1"}
    event = read(TappedMessage(body, "k", "m-7", headers))
    assert (event.event_id, event.detail_type, event.idempotency_key) == ("m-7", "OrderPaid", "pay-1")
    assert event.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    # The body's own id and key come first.
    body = b'{"id": "own", "source": "s", "detail-type": "T", "detail": {"metadata": {"idempotency-key": "in"}}}'
    event = read(TappedMessage(body, "k", "m-8", headers))
    assert (event.event_id, event.idempotency_key) == ("own", "in")


def test_a_putevents_entry_is_an_eventbridge_event() -> None:
    event = read(TappedMessage(b'{"Source": "shop", "DetailType": "T", "Detail": "{\\"a\\": 1}"}', "k", "m-1"))
    assert (event.source, event.detail, event.event_id) == ("shop", {"a": 1}, "m-1")


def test_anything_else_is_raw() -> None:
    event = read(TappedMessage(b"[1, 2]", "order.note", "m-1", {"x": "y", "traceparent": "garbage"}))
    assert (event.source, event.detail_type, event.detail, event.format) == ("tap:orders", "order.note", [1, 2], "raw")
    assert (event.extra, event.trace_id) == ({"headers": {"x": "y", "traceparent": "garbage"}}, "")
    event = read(TappedMessage(b"\x00\xff", "s", "m-2"))
    assert event.detail == {"base64": "AP8="}
    assert "\x00" not in event.raw
    # "raw" reads even a CloudEvent as raw.
    body = b'{"specversion": "1.0", "id": "e-2", "source": "shop", "type": "T"}'
    assert read(TappedMessage(body, "s", "m-3"), "raw").source == "tap:orders"


@pytest.mark.parametrize(
    ("message", "format", "reason"),
    [
        (TappedMessage(b"{}", "k", headers={"ce-specversion": "1.0"}), "auto", "invalid CloudEvent"),
        (TappedMessage(b'{"specversion": "1.0", "id": "x"}', "k"), "auto", "invalid CloudEvent"),
        (TappedMessage(b"hello", "k"), "cloudevents", "not a CloudEvent"),
        (TappedMessage(b'{"a": 1}', "k"), "eventbridge", "not an EventBridge event"),
        (TappedMessage(b'{"source": "s", "detail-type": "T"}', "k"), "auto", "'detail' is required"),
        (TappedMessage(b'{"source": "s", "detail-type": "T", "detail": {}, "time": "yesterday"}', "k"), "auto",
         "'time'"),
    ],
)  # fmt: skip
def test_what_is_no_event_says_why(message: TappedMessage, format: str, reason: str) -> None:
    with pytest.raises(EntryError, match=reason):
        read(message, format)


def test_a_body_over_the_limit_is_refused(settings: object) -> None:
    settings.EVENTSCOPE_MAX_BODY_BYTES = 10  # type: ignore[attr-defined]
    with pytest.raises(EntryError, match="larger than the limit"):
        read(TappedMessage(b"x" * 11, "k"))
