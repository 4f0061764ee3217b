"""Concurrent ingest of one new type through the real server (several ingest threads: concurrent
write transactions on PostgreSQL, the shared write lock on SQLite): one schema, versions numbered
without gaps, every stored event counted once, and no request answered 5xx."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db.models import Sum

from dashboard.events.models import Event
from dashboard.schemas.models import Schema, SchemaCount, SchemaVersion

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_concurrent_first_events_and_new_versions_of_one_type(live_server_url, token):
    headers = {"Authorization": f"Bearer {token.token}"}

    def send(n: int) -> int:
        # Shapes that start versions: a field of its own every few requests, a type change once.
        detail: dict[str, object] = {"order-id": f"o-{n}", "amount": n}
        if n % 3 == 0:
            detail[f"extra-{n % 4}"] = True
        if n == 10:
            detail["amount"] = "ten"
        body = [{"source": "race", "detail-type": "Raced", "detail": detail} for _ in range(5)]
        return requests.post(f"{live_server_url}/api/events", json=body, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(24)))
    assert statuses == [200] * 24
    schema = Schema.objects.get(source="race", detail_type="Raced")
    numbers = list(SchemaVersion.objects.filter(schema=schema).order_by("number").values_list("number", flat=True))
    assert numbers == list(range(1, schema.latest_version + 1))
    counted = SchemaCount.objects.filter(schema_id=schema.id).aggregate(total=Sum("events"))["total"]
    assert counted == Event.objects.filter(source="race").count() == 24 * 5
    assert schema.breaking_changes >= 1  # "amount" as a string
