"""The live tail carries each event's check against its type's pinned schema version."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.schemas.models import Schema
from dashboard.schemas.queries import pin_version
from tests.support.live_support import bearer, event, ingest, open_socket, receive_until, run, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def test_live_events_say_whether_they_match_the_pinned_version(token: Any) -> None:
    async def first_events() -> None:
        await ingest(token.token, [event("shop.orders", "OrderCreated", amount=1)])

    run(first_events())
    pin_version(Schema.objects.get(detail_type="OrderCreated"), {"version": 1})

    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, {"source": ["shop.orders"]})
        await ingest(
            token.token,
            [event("shop.orders", "OrderCreated", amount=2), event("shop.orders", "OrderCreated", amount="3")],
        )
        good, bad = (message["event"] for message in await receive_until(socket, lambda m: len(m) == 2))
        assert (good["schema_valid"], good["schema_error"]) == (True, None)
        assert bad["schema_valid"] is False
        assert bad["schema_error"] == "version 1: /amount: string, expected integer"
        await ingest(token.token, [event("shop.orders", "NotPinned", amount=1)])
        (unchecked,) = (message["event"] for message in await receive_until(socket, lambda m: len(m) == 1))
        assert unchecked["schema_valid"] is None
        await socket.disconnect()

    run(scenario())
