"""Each page costs a fixed number of queries, however many events, spans and deliveries it shows."""

from __future__ import annotations

import orjson
import pytest
from django.db import connection
from django.test import Client

from dashboard.events.models import Event
from dashboard.lifecycles.fold import fold_pending
from dashboard.servicemap.fold import fold_pending as fold_map
from tests.support.demo_shop import run_shop

pytestmark = pytest.mark.usefixtures("transactional_db")
# Every logged-in page: the session row and the user row.
SESSION = 2
# On SQLite a page that reads transaction records first checks for events not folded into them yet.
FOLD_CHECK = 1 if connection.vendor == "sqlite" else 0


@pytest.fixture
def shop_client(live_server_url, token, django_user_model) -> Client:
    from dashboard.demo.shop import Trouble

    run_shop(live_server_url, token.token, orders=3, trouble=Trouble(1.0, 0, 0, 1.0, 0))
    django_user_model.objects.create_user("q", password="pw-q-1234567")
    client = Client()
    client.login(username="q", password="pw-q-1234567")
    fold_pending()  # what the server's folder may not have folded yet: the pages only check
    fold_map()  # the same for the service map's folder
    return client


def test_overview_queries(shop_client, django_assert_num_queries):
    # for events and spans: where the row budget ends, the rates; then recent events, error spans;
    # incomplete transactions (counts, latest) and running replays; breaking schema changes (none); the
    # slowest edges (a check for batches not folded into the map, its service rows and its edge rows)
    with django_assert_num_queries(SESSION + 6 + FOLD_CHECK + 3 + 1 + 3):
        assert shop_client.get("/").status_code == 200


def test_event_search_queries(shop_client, django_assert_num_queries):
    with django_assert_num_queries(SESSION + 1):
        assert shop_client.get("/events/?source=shop.orders").status_code == 200
    pattern = orjson.dumps({"detail-type": ["OrderPaid"]}).decode()
    with django_assert_num_queries(SESSION + 1):
        assert shop_client.get("/events/", {"pattern": pattern}).status_code == 200


def test_event_page_queries(shop_client, django_assert_num_queries):
    event = Event.objects.filter(detail_type="OrderCreated").first()
    # the event, its publishing span, its key's ledger, the lifecycle definitions (none here); its
    # consumers: links to its publishing span, the linking spans, children in other services (and other
    # events of that span, only when a link names an event that is not this one)
    with django_assert_num_queries(SESSION + 4 + 3):
        assert shop_client.get(f"/events/{event.id}/").status_code == 200


# spans, events, logs, links out, links in, traces sharing keys; the flow: one query per hop (billing,
# inventory, shipping, then nothing new) and the flow's spans and events; incoming links; the flow's
# events that belong to a lifecycle (none: the shop defines none). No peer spans: every link's other
# end is in the flow.
TRACE_PAGE = 6 + 4 + 2 + 1 + 1


def test_trace_page_queries(shop_client, django_assert_num_queries):
    event = Event.objects.filter(detail_type="OrderCreated").first()
    with django_assert_num_queries(SESSION + TRACE_PAGE):
        assert shop_client.get(f"/traces/{event.trace_id}/").status_code == 200


def test_trace_page_queries_for_one_trace_alone(shop_client, django_assert_num_queries):
    # The same: the page carries both scopes, so switching between them needs no reload.
    event = Event.objects.filter(detail_type="OrderCreated").first()
    with django_assert_num_queries(SESSION + TRACE_PAGE):
        assert shop_client.get(f"/traces/{event.trace_id}/?flow=0").status_code == 200


def test_trace_page_data_queries(shop_client, django_assert_num_queries):
    event = Event.objects.filter(detail_type="OrderCreated").first()
    with django_assert_num_queries(SESSION + TRACE_PAGE):
        assert shop_client.get(f"/traces/{event.trace_id}/data").status_code == 200


def test_key_page_queries(shop_client, django_assert_num_queries):
    event = Event.objects.filter(detail_type="OrderCreated").first()
    with django_assert_num_queries(SESSION + 4):  # ledger, publishing spans, links to them, consumer spans
        response = shop_client.get(f"/keys/{event.idempotency_key}/")
    assert response.status_code == 200
    assert b"retry" in response.content
