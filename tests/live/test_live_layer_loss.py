"""Batches the channel layer lost (over capacity, expired) are reported as dropped, never silent."""

from __future__ import annotations

from typing import Any

import pytest
from channels.layers import get_channel_layer

from dashboard.live.groups import firehose_group
from tests.support.live_support import bearer, open_socket, receive_until, run, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def _batch(origin: str, events_before: int, detail_type: str) -> dict[str, Any]:
    flat = {
        "id": "01JAAAAAAAAAAAAAAAAAAAAAAA", "event_id": "e", "source": "s", "detail-type": detail_type,
        "time": "2026-01-01T00:00:00Z", "resources": [], "detail": {}, "trace_id": None, "parent_span_id": None,
        "idempotency_key": None, "received_at": "2026-01-01T00:00:00Z", "format": "native", "replay_name": None,
    }  # fmt: skip
    return {
        "type": "live.batch",
        "events": [{"event": flat, "account": "", "region": ""}],
        "spans": [],
        "origin": origin,
        "offsets": [events_before, 0],
    }


def test_a_gap_in_a_publishers_numbering_is_reported_as_dropped(token: Any) -> None:
    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, None, ["event"])
        layer = get_channel_layer()
        await layer.group_send(firehose_group(), _batch("p1", 0, "First"))
        # Events 1..4 of publisher p1 never arrived.
        await layer.group_send(firehose_group(), _batch("p1", 5, "Sixth"))
        messages = await receive_until(socket, lambda m: len(m) == 3)
        assert [m["type"] for m in messages] == ["event", "dropped", "event"]
        assert messages[1]["count"] == 4
        assert messages[2]["event"]["detail-type"] == "Sixth"
        await socket.disconnect()

    run(scenario())
