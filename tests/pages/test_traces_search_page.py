"""``/traces/``: trace search like Jaeger's — the pickers, status, durations, attributes, time ranges,
the results drawn to scale, paging with the filters kept, and bad input shown inside the page."""

from __future__ import annotations

import time
from html import escape
from typing import Any

import orjson
import pytest
import requests
from django.db import connection
from django.test import Client

from tests.conftest import logged_in

pytestmark = pytest.mark.usefixtures("transactional_db")
# Every logged-in page: the session row and the user row.
SESSION = 2
PENDING_CHECKS = 2 if connection.vendor == "sqlite" else 0
NOW = time.time_ns()
MS = 1_000_000


def span(trace: str, span_id: str, name: str, start_ms: int, ms: int, *, error: bool = False, **attrs: str) -> dict:
    """An OTLP JSON span starting ``start_ms`` before now and lasting ``ms``."""
    start = NOW - start_ms * MS
    return {
        "traceId": trace,
        "spanId": span_id,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + ms * MS),
        "attributes": [{"key": k.replace("_", "."), "value": {"stringValue": v}} for k, v in attrs.items()],
        "status": {"code": 2 if error else 1},
    }


def resource_spans(service: str, spans: list[dict]) -> dict:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return {"resource": resource, "scopeSpans": [{"spans": spans}]}


# The one trace the test searches for: checkout, failing, 800 ms. The others each miss one filter.
SLOW_ERROR = "a" * 32
FAST_ERROR = "b" * 32
SLOW_OK = "c" * 32
OTHER_SERVICE = "d" * 32
OLD = "e" * 32
BATCH = [
    resource_spans(
        "checkout",
        [
            span(SLOW_ERROR, "a" * 16, "POST /checkout", 60_000, 800, error=True, order_id="o-42"),
            span(FAST_ERROR, "b" * 16, "POST /checkout", 50_000, 50, error=True),
            span(SLOW_OK, "c" * 16, "GET /cart", 40_000, 900),
            span(OLD, "e" * 16, "GET /cart", 3 * 3600_000, 300, error=True),
        ],
    ),
    resource_spans("billing", [span(OTHER_SERVICE, "d" * 16, "charge", 30_000, 900, error=True)]),
    resource_spans("billing", [{**span(SLOW_ERROR, "f" * 16, "charge", 59_900, 200), "parentSpanId": "a" * 16}]),
]


def send(url: str, token: str, batch: list[dict] = BATCH) -> None:
    response = requests.post(
        f"{url}/v1/traces",
        data=orjson.dumps({"resourceSpans": batch}),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def found(page: Any) -> list[str]:
    return page.locator("#trace-results tbody tr td.root .mono").all_inner_texts()


def test_search_by_service_error_and_min_duration(page, live_server_url, token):
    send(live_server_url, token.token)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/")
    page.locator("header.top nav a", has_text="Traces").click()
    page.wait_for_url("**/traces/")
    assert set(found(page)) == {SLOW_ERROR, FAST_ERROR, SLOW_OK, OTHER_SERVICE, OLD}
    page.select_option("#ts-service", "checkout")
    # The span-name picker now offers the chosen service's names only (refilled from /api/services).
    page.wait_for_function("() => ![...document.querySelectorAll('#ts-name option')].some(o => o.value === 'charge')")
    assert page.locator("#ts-name option").all_inner_texts() == ["Any span name", "GET /cart", "POST /checkout"]
    page.select_option("#ts-status", "error")
    page.fill("#ts-min", "500")
    page.click("#trace-search button[type=submit]")
    # Empty fields stay out of the address.
    page.wait_for_url("**/traces/?service=checkout&status=error&min_duration_ms=500")
    assert found(page) == [SLOW_ERROR]
    row = page.locator("#trace-results tbody tr").first
    assert row.locator("td.root a").get_attribute("href") == f"/traces/{SLOW_ERROR}/"
    assert "checkout" in row.locator(".root-service").inner_text()
    assert "POST /checkout" in row.locator(".root-name").inner_text()
    assert row.locator(".chip.service").all_inner_texts() == ["billing", "checkout"]
    assert "2" in row.locator("td.counts").inner_text() and "1 error" in row.locator("td.counts").inner_text()
    assert row.locator("td.dur .dur-text").inner_text() == "800.0 ms"
    assert row.locator("time").get_attribute("datetime").endswith("Z")  # the one time format
    # The form keeps what was searched.
    assert page.input_value("#ts-service") == "checkout" and page.input_value("#ts-min") == "500"
    # The time range preset leaves out the trace three hours old; by attribute, only the order's trace.
    page.goto("/traces/?service=checkout&status=error&range=1h")
    assert set(found(page)) == {SLOW_ERROR, FAST_ERROR}
    page.goto("/traces/?attrs=order.id%3Do-42")
    assert found(page) == [SLOW_ERROR]
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.set_viewport_size({"width": 390, "height": 900})  # a phone: each trace a block of lines
    page.goto("/traces/")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert page.script_errors == []


def test_durations_are_drawn_to_scale(page, live_server_url, token):
    send(live_server_url, token.token)
    page.goto("/traces/?service=billing")
    widths = page.locator("#trace-results svg.dur-bar rect.dur-fill").evaluate_all(
        "rects => rects.map(r => r.getAttribute('width'))"
    )
    # OTHER_SERVICE (900 ms) is the longest on the page; SLOW_ERROR's envelope is 800 ms.
    assert widths == ["100.0%", "88.89%"]


def test_paging_keeps_the_filters(page, live_server_url, token):
    send(live_server_url, token.token)
    page.goto("/traces/?status=error&limit=2")
    assert found(page) == [OTHER_SERVICE, FAST_ERROR]
    page.click("#older")
    assert found(page) == [SLOW_ERROR, OLD]
    assert "status=error" in page.url and "limit=2" in page.url
    assert page.locator("#older").count() == 0


def test_bad_input_is_explained_inside_the_page(django_user_model, live_server_url, token):
    send(live_server_url, token.token)
    client: Client = logged_in(django_user_model, "ops")
    for query, where in (
        ({"min_duration_ms": "fast"}, "min_duration_ms"),
        ({"attrs": "no-equals-sign"}, "attr"),
        ({"status": "broken"}, "status"),
        ({"cursor": "tampered"}, "cursor"),
        ({"range": "custom", "since": "yesterday"}, "since"),
    ):
        response = client.get("/traces/", query)
        assert response.status_code == 400, query
        html = response.content.decode()
        assert 'id="search-error"' in html and escape(f"'{where}'") in html, (query, html)
        assert "<header" in html  # inside the layout


def test_hostile_names_stay_text(page, live_server_url, token):
    hostile = '"><img src=x onerror="window.__xss=1">'
    send(live_server_url, token.token, [resource_spans(hostile, [span("9" * 32, "9" * 16, hostile, 1000, 5)])])
    page.goto("/traces/")
    page.select_option("#ts-service", hostile)
    page.wait_for_function("() => document.querySelectorAll('#ts-name option').length === 2")
    assert page.locator("#ts-name option").nth(1).inner_text() == hostile
    row = page.locator("#trace-results tbody tr").first
    assert row.locator(".root-name").inner_text() == hostile
    assert page.evaluate("window.__xss") is None
    assert page.locator("[onerror]").count() == 0


def test_traces_page_queries(django_user_model, live_server_url, token, django_assert_num_queries):
    send(live_server_url, token.token)
    client: Client = logged_in(django_user_model, "ops")
    client.get("/traces/")  # anything still pending is summarised first
    # the search: the service term's count, its traces, the page's summaries, the services and the
    # page's traces' terms, the event counts; then the pickers' services. On SQLite the search and the
    # pickers each first check for spans not summarised yet.
    with django_assert_num_queries(SESSION + 7 + PENDING_CHECKS):
        assert (
            client.get("/traces/", {"service": "checkout", "status": "error", "min_duration_ms": "500"}).status_code
            == 200
        )
