"""The trace page's data (``/traces/<id>/data``, and the same in the page): the rest of the flow and the
transactions whose events are on it (``lifecycles.lookup.transactions_on_traces``), per scope."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dashboard.lifecycles.lookup import transactions_on_traces

pytestmark = pytest.mark.django_db

HERE, THERE, ELSEWHERE = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c", "1" * 32
ORDER = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"], "timeout_seconds": 900}


def ev(detail_type: str, order: str, trace_id: str, time: str) -> dict[str, Any]:
    return {"source": "shop", "detail-type": detail_type, "time": time, "detail": {"order-id": order},
            "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}  # fmt: skip


@pytest.fixture
def seeded(client: Client, auth: dict[str, str]) -> None:
    assert client.post("/api/lifecycles", ORDER, content_type="application/json", headers=auth).status_code == 201
    events = [
        # a/b is complete across two traces; its key needs encoding in a URL
        ev("OrderCreated", "a/b", HERE, "2026-01-01T00:00:00Z"),
        ev("OrderPaid", "a/b", THERE, "2026-01-01T00:00:01Z"),
        # o-2 was paid before it was created (out of order), on the other trace only
        ev("OrderPaid", "o-2", THERE, "2026-01-01T00:00:00Z"),
        ev("OrderCreated", "o-2", ELSEWHERE, "2026-01-01T00:00:01Z"),
        # belongs to no lifecycle (no key)
        {"source": "shop", "detail-type": "Noise", "detail": {}, "traceparent": f"00-{HERE}-00f067aa0ba902b7-01"},
    ]
    response = client.post("/api/events", events, content_type="application/json", headers=auth)
    assert response.json()["accepted"] == len(events)


def test_the_transactions_of_a_flow_say_which_of_its_traces_carry_them(seeded):
    found = transactions_on_traces([HERE, THERE])
    assert [(tx["key"], tx["status"], tx["out_of_order"], tx["on_traces"]) for tx in found] == [
        ("a/b", "complete", False, [HERE, THERE]),
        ("o-2", "complete", True, [THERE]),
    ]
    assert found[0]["url"] == "/transactions/order/a%2Fb/"
    assert [tx["key"] for tx in transactions_on_traces([HERE])] == ["a/b"]


def test_a_trace_whose_events_belong_to_no_lifecycle_has_none_for_one_query(
    seeded, client, auth, django_assert_num_queries
):
    other = {"source": "x", "detail-type": "Y", "detail": {}, "traceparent": f"00-{'2' * 32}-{'3' * 16}-01"}
    client.post("/api/events", [other], content_type="application/json", headers=auth)
    with django_assert_num_queries(1):
        assert transactions_on_traces(["2" * 32]) == []
    assert transactions_on_traces([]) == []


def test_the_page_lists_the_scope_s_transactions_and_events(seeded, ops):
    page = ops.get(f"/traces/{HERE}/")
    assert page.status_code == 200
    assert [tx["key"] for tx in page.context["transactions"]] == ["a/b"]
    assert page.context["summary"]["event_count"] == 2
    assert b'href="/transactions/order/a%2Fb/"' in page.content


def test_the_data_answers_json_and_the_api_s_errors(seeded, ops, client):
    data = ops.get(f"/traces/{HERE}/data").json()
    assert data["trace_id"] == HERE
    assert {"spans", "events", "flow", "incoming_links", "peers", "transactions"} <= set(data)
    assert [tx["key"] for tx in data["transactions"]] == ["a/b"]
    invalid = ops.get("/traces/nope/data")
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_trace_id"
    assert ops.get(f"/traces/{'f' * 32}/data").status_code == 404
    assert client.get(f"/traces/{HERE}/data").status_code == 302  # a login first
