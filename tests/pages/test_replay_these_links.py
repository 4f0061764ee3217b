"""Every page that shows events offers "replay these": a link to /replays/ carrying the selection."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.events.envelope import NormalizedEvent
from dashboard.events.models import Event
from dashboard.ingest.store import store_events
from dashboard.lifecycles.definitions import create_lifecycle
from tests.support.replay_helpers import archive_event

pytestmark = pytest.mark.django_db
TRACE = "4bf92f3577b34da6a736ce4e1cc0a1b2"


def replay_link(client: Client, path: str) -> dict[str, list[str]]:
    """The query of the page's "replay these" link (it must have one)."""
    response = client.get(path)
    assert response.status_code == 200, path
    found = re.search(r'id="replay-these" href="([^"]+)"', response.content.decode())
    assert found, f"{path} has no replay-these link"
    url = urlsplit(unescape(found[1]))
    assert url.path == "/replays/" and url.fragment == "new-replay"
    return parse_qs(url.query)


def test_the_event_key_and_trace_pages_link_their_selection(ops: Client) -> None:
    event = archive_event(1, key="order 7/&x")
    Event.objects.filter(pk=event.pk).update(trace_id=TRACE)
    assert replay_link(ops, f"/events/{event.id}/") == {"event_ids": [event.id]}
    assert replay_link(ops, "/keys/order%207%2F%26x/") == {"idempotency_key": ["order 7/&x"]}
    assert replay_link(ops, f"/traces/{TRACE}/") == {"trace_id": [TRACE]}


def test_the_search_results_link_the_events_listed(ops: Client) -> None:
    events = [archive_event(i, detail_type="OrderPaid" if i % 2 else "OrderCreated") for i in range(5)]
    query = replay_link(ops, "/events/?detail_type=OrderPaid")
    assert sorted(query["event_ids"][0].split(",")) == sorted(e.id for e in events if e.detail_type == "OrderPaid")
    empty = ops.get("/events/?detail_type=Nothing").content.decode()
    assert 'id="replay-these"' not in empty  # nothing listed, nothing to replay


def test_the_transaction_page_links_its_lifecycle_and_key(ops: Client) -> None:
    create_lifecycle({"name": "orders", "key": "detail.order", "steps": ["OrderCreated"], "timeout_seconds": 60})
    now = timezone.now()
    store_events([NormalizedEvent(event_id="e-1", source="shop", detail_type="OrderCreated",
                                  time=now - timedelta(seconds=1), detail={"order": "o&1"}, format="native",
                                  raw="{}")], now)  # fmt: skip
    assert replay_link(ops, "/transactions/orders/o&1/") == {"lifecycle": ["orders"], "key": ["o&1"]}
