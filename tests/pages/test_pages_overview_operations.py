"""The overview's operational parts and the event page's lifecycle: what is stuck, what is running."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from dashboard.events.models import Event
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Lifecycle
from dashboard.replay.models import Consumer, Replay

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops() -> Client:
    User.objects.create_user("ops2", password="pw-ops2-123456")
    browser = Client()
    assert browser.login(username="ops2", password="pw-ops2-123456")
    return browser


def ingest(client: Client, auth: dict[str, str], events: list[dict[str, object]]) -> None:
    response = client.post("/api/events", data=orjson.dumps(events), content_type="application/json", headers=auth)
    assert response.status_code == 200 and response.json()["rejected"] == 0


def order(detail_type: str, order_id: str, when: str) -> dict[str, object]:
    return {"source": "shop.orders", "detail-type": detail_type, "time": when, "detail": {"order-id": order_id}}


@pytest.fixture
def stuck_order(client: Client, auth: dict[str, str]) -> None:
    Lifecycle.objects.create(
        name="order", key="detail.order-id", steps=["OrderCreated", "OrderPaid", "OrderShipped"], timeout_seconds=60
    )
    # Long past its deadline: paid before it was created, and never shipped.
    ingest(client, auth, [order("OrderPaid", "o-stuck", "2026-01-01T00:00:05Z")])
    ingest(client, auth, [order("OrderCreated", "o-stuck", "2026-01-01T00:00:00Z")])
    # Still within its deadline.
    ingest(client, auth, [order("OrderCreated", "o-fresh", datetime.now(UTC).isoformat())])


@pytest.mark.usefixtures("stuck_order")
def test_the_overview_lists_incomplete_transactions_and_running_replays(ops: Client) -> None:
    consumer = Consumer.objects.create(name="billing-v2", url="http://127.0.0.1:9/")
    replay = Replay.objects.create(
        name="fix-billing", since=datetime(2026, 1, 1, tzinfo=UTC), until=datetime(2026, 1, 2, tzinfo=UTC)
    )
    replay.consumers.set([consumer])
    Replay.objects.create(
        name="old-one", since=datetime(2026, 1, 1, tzinfo=UTC), until=datetime(2026, 1, 2, tzinfo=UTC),
        state=Replay.COMPLETED,
    )  # fmt: skip
    page = ops.get("/").content.decode()
    section = page.split("Incomplete transactions", 1)[1].split("Running replays", 1)[0]
    assert "o-stuck" in section and "o-fresh" not in section
    assert "OrderShipped" in section
    replays = page.split("Running replays", 1)[1].split("Recent events", 1)[0]
    assert "fix-billing" in replays and "billing-v2" in replays and "old-one" not in replays


def test_the_overview_says_when_nothing_is_stuck_or_running(ops: Client) -> None:
    page = ops.get("/").content.decode()
    assert "No transaction is past its deadline" in page
    assert "No replay is running." in page


@pytest.mark.usefixtures("stuck_order")
def test_the_event_page_shows_the_transaction_it_belongs_to(ops: Client, django_assert_num_queries) -> None:
    created = Event.objects.filter(detail_type="OrderCreated").order_by("id").first()
    assert created is not None
    fold_pending()  # the ingest above left its records to fold; the page then only checks that
    # session and user, the event, the fold check, its transaction (no trace or key to look up;
    # the lifecycle definitions are still cached from the ingest above)
    with django_assert_num_queries(2 + 2 + (1 if connection.vendor == "sqlite" else 0)):
        page = ops.get(f"/events/{created.id}/").content.decode()
    lifecycle = page.split("<h2>Lifecycle", 1)[1].split("</section>", 1)[0]
    assert "o-stuck" in lifecycle and "incomplete" in lifecycle
    assert "OrderCreated" in lifecycle and "OrderPaid" in lifecycle and "OrderShipped" in lifecycle
    assert "yes" in lifecycle  # paid arrived before created


def test_an_event_outside_every_lifecycle_has_no_lifecycle_section(ops: Client, client: Client, auth) -> None:
    ingest(client, auth, [{"source": "shop.misc", "detail-type": "Ping", "detail": {}}])
    event = Event.objects.get()
    assert "<h2>Lifecycle" not in ops.get(f"/events/{event.id}/").content.decode()
