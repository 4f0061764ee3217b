"""``/ws/live/`` through the real ASGI application: auth, filtering, subscriptions, dropped counts."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import REGISTRY

from config.asgi import application
from dashboard.events.envelope import NormalizedEvent
from dashboard.ingest.store import store_events
from tests.support.live_support import bearer, event, ingest, open_socket, receive_until, run, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def items(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] in ("event", "span")]


def test_it_closes_an_unauthenticated_socket_with_4401() -> None:
    async def scenario() -> None:
        socket = WebsocketCommunicator(application, "/ws/live/", headers=[(b"origin", b"http://127.0.0.1")])
        connected, _ = await socket.connect()
        assert connected
        closed = await socket.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}

    run(scenario())


def test_it_closes_a_socket_whose_token_lacks_the_read_scope_with_4401(make_token: Any) -> None:
    ingest_only = make_token("ingest")

    async def scenario() -> None:
        socket = WebsocketCommunicator(application, "/ws/live/", headers=bearer(ingest_only.token))
        await socket.connect()
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}

    run(scenario())


def test_it_closes_a_socket_with_an_unknown_token_with_4401() -> None:
    async def scenario() -> None:
        socket = WebsocketCommunicator(application, "/ws/live/", headers=bearer("ESNOPE.nothing"))
        await socket.connect()
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}

    run(scenario())


def test_it_streams_only_the_events_its_pattern_matches(token: Any) -> None:
    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, {"source": ["shop.orders"], "detail": {"amount": [{"numeric": [">", 100]}]}})
        answer = await ingest(
            token.token,
            [
                event("shop.orders", "OrderCreated", amount=50),
                event("shop.billing", "Charged", amount=500),
                event("shop.orders", "OrderCreated", amount=150),
                event("shop.orders", "OrderPaid", amount=101),
            ],
        )
        got = await receive_until(socket, lambda m: len(m) == 2)
        assert [m["event"]["detail"]["amount"] for m in got] == [150, 101]
        first = got[0]["event"]
        assert first["id"] == answer["results"][2]["id"]
        assert first["source"] == "shop.orders"
        assert first["detail-type"] == "OrderCreated"
        assert set(first) >= {"id", "source", "detail-type", "time", "received_at", "trace_id", "idempotency_key"}
        # Nothing else was queued: a marker event that matches arrives next.
        await ingest(token.token, [event("shop.orders", "Marker", amount=999)])
        (marker,) = await receive_until(socket, lambda m: len(m) == 1)
        assert marker["event"]["detail-type"] == "Marker"
        await socket.disconnect()

    run(scenario())


def test_a_new_subscribe_replaces_the_filter(token: Any) -> None:
    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, {"detail-type": ["A"]})
        await ingest(token.token, [event("s", "A"), event("s", "B")])
        (first,) = await receive_until(socket, lambda m: len(m) == 1)
        assert first["event"]["detail-type"] == "A"
        await subscribe(socket, {"detail-type": ["B"]})
        await ingest(token.token, [event("s", "A"), event("s", "B")])
        (second,) = await receive_until(socket, lambda m: len(m) == 1)
        assert second["event"]["detail-type"] == "B"
        await subscribe(socket, None)
        await ingest(token.token, [event("s", "A"), event("s", "B")])
        both = await receive_until(socket, lambda m: len(m) == 2)
        assert [m["event"]["detail-type"] for m in both] == ["A", "B"]
        await socket.disconnect()

    run(scenario())


def test_an_invalid_pattern_gets_an_error_and_the_old_filter_stays(token: Any) -> None:
    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, {"detail-type": ["Kept"]})
        await socket.send_json_to({"type": "subscribe", "pattern": {"detail-type": "not-a-list"}})
        error = await socket.receive_json_from(timeout=5)
        assert error["type"] == "error"
        assert error["code"] == "invalid_pattern"
        assert "detail-type" in error["message"]
        await socket.send_to(text_data="{not json")
        assert (await socket.receive_json_from(timeout=5))["code"] == "invalid_json"
        await socket.send_json_to({"type": "subscribe", "kinds": ["logs"]})
        assert (await socket.receive_json_from(timeout=5))["code"] == "invalid_message"
        await ingest(token.token, [event("s", "Other"), event("s", "Kept")])
        (got,) = await receive_until(socket, lambda m: len(m) == 1)
        assert got["event"]["detail-type"] == "Kept"
        await socket.disconnect()

    run(scenario())


def test_nothing_is_sent_before_the_first_subscribe(token: Any) -> None:
    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await ingest(token.token, [event("s", "Early")])
        await subscribe(socket, None, ["event"])  # asserts the first message is "subscribed"
        await ingest(token.token, [event("s", "Late")])
        got = await receive_until(socket, lambda m: m and m[-1]["event"]["detail-type"] == "Late")
        # Over Redis the batch of Early may still be on its way when the subscription starts, and
        # then it is (rightly) delivered; it can never come before "subscribed".
        assert [m["event"]["detail-type"] for m in got] in (["Late"], ["Early", "Late"])
        await socket.disconnect()

    run(scenario())


def test_a_burst_beyond_the_buffer_is_reported_as_dropped(token: Any, settings: Any) -> None:
    settings.EVENTSCOPE_LIVE_BUFFER = 20
    dropped_before = REGISTRY.get_sample_value("eventscope_live_dropped_total") or 0

    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, {"detail": {"n": [{"numeric": [">=", 0]}]}}, ["event"])
        burst = [event("s", "Burst", n=i) for i in range(300)]
        await ingest(token.token, burst[:150])
        await ingest(token.token, burst[150:])
        await ingest(token.token, [event("s", "Unmatched", n=-1), event("s", "End", n=1000)])

        def accounted(messages: list[dict[str, Any]]) -> int:
            return sum(1 if m["type"] == "event" else m["count"] for m in messages)

        messages = await receive_until(socket, lambda m: accounted(m) >= 301)
        received = [m for m in messages if m["type"] == "event"]
        dropped = sum(m["count"] for m in messages if m["type"] == "dropped")
        assert {m["type"] for m in messages} == {"event", "dropped"}
        assert dropped > 0
        assert len(received) + dropped == 301  # the burst and End; the one with n=-1 did not match
        assert REGISTRY.get_sample_value("eventscope_live_dropped_total") == dropped_before + dropped  # /metrics
        numbers = [m["event"]["detail"]["n"] for m in received]
        assert numbers == sorted(numbers)  # what arrives keeps its order
        # Nothing more was counted: the next message is the next match.
        await ingest(token.token, [event("s", "After", n=1)])
        (after,) = await receive_until(socket, lambda m: len(m) == 1)
        assert after["event"]["detail-type"] == "After"
        await socket.disconnect()

    run(scenario())


def test_a_rolled_back_write_publishes_nothing(token: Any) -> None:
    def store_then_roll_back() -> None:
        try:
            with contextlib.suppress(RuntimeError), transaction.atomic():
                now = timezone.now()
                entry = NormalizedEvent("e-rolled-back", "s", "RolledBack", now, {}, "native", "{}")
                store_events([entry], now)
                raise RuntimeError("roll back")
        finally:
            connection.close()  # this worker thread's own connection

    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, None, ["event"])
        await asyncio.to_thread(store_then_roll_back)
        await ingest(token.token, [event("s", "Committed")])
        (got,) = await receive_until(socket, lambda m: len(m) == 1)
        assert got["event"]["detail-type"] == "Committed"
        await socket.disconnect()

    run(scenario())
