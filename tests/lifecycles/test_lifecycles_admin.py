"""The Django admin defines lifecycles with the API's validation, and shows transactions read-only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.events.envelope import NormalizedEvent
from dashboard.ingest.store import store_events
from dashboard.lifecycles.models import Lifecycle

pytestmark = pytest.mark.django_db


def form(**change: str) -> dict[str, str]:
    return {
        "name": "order",
        "key": "detail.order-id",
        "steps": '["OrderCreated", "OrderPaid"]',
        "timeout_seconds": "900",
        "pattern": "null",
        **change,
    }


def test_the_admin_creates_a_valid_lifecycle(admin: Client) -> None:
    response = admin.post("/admin/lifecycles/lifecycle/add/", form())
    assert response.status_code == 302
    assert Lifecycle.objects.get().steps == ["OrderCreated", "OrderPaid"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"steps": '["A", "A"]'}, "Steps must be unique; repeated: A"),
        ({"key": "nowhere.id"}, "must start with an envelope field"),
        ({"pattern": '{"source": "shop"}'}, "Invalid event pattern"),
    ],
)
def test_the_admin_refuses_what_the_api_refuses(admin: Client, change: dict[str, str], reason: str) -> None:
    response = admin.post("/admin/lifecycles/lifecycle/add/", form(**change))
    assert response.status_code == 200
    assert reason in response.content.decode()
    assert not Lifecycle.objects.exists()


def test_transactions_are_listed_but_not_added_by_hand(admin: Client) -> None:
    Lifecycle.objects.create(name="order", key="detail.order-id", steps=["OrderCreated"], timeout_seconds=60)
    now = timezone.now()
    created = NormalizedEvent(event_id="e-1", source="shop", detail_type="OrderCreated", time=now,
                              detail={"order-id": "o-admin"}, format="native", raw="{}")  # fmt: skip
    store_events([created], now)
    listing = admin.get("/admin/lifecycles/transaction/")
    assert listing.status_code == 200
    assert "o-admin" in listing.content.decode()  # the list holds the event just stored
    assert admin.get("/admin/lifecycles/transaction/add/").status_code == 403
