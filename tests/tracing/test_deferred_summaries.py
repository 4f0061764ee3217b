"""Trace search's tables kept after ingest on SQLite (``tracing.summaries``): ingest does not
summarise there, every reader catches up first, and the server's summariser thread catches up
without one. On PostgreSQL ingest summarises in its own transaction."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from tests.api.test_trace_search_api import TRACES, export, span
from tracing import summaries
from tracing.models import ServiceOperation, Span, TraceSummary, TraceSummaryCursor
from tracing.summaries import pending, summarise_pending

pytestmark = pytest.mark.django_db

# Summarised after ingest on SQLite only: the PostgreSQL run deselects these (marker `sqlite`).
sqlite_only = pytest.mark.sqlite


def _batch() -> list[dict[str, Any]]:
    return [span("many", 10 + i, f"step {i}", 4000 + i, 1, parent=10 if i else 0, n=i) for i in range(5)]


@sqlite_only
def test_ingest_leaves_summarising_to_later(client: Client, auth: dict[str, str], monkeypatch: Any) -> None:
    monkeypatch.setattr(summaries, "summarise", lambda _: pytest.fail("ingest summarised on SQLite"))
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    export(client, "orders", _batch())
    assert pending() and not TraceSummary.objects.exists()


def test_spans_searched_as_soon_as_their_ingest_answered_are_found(client: Client, auth: dict[str, str]) -> None:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    export(client, "orders", _batch(), region="eu")
    # Each reader catches up first: none of them depends on another having read before it.
    services = client.get("/api/services").json()["results"]
    assert [(s["name"], s["spans"]) for s in services] == [("orders", 5)]
    export(client, "shipping", [span("ship", 4, "ship", 2000, 1000)])
    rows = client.get("/api/traces", {"attr": "region=eu"}).json()["results"]
    assert [(r["trace_id"], r["span_count"]) for r in rows] == [(TRACES["many"], 5)]
    export(client, "billing", [span("checkout", 2, "charge", 10, 50)])
    found = client.get("/api/find", {"q": TRACES["checkout"]}).json()["results"]
    assert [r["kind"] for r in found] == ["trace"]
    export(client, "gateway", [span("browse", 3, "GET /", 1000, 10)])
    assert [r["kind"] for r in client.get("/api/find", {"q": "gateway"}).json()["results"]] == ["service"]
    assert not pending()


def test_a_retried_export_counts_once(client: Client, auth: dict[str, str]) -> None:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    export(client, "orders", _batch())
    export(client, "orders", _batch())  # retried before anything was summarised
    assert client.get("/api/traces", {"service": "orders"}).json()["results"][0]["span_count"] == 5
    export(client, "orders", _batch())  # and after
    assert client.get("/api/traces", {"service": "orders"}).json()["results"][0]["span_count"] == 5
    assert client.get("/api/services").json()["results"][0]["spans"] == 5


@sqlite_only
def test_chunks_add_up_to_one_pass(client: Client, auth: dict[str, str], monkeypatch: Any) -> None:
    # A trace whose spans fall in two chunks is merged as if summarised at once.
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    monkeypatch.setattr(summaries, "CHUNK", 2)
    export(client, "orders", _batch()[:3])
    export(client, "billing", _batch()[3:])
    assert summarise_pending() == 5
    many = TraceSummary.objects.get(trace_id=TRACES["many"])
    assert (many.span_count, many.root_name, many.end_ns - many.start_ns) == (5, "step 0", 5_000_000)
    operations = sorted(ServiceOperation.objects.values_list("service", "name", "spans"))
    assert operations == [("billing", f"step {i}", 1) for i in (3, 4)] + [("orders", f"step {i}", 1) for i in range(3)]
    assert TraceSummaryCursor.objects.get().position == max(Span.objects.values_list("id", flat=True))
    assert summarise_pending() == 0


def test_ingest_summarises_in_its_own_transaction_on_postgresql_only(client: Client, auth: dict[str, str]) -> None:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    export(client, "orders", _batch())
    if connection.vendor == "postgresql":
        assert not pending() and TraceSummary.objects.get().span_count == 5
        assert summarise_pending() == 0
    else:  # left for later, and done by the first reader
        assert pending() and not TraceSummary.objects.exists()
        assert summarise_pending() == 5
        assert not pending() and TraceSummary.objects.get().span_count == 5


@sqlite_only
@pytest.mark.usefixtures("transactional_db")
def test_the_server_summarises_a_moment_after_ingest_without_being_asked(live_server_url: str, token: Any) -> None:
    import requests

    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]},
                "scopeSpans": [{"spans": _batch()}],
            }
        ]
    }
    headers = {"Authorization": f"Bearer {token.token}"}
    response = requests.post(f"{live_server_url}/v1/traces", json=body, headers=headers, timeout=10)
    assert response.status_code == 200
    # Nobody searches: the server's summariser thread alone brings the spans in (within about 1 s).
    deadline = time.monotonic() + 10
    while not TraceSummary.objects.filter(trace_id=TRACES["many"]).exists():
        assert time.monotonic() < deadline, "the server did not summarise the stored spans"
        time.sleep(0.05)
    assert TraceSummary.objects.get().span_count == 5 and not pending()
    assert connection.vendor == "sqlite"
