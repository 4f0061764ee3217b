"""``GET /api/transactions``, ``.csv`` and ``/funnel``: filters, paging, the CSV export, real HTTP."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import requests
from django.test import Client

pytestmark = pytest.mark.django_db

ORDER = {
    "name": "order",
    "key": "detail.order-id",
    "steps": ["OrderCreated", "OrderPaid", "OrderShipped"],
    "timeout_seconds": 900,
}
REFUND = {
    "name": "refund",
    "key": "detail.refund-id",
    "steps": ["RefundRequested", "RefundPaid"],
    "timeout_seconds": 60,
}


def ev(detail_type: str, **detail: Any) -> dict[str, Any]:
    return {"source": "shop", "detail-type": detail_type, "detail": detail}


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    for lifecycle in (ORDER, REFUND):
        assert client.post("/api/lifecycles", lifecycle, content_type="application/json").status_code == 201
    events = [
        ev("OrderCreated", **{"order-id": "o-1"}),
        ev("OrderPaid", **{"order-id": "o-1"}),
        ev("OrderShipped", **{"order-id": "o-1"}),
        ev("OrderCreated", **{"order-id": "o-2"}),
        ev("OrderPaid", **{"order-id": "o-2"}),
        ev("OrderPaid", **{"order-id": "o-3"}),
        ev("RefundRequested", **{"refund-id": "r-1"}),
    ]
    assert client.post("/api/events", events, content_type="application/json").status_code == 200
    return client


def keys(api: Client, **params: str) -> list[str]:
    response = api.get("/api/transactions", params)
    assert response.status_code == 200, response.content
    return [row["key"] for row in response.json()["results"]]


def test_filters_narrow_the_report(api: Client) -> None:
    assert keys(api) == ["r-1", "o-3", "o-2", "o-1"]
    assert keys(api, lifecycle="order") == ["o-3", "o-2", "o-1"]
    assert keys(api, status="complete") == ["o-1"]
    assert keys(api, status="in_progress") == ["r-1", "o-3", "o-2"]
    assert keys(api, out_of_order="true") == ["o-3"]
    assert keys(api, out_of_order="false", lifecycle="order") == ["o-2", "o-1"]
    assert keys(api, missing_step="OrderShipped") == ["o-3", "o-2"]
    assert keys(api, missing_step="RefundPaid") == ["r-1"]
    assert keys(api, since="2000-01-01T00:00:00Z", until="2100-01-01T00:00:00Z", lifecycle="refund") == ["r-1"]
    assert keys(api, since="2100-01-01T00:00:00Z") == []


def test_pages_follow_the_cursor(api: Client) -> None:
    seen: list[str] = []
    params: dict[str, str] = {"limit": "3"}
    while True:
        body = api.get("/api/transactions", params).json()
        seen += [row["key"] for row in body["results"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == ["r-1", "o-3", "o-2", "o-1"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"status": "stuck"}, "'status' must be one of"),
        ({"lifecycle": "nope"}, "No lifecycle named 'nope'"),
        ({"out_of_order": "yes"}, "'out_of_order' must be true or false"),
        ({"missing_step": "OrderLost"}, "has a step named 'OrderLost'"),
        ({"lifecycle": "refund", "missing_step": "OrderPaid"}, "has a step named 'OrderPaid'"),
        ({"since": "yesterday"}, "not an RFC 3339 timestamp"),
        ({"cursor": "abc"}, "'cursor' is not a cursor"),
        ({"limit": "0"}, "'limit' must be"),
        ({"limit": "501"}, "'limit' must be"),
    ],
)
def test_bad_parameters_are_400_with_the_reason(api: Client, params: dict[str, str], reason: str) -> None:
    for path in ("/api/transactions", "/api/transactions.csv", "/api/transactions/funnel"):
        response = api.get(path, params)
        assert response.status_code == 400, path
        assert reason in response.json()["error"]["message"]


def test_the_funnel_counts_per_lifecycle_and_per_step(api: Client) -> None:
    lifecycles = {item["lifecycle"]: item for item in api.get("/api/transactions/funnel").json()["lifecycles"]}
    order = lifecycles["order"]
    assert (order["total"], order["complete"], order["in_progress"], order["incomplete"]) == (3, 1, 2, 0)
    assert order["out_of_order"] == 1
    assert order["steps"] == [
        {"step": "OrderCreated", "reached": 2, "stuck": 1},
        {"step": "OrderPaid", "reached": 3, "stuck": 0},
        {"step": "OrderShipped", "reached": 1, "stuck": 1},
    ]
    assert lifecycles["refund"]["steps"] == [
        {"step": "RefundRequested", "reached": 1, "stuck": 0},
        {"step": "RefundPaid", "reached": 0, "stuck": 1},
    ]
    filtered = api.get("/api/transactions/funnel", {"out_of_order": "true"}).json()["lifecycles"]
    assert [item["total"] for item in filtered] == [1, 0]


def test_the_report_needs_read(client: Client, make_token: Any) -> None:
    ingester = {"Authorization": f"Bearer {make_token('ingest').token}"}
    for path in ("/api/transactions", "/api/transactions.csv", "/api/transactions/funnel"):
        assert client.get(path, headers=ingester).status_code == 403
        assert client.get(path).status_code == 401


@pytest.mark.usefixtures("transactional_db")
def test_over_real_http_ingested_events_show_up_in_the_report_and_its_csv(
    live_server_url: str, make_token: Any
) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {make_token().token}"
    created = session.post(f"{live_server_url}/api/lifecycles", json=ORDER, timeout=10)
    assert created.status_code == 201, created.text
    answer = session.post(
        f"{live_server_url}/api/events",
        json=[ev("OrderPaid", **{"order-id": "o-1"}), ev("OrderCreated", **{"order-id": 'o-2, "quoted"'})],
        timeout=10,
    )
    assert answer.status_code == 200
    # Acknowledged means committed, and the report reads the database: no waiting.
    report = session.get(f"{live_server_url}/api/transactions", params={"lifecycle": "order"}, timeout=10).json()
    assert [row["key"] for row in report["results"]] == ['o-2, "quoted"', "o-1"]
    assert report["results"][1]["out_of_order"] is True
    exported = session.get(f"{live_server_url}/api/transactions.csv", params={"out_of_order": "true"}, timeout=10)
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 1
    assert rows[0]["key"] == "o-1"
    assert rows[0]["lifecycle"] == "order"
    assert rows[0]["status"] == "in_progress"
    assert rows[0]["out_of_order"] == "true"
    assert rows[0]["missing_steps"] == "OrderCreated OrderShipped"
    assert rows[0]["steps_seen"].startswith("OrderPaid@")
    everything = list(csv.reader(io.StringIO(session.get(f"{live_server_url}/api/transactions.csv", timeout=10).text)))
    assert everything[0][:4] == ["id", "lifecycle", "key", "status"]
    assert [row[2] for row in everything[1:]] == ['o-2, "quoted"', "o-1"]
