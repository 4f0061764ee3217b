"""``/transactions/<lifecycle>/<key>/``: one transaction's page — its steps in order, what is missing and
who usually sends it, out-of-order facts, its not-found state — and the links that lead to it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from dashboard.events.models import Event
from dashboard.lifecycles.fold import fold_pending
from tests.conftest import logged_in

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ORDER = {
    "name": "order",
    "key": "detail.order-id",
    "steps": ["OrderCreated", "OrderPaid", "OrderShipped"],
    "timeout_seconds": 900,
}
# Every logged-in page: the session row and the user row.
SESSION = 2
# On SQLite a page that reads transaction records first checks for events not folded into them yet.
FOLD_CHECK = 1 if connection.vendor == "sqlite" else 0


def ev(detail_type: str, order: str, time: str, source: str = "shop.orders", **extra: Any) -> dict[str, Any]:
    return {"source": source, "detail-type": detail_type, "time": time, "detail": {"order-id": order}, **extra}


# o-1 is complete (its first step on a trace); o-2 never shipped (shop.shipping ships the others);
# o-3's update arrived before its first step and it was never paid. Times are long past: every
# record with a step missing is incomplete.
EVENTS = [
    ev("OrderCreated", "o-1", "2026-01-01T00:00:00Z", traceparent=f"00-{TRACE}-00f067aa0ba902b7-01"),
    ev("OrderPaid", "o-1", "2026-01-01T00:00:01Z", source="shop.payments"),
    ev("OrderShipped", "o-1", "2026-01-01T00:00:04Z", source="shop.shipping"),
    ev("OrderCreated", "o-2", "2026-01-01T00:00:00Z"),
    ev("OrderPaid", "o-2", "2026-01-01T00:02:03Z", source="shop.payments"),
    ev("OrderUpdated", "o-3", "2026-01-01T00:00:00Z"),
    ev("OrderCreated", "o-3", "2026-01-01T00:00:01Z"),
    ev("OrderShipped", "o-3", "2026-01-01T00:00:02Z", source="shop.shipping"),
]


def seed(client: Client, auth: dict[str, str], events: list[dict[str, Any]] = EVENTS) -> None:
    assert client.post("/api/lifecycles", ORDER, content_type="application/json", headers=auth).status_code == 201
    response = client.post("/api/events", events, content_type="application/json", headers=auth)
    assert response.status_code == 200, response.content


@pytest.fixture
def ops(django_user_model: Any, auth: dict[str, str]) -> Client:
    browser = logged_in(django_user_model, "ops")
    seed(browser, auth)
    return browser


def steps_table(html: str) -> str:
    return html.split('id="steps"')[1].split("</table>")[0]


@pytest.mark.django_db
def test_it_needs_a_login(client: Client) -> None:
    response = client.get("/transactions/order/o-1/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_the_steps_in_order_with_their_events_traces_and_gaps(ops: Client) -> None:
    response = ops.get("/transactions/order/o-1/")
    assert response.status_code == 200
    html = response.content.decode()
    table = steps_table(html)
    assert [table.index(step) for step in ORDER["steps"]] == sorted(table.index(step) for step in ORDER["steps"])
    created = Event.objects.get(detail_type="OrderCreated", trace_id=TRACE)
    assert f'href="/events/{created.id}/"' in table
    # The trace link is labelled by its step, not bare hex; the full id is its title.
    assert f'<a href="/traces/{TRACE}/" class="trace-link" title="trace {TRACE}">OrderCreated trace</a>' in table
    assert ">1.0 s<" in table and ">3.0 s<" in table  # the time since the previous step
    assert 'id="tx-status">complete<' in html
    assert "missing" not in table


@pytest.mark.django_db
def test_a_missing_step_says_who_usually_sends_it(ops: Client) -> None:
    html = ops.get("/transactions/order/o-2/").content.decode()
    table = steps_table(html)
    shipped = table.split('data-step="OrderShipped"')[1]
    assert "missing" in shipped
    assert "usually sent by" in shipped and ">shop.shipping</a>" in shipped
    assert "/events/?source=shop.shipping&amp;detail_type=OrderShipped" in shipped
    assert ">2 min 3 s<" in table
    assert 'id="tx-status">incomplete<' in html


@pytest.mark.django_db
def test_out_of_order_facts_and_updates(ops: Client) -> None:
    html = ops.get("/transactions/order/o-3/").content.decode()
    assert 'id="tx-ooo"' in html
    facts = html.split('id="out-of-order"')[1].split("</table>")[0]
    assert "OrderUpdated" in facts and "OrderCreated" in facts
    assert 'id="tx-updates">1 ' in html
    paid = steps_table(html).split('data-step="OrderPaid"')[1].split("</tr>")[0]
    assert ">shop.payments</a>" in paid
    # The gap of a step runs from the nearest earlier seen step.
    shipped = steps_table(html).split('data-step="OrderShipped"')[1].split("</tr>")[0]
    assert ">1.0 s<" in shipped


@pytest.mark.django_db
def test_unknown_lifecycle_or_key_is_the_pages_own_not_found(ops: Client) -> None:
    for path in ("/transactions/order/nope/", "/transactions/refund/o-1/", "/transactions/o-1/"):
        response = ops.get(path)
        assert response.status_code == 404, path
        html = response.content.decode()
        assert '<header class="top">' in html  # inside the layout
        assert 'id="not-found"' in html and "Transaction not found" in html


@pytest.mark.django_db
def test_names_and_keys_are_any_text(ops: Client, auth: dict[str, str]) -> None:
    lifecycle = {**ORDER, "name": "shop/order"}
    assert ops.post("/api/lifecycles", lifecycle, content_type="application/json", headers=auth).status_code == 201
    key = "a/<b>?#"
    created = [ev("OrderCreated", key, "2026-01-01T00:00:00Z")]
    assert ops.post("/api/events", created, content_type="application/json", headers=auth).status_code == 200
    html = ops.get("/transactions/shop%2Forder/a%2F%3Cb%3E%3F%23/").content.decode()
    assert "a/&lt;b&gt;?#" in html and "<b>" not in html
    assert "shop/order" in html
    # The report's row links to it, every reserved character encoded.
    report = ops.get("/transactions/", {"lifecycle": "shop/order", "show": "all"}).content.decode()
    assert 'href="/transactions/shop%2Forder/a%2F%3Cb%3E%3F%23/"' in report


@pytest.mark.django_db
def test_the_event_page_links_a_key_to_its_transaction(ops: Client) -> None:
    created = Event.objects.filter(detail_type="OrderCreated").exclude(trace_id=TRACE).order_by("id").first()
    html = ops.get(f"/events/{created.id}/").content.decode()
    assert 'href="/transactions/order/o-2/" class="tx-link"' in html


@pytest.mark.usefixtures("transactional_db")
def test_transaction_page_queries(ops: Client, django_assert_num_queries: Any) -> None:
    fold_pending()  # what the ingest left to fold: the pages only check
    # the lifecycle named by the path, the record, the traces of its step events
    with django_assert_num_queries(SESSION + FOLD_CHECK + 3):
        assert ops.get("/transactions/order/o-1/").status_code == 200
    # and per missing step: the other records that saw it, the sources of their events
    with django_assert_num_queries(SESSION + FOLD_CHECK + 3 + 2):
        assert ops.get("/transactions/order/o-2/").status_code == 200
    with django_assert_num_queries(SESSION + 1):  # not found: the lifecycle lookup alone
        assert ops.get("/transactions/refund/o-1/").status_code == 404


@pytest.mark.usefixtures("transactional_db")
def test_report_queries(ops: Client, django_assert_num_queries: Any) -> None:
    fold_pending()
    # the lifecycles, the page of records, the traces of their step events, the lifecycle list
    with django_assert_num_queries(SESSION + FOLD_CHECK + 4):
        assert ops.get("/transactions/").status_code == 200


def test_in_a_browser_a_missing_step_says_who_usually_sends_it(page: Any, auth: dict[str, str]) -> None:
    seed(Client(), auth)
    page.goto("/transactions/")
    page.click("#transactions a.tx-link:text-is('o-2')")  # a row opens its transaction
    page.wait_for_url("**/transactions/order/o-2/")
    missing = page.locator("#steps tr.missing")
    assert missing.count() == 1
    assert missing.get_attribute("data-step") == "OrderShipped"
    assert "usually sent by shop.shipping" in missing.inner_text()
    assert page.locator("#steps tr.seen").count() == 2
    for width, height in ((1280, 900), (390, 844)):  # it fits a wide and a phone-sized window
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), width
    assert page.script_errors == []


def test_in_a_browser_an_unknown_transaction_is_a_styled_not_found(page: Any, auth: dict[str, str]) -> None:
    seed(Client(), auth)
    response = page.goto("/transactions/order/no-such-order/")
    assert response.status == 404
    assert page.locator("header.top nav").is_visible()  # the layout, not a bare 404
    assert page.locator("#not-found h1").inner_text() == "Transaction not found"
    assert page.script_errors == []
