"""Input that used to reach the database or the runtime unchecked gets a clear 4xx (or, for
telemetry, a stored replacement), never a 500 — on SQLite and on PostgreSQL alike.

- numbers that ``str.isdigit`` accepts but ``int`` does not ("²"), or too long for a column;
- times that overflow when converted to UTC, or whose deadline falls past the year 9999;
- patterns nested a thousand levels deep;
- the character U+0000, which PostgreSQL stores in neither text nor jsonb.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from dashboard.models import Event, Lifecycle, Transaction
from dashboard.replay.delivery import parse_retry_after
from tracing.models import Span

pytestmark = pytest.mark.django_db

LONG_NUMBER = "9" * 5000
ORDER = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"], "timeout_seconds": 900}


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


@pytest.fixture
def ops(django_user_model: Any) -> Client:
    django_user_model.objects.create_user("ops", password="pw-ops-123456")
    browser = Client()
    browser.login(username="ops", password="pw-ops-123456")
    return browser


def post_json(client: Client, path: str, body: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/transactions", {"limit": "²"}),
        ("/api/transactions", {"limit": LONG_NUMBER}),
        ("/api/transactions", {"cursor": "99999999999999999999"}),
        ("/api/transactions", {"cursor": "12\n"}),
        ("/api/transactions.csv", {"limit": "²"}),
        ("/api/transactions/funnel", {"cursor": "³"}),
        ("/api/transactions", {"since": "0001-01-01T00:00:00+01:00"}),
        ("/api/transactions", {"until": "9999-12-31T23:59:59-01:00"}),
        ("/api/events", {"limit": "²"}),
        ("/api/events", {"limit": LONG_NUMBER}),
        ("/api/events", {"pattern": json.dumps({"detail": {"ip": [{"cidr": "10.0.0.0/" + LONG_NUMBER}]}})}),
        ("/api/replays/1/deliveries", {"limit": "²"}),
        ("/api/replays/1/deliveries", {"cursor": "²"}),
    ],
)
def test_odd_numbers_and_times_in_query_parameters_are_a_400(api: Client, path: str, params: dict[str, str]) -> None:
    response = api.get(path, params)
    assert response.status_code in (400, 404), response.content  # 404: no replay 1 (checked first)
    assert response.status_code != 404 or "replays" in path


def test_the_pages_take_odd_numbers_without_failing(ops: Client) -> None:
    assert ops.get("/transactions/", {"limit": "²"}).status_code == 400
    assert ops.get("/transactions/funnel", {"limit": LONG_NUMBER}).status_code == 400
    assert ops.get("/replays/", {"replay": "²"}).status_code == 200
    assert ops.get("/replays/", {"replay": "99999999999999999999"}).status_code == 200
    form = {**ORDER, "steps": "OrderCreated", "timeout_seconds": "²"}
    response = ops.post("/transactions/", form)
    assert response.status_code == 400
    assert "timeout_seconds&#x27; is required and must be a whole number" in response.content.decode()
    assert not Lifecycle.objects.exists()


def test_a_consumers_odd_retry_after_is_ignored() -> None:
    assert parse_retry_after("²") is None
    assert parse_retry_after(LONG_NUMBER) is None
    assert parse_retry_after("7") == 7.0


def test_an_event_time_that_overflows_in_utc_rejects_only_that_event(api: Client) -> None:
    events = [
        {"source": "shop", "detail-type": "OrderCreated", "time": "0001-01-01T00:00:00+01:00", "detail": {}},
        {"source": "shop", "detail-type": "OrderCreated", "detail": {}},
    ]
    answer = post_json(api, "/api/events", events).json()
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    assert "out of range" in answer["results"][0]["error"]


def test_an_event_dated_just_before_the_year_10000_is_tracked(api: Client) -> None:
    assert post_json(api, "/api/lifecycles", ORDER).status_code == 201
    event = {"source": "shop", "detail-type": "OrderCreated", "time": "9999-12-31T23:00:00Z"}
    event["detail"] = {"order-id": "o"}
    assert post_json(api, "/api/events", event).json()["accepted"] == 1
    record = Transaction.objects.get()
    assert record.deadline.year == 9999  # no deadline within the calendar: the latest there is
    assert api.get("/api/transactions").json()["results"][0]["status"] == "in_progress"


def test_a_pattern_nested_a_thousand_levels_is_a_400(api: Client) -> None:
    nested = '{"a":' * 1000 + '["x"]' + "}" * 1000  # as deep as a JSON parser takes
    body = json.dumps(ORDER)[:-1] + ', "pattern": ' + nested + "}"
    response = api.post("/api/lifecycles", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested more than 32 levels" in response.json()["error"]["message"]
    assert api.get("/api/events", {"pattern": nested}).status_code == 400


def test_an_event_holding_nul_is_refused_and_the_rest_of_its_batch_stored(api: Client) -> None:
    events = [
        {"source": "shop", "detail-type": "OrderCreated", "detail": {"note": "a\u0000b"}},
        {"source": "shop", "detail-type": "Order\u0000Created", "detail": {}},
        {"source": "shop", "detail-type": "OrderCreated", "detail": {"k\u0000": 1}},
        {"source": "shop", "detail-type": "OrderCreated", "detail": {"note": "a backslash: \\u0000 is text"}},
    ]
    answer = post_json(api, "/api/events", events).json()
    assert [result["status"] for result in answer["results"]] == ["rejected", "rejected", "rejected", "accepted"]
    assert "U+0000" in answer["results"][0]["error"]
    assert Event.objects.get().detail == {"note": "a backslash: \\u0000 is text"}


def test_a_span_holding_nul_is_stored_with_a_replacement_character(api: Client) -> None:
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "charge\u0000card",
        "kind": 1,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000100000000",
        "attributes": [{"key": "note\u0000", "value": {"stringValue": "x\u0000y"}}],
    }
    body = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {}, "spans": [span]}]}]}
    response = post_json(api, "/v1/traces", body)
    assert response.status_code == 200, response.content
    stored = Span.objects.get()
    assert stored.name == "charge\ufffdcard"
    assert stored.attributes == {"note\ufffd": "x\ufffdy"}


def test_an_otlp_integer_of_thousands_of_digits_refuses_its_span(api: Client) -> None:
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "n",
            "startTimeUnixNano": LONG_NUMBER, "endTimeUnixNano": "1"}  # fmt: skip
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    response = post_json(api, "/v1/traces", body)
    assert response.status_code == 200, response.content  # OTLP: the span is refused, the request is not
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/lifecycles", {**ORDER, "name": "ord\u0000er"}),
        ("/api/lifecycles", {**ORDER, "steps": ["OrderCreated", "Paid\u0000"]}),
        ("/api/lifecycles", {**ORDER, "pattern": {"source": ["shop\u0000"]}}),
        ("/api/consumers", {"name": "c", "url": "http://127.0.0.1:9/", "secret": "s\u0000"}),
        ("/api/consumers", {"name": "c\n", "url": "http://127.0.0.1:9/"}),
    ],
)
def test_definitions_holding_nul_are_a_400(api: Client, path: str, body: dict[str, Any]) -> None:
    response = post_json(api, path, body)
    assert response.status_code == 400, response.content
