"""``/ws/traces/<trace_id>/`` and span items on ``/ws/live/``, through the real ASGI application."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.live_support import bearer, event, ingest, ingest_spans, open_socket, receive_until, run, subscribe

pytestmark = pytest.mark.django_db(transaction=True)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "0af7651916cd43dd8448eb211c80319c"


def test_a_trace_socket_gets_the_spans_and_events_of_its_trace_only(token: Any) -> None:
    async def scenario() -> None:
        socket = await open_socket(f"/ws/traces/{TRACE.upper()}/", bearer(token.token))
        await ingest_spans(token.token, OTHER, [("1111111111111111", "orders", "elsewhere")])
        await ingest_spans(token.token, TRACE, [("00f067aa0ba902b7", "orders", "POST /orders")])
        await ingest(
            token.token,
            [
                {**event("shop.orders", "Elsewhere"), "traceparent": f"00-{OTHER}-b7ad6b7169203331-01"},
                {**event("shop.orders", "OrderCreated"), "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
            ],
        )
        span, item = await receive_until(socket, lambda m: len(m) == 2)
        assert span["type"] == "span"
        assert span["span"]["trace_id"] == TRACE
        assert span["span"]["span_id"] == "00f067aa0ba902b7"
        assert span["span"]["name"] == "POST /orders"
        assert span["span"]["service"] == "orders"
        assert span["span"]["parent_span_id"] is None
        assert span["span"]["start"] == "2023-11-14T22:13:20.000000000Z"
        assert span["span"]["end"] == "2023-11-14T22:13:20.250000000Z"
        assert span["span"]["status"] == {"code": "unset", "message": ""}
        assert item["type"] == "event"
        assert item["event"]["detail-type"] == "OrderCreated"
        assert item["event"]["trace_id"] == TRACE
        assert item["event"]["parent_span_id"] == "00f067aa0ba902b7"
        await socket.disconnect()

    run(scenario())


def test_the_live_tail_filters_spans_by_kind_and_pattern(token: Any) -> None:
    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, {"service": ["billing"]}, ["span"])
        await ingest(token.token, [event("billing", "NotASpan")])
        await ingest_spans(
            token.token,
            TRACE,
            [("1111111111111111", "orders", "create"), ("2222222222222222", "billing", "charge")],
        )
        (got,) = await receive_until(socket, lambda m: len(m) == 1)
        assert got["type"] == "span"
        assert got["span"]["name"] == "charge"
        await socket.disconnect()

    run(scenario())


def test_a_socket_for_something_that_is_not_a_trace_id_is_not_routed(token: Any) -> None:
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    async def scenario() -> None:
        socket = WebsocketCommunicator(application, "/ws/traces/not-a-trace/", headers=bearer(token.token))
        connected, _ = await socket.connect()
        assert connected  # only to be told: 4404, nothing sent
        assert await socket.receive_output() == {"type": "websocket.close", "code": 4404}

    run(scenario())
