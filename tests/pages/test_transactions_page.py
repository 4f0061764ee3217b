"""``/transactions/``: the report page — filters, funnel, CSV link, lifecycle list and create form."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape as html_unescape
from typing import Any

import pytest
from django.test import Client

from dashboard.lifecycles.models import Lifecycle
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db

ORDER = {
    "name": "order",
    "key": "detail.order-id",
    "steps": ["OrderCreated", "OrderPaid", "OrderShipped"],
    "timeout_seconds": 900,
}


@pytest.fixture
def ops(django_user_model: Any) -> Client:
    return logged_in(django_user_model, "ops", csrf=True)  # the create form is posted with its token


def test_it_needs_a_login(client: Client) -> None:
    response = client.get("/transactions/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_shows_the_report_the_funnel_and_the_export_link(ops: Client, auth: dict[str, str]) -> None:
    ops.post("/api/lifecycles", ORDER, content_type="application/json", headers=auth)
    events = [
        {"source": "shop", "detail-type": "OrderPaid", "detail": {"order-id": "o-<1>"}},
        {"source": "shop", "detail-type": "OrderCreated", "detail": {"order-id": "o-2"}},
    ]
    assert ops.post("/api/events", events, content_type="application/json", headers=auth).status_code == 200
    page = ops.get("/transactions/", {"lifecycle": "order", "out_of_order": "true"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "o-&lt;1&gt;" in html  # keys are producers' text, escaped
    assert "o-2" not in html.split('id="transactions"')[1].split("</table>")[0]
    assert "OrderPaid before OrderCreated" in html
    assert 'href="/api/transactions.csv?lifecycle=order&amp;out_of_order=true"' in html
    # The funnel comes after the table, from its own fragment, for the same filters.
    assert 'data-src="/transactions/funnel?lifecycle=order&amp;out_of_order=true"' in html
    assert 'class="funnel-chart"' not in html
    fragment = ops.get("/transactions/funnel", {"lifecycle": "order", "out_of_order": "true"})
    assert fragment.status_code == 200
    chart = fragment.content.decode()
    assert chart.count('<div class="funnel-step"') == 3
    assert "1 total · 1 in progress · 0 complete · 0 incomplete · 1 out of order" in chart
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all(" src=" in tag for tag in scripts)  # no inline script (CSP)
    assert 'aria-current="page">Transactions</a>' in html


def test_a_bad_filter_is_shown_not_a_crash(ops: Client) -> None:
    page = ops.get("/transactions/", {"status": "lost"})
    assert page.status_code == 400
    assert "&#x27;status&#x27; must be one of" in page.content.decode()
    assert 'id="funnel"' not in page.content.decode()  # no second copy of the error from the funnel
    fragment = ops.get("/transactions/funnel", {"since": "<b>soon</b>"})
    assert fragment.status_code == 400
    assert "&lt;b&gt;soon" in fragment.content.decode() and "<b>" not in fragment.content.decode()


def test_the_funnel_fragment_needs_a_login_and_escapes_step_names(
    ops: Client, client: Client, auth: dict[str, str]
) -> None:
    assert client.get("/transactions/funnel")["Location"].startswith("/login/")
    steps = ["<img src=x onerror=alert(1)>", "Paid"]
    lifecycle = {**ORDER, "steps": steps}
    assert ops.post("/api/lifecycles", lifecycle, content_type="application/json", headers=auth).status_code == 201
    chart = ops.get("/transactions/funnel").content.decode()
    assert "<img" not in chart and "&lt;img src=x" in chart


def test_the_form_defines_a_lifecycle_with_csrf(ops: Client) -> None:
    form = {"name": "order", "key": "detail.order-id", "steps": "OrderCreated\nOrderPaid", "timeout_seconds": "60"}
    assert ops.post("/transactions/", form).status_code == 403  # no CSRF token
    token = ops.get("/transactions/").cookies["csrftoken"].value
    response = ops.post("/transactions/", {**form, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"] == "/transactions/?lifecycle=order"
    lifecycle = Lifecycle.objects.get()
    assert (lifecycle.steps, lifecycle.timeout_seconds, lifecycle.pattern) == (["OrderCreated", "OrderPaid"], 60, None)


def test_an_invalid_definition_is_answered_with_the_reason(ops: Client) -> None:
    token = ops.get("/transactions/").cookies["csrftoken"].value
    form = {"name": "order", "key": "detail.id", "steps": "A\nA", "timeout_seconds": "60", "csrfmiddlewaretoken": token}
    response = ops.post("/transactions/", form)
    assert response.status_code == 400
    assert "Steps must be unique; repeated: A" in response.content.decode()
    response = ops.post("/transactions/", {**form, "steps": "A", "pattern": "{nope"})
    assert "The event pattern is not valid JSON." in response.content.decode()
    assert not Lifecycle.objects.exists()


@pytest.mark.usefixtures("transactional_db")
def test_in_a_browser_a_lifecycle_is_defined_and_its_funnel_drawn(page: Any, auth: dict[str, str]) -> None:
    page.goto("/transactions/")
    page.fill("#new-lifecycle input[name=name]", "order")
    page.fill("#new-lifecycle input[name=key]", "detail.order-id")
    page.fill("#new-lifecycle textarea[name=steps]", "OrderCreated\nOrderPaid\nOrderShipped")
    page.fill("#new-lifecycle input[name=timeout_seconds]", "900")
    page.click("#new-lifecycle button[type=submit]")
    page.wait_for_url("**/transactions/?lifecycle=order")
    assert page.locator("#lifecycles td.mono").first.inner_text() == "detail.order-id"
    page.wait_for_selector(".funnel-chart .funnel-step")  # fetched once the page is drawn
    assert page.locator(".funnel-chart .funnel-step").count() == 3
    assert page.script_errors == []


def _seed_review_mix(client: Client, auth: dict[str, str]) -> None:
    """o-1 complete, o-2 incomplete (long past its deadline), o-3 out of order, o-4 in progress."""
    assert client.post("/api/lifecycles", ORDER, content_type="application/json", headers=auth).status_code == 201
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    past = "2026-01-01T00:00:00Z"
    sent = [("o-1", step, past) for step in ORDER["steps"]] + [
        ("o-2", "OrderCreated", past),
        ("o-3", "OrderPaid", now),
        ("o-3", "OrderCreated", now),
        ("o-4", "OrderCreated", now),
    ]
    events = [
        {"source": "shop", "detail-type": step, "time": time, "detail": {"order-id": key}} for key, step, time in sent
    ]
    assert client.post("/api/events", events, content_type="application/json", headers=auth).status_code == 200


def _keys_in_table(html: str) -> list[str]:
    table = html.split('id="transactions"')[1].split("</table>")[0]
    return re.findall(r'class="mono tx-link"[^>]*>([^<]+)</a>', table)


def test_the_report_defaults_to_what_needs_review_with_all_one_click_away(ops: Client, auth: dict[str, str]) -> None:
    _seed_review_mix(ops, auth)
    html = ops.get("/transactions/").content.decode()
    assert _keys_in_table(html) == ["o-3", "o-2"]  # incomplete or out of order, newest first
    assert 'id="view-review" aria-current="true"' in html
    assert 'href="?show=all" id="view-all"' in html
    everything = ops.get("/transactions/", {"show": "all"}).content.decode()
    assert _keys_in_table(everything) == ["o-4", "o-3", "o-2", "o-1"]
    assert '<input type="hidden" name="show" value="all">' in everything  # filtering keeps the view
    # A status or out-of-order filter says what to show by itself; the switch keeps the other filters.
    complete = ops.get("/transactions/", {"status": "complete", "lifecycle": "order"}).content.decode()
    assert _keys_in_table(complete) == ["o-1"]
    assert 'href="?lifecycle=order" id="view-review"' in complete
    assert 'href="?lifecycle=order&amp;show=all" id="view-all"' in complete
    # The funnel counts every record the explicit filters select, whatever the view.
    assert 'data-src="/transactions/funnel"' in html


def test_paging_keeps_the_filters_both_ways(ops: Client, auth: dict[str, str]) -> None:
    _seed_review_mix(ops, auth)
    first = ops.get("/transactions/", {"lifecycle": "order", "show": "all", "limit": "2"}).content.decode()
    assert _keys_in_table(first) == ["o-4", "o-3"]
    assert 'id="newest"' not in first  # already the newest page
    older = re.search(r'href="([^"]+)" rel="next" id="older"', first)
    assert older
    url = html_unescape(older.group(1))
    assert url.startswith("?lifecycle=order&limit=2&show=all&cursor=")
    second = ops.get("/transactions/" + url).content.decode()
    assert _keys_in_table(second) == ["o-2", "o-1"]
    assert 'href="?lifecycle=order&amp;limit=2&amp;show=all" rel="first" id="newest"' in second


def test_trace_links_are_labelled_by_step(ops: Client, auth: dict[str, str]) -> None:
    assert ops.post("/api/lifecycles", ORDER, content_type="application/json", headers=auth).status_code == 201
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    events = [
        {"source": "shop", "detail-type": "OrderCreated", "detail": {"order-id": "o-1"},
         "traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
        {"source": "shop", "detail-type": "OrderPaid", "detail": {"order-id": "o-1"},
         "traceparent": f"00-{trace}-00f067aa0ba902b8-01"},
    ]  # fmt: skip
    assert ops.post("/api/events", events, content_type="application/json", headers=auth).status_code == 200
    html = ops.get("/transactions/", {"show": "all"}).content.decode()
    assert f'title="trace {trace}">trace: OrderCreated, OrderPaid</a>' in html
    assert 'href="/transactions/order/o-1/"' in html  # the row opens its transaction
    # A step's time, in its link's title, is in the pages' one format.
    assert re.search(r'title="OrderCreated event at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC"', html)


def test_the_funnel_shows_the_time_between_steps(ops: Client, auth: dict[str, str]) -> None:
    _seed_review_mix(ops, auth)
    chart = ops.get("/transactions/funnel").content.decode()
    timings = chart.split('class="data step-timings"')[1].split("</table>")[0]
    assert "OrderCreated → OrderPaid" in timings and "OrderPaid → OrderShipped" in timings
    assert timings.count("<tr>") == 3  # the header and one row per consecutive pair


@pytest.mark.usefixtures("transactional_db")
def test_in_a_browser_the_report_needs_review_first_and_fits_the_window(page: Any, auth: dict[str, str]) -> None:
    client = Client()
    assert client.post("/api/lifecycles", ORDER, content_type="application/json", headers=auth).status_code == 201
    # Long unbroken keys, many traces and long idempotency keys: what widened the page before.
    for n in range(8):
        key = f"o-{n}-" + "x" * 90
        for index, step in enumerate(ORDER["steps"][: 1 + n % 3]):
            event = {
                "source": "shop.orders", "detail-type": step, "time": "2026-01-01T00:00:00Z",
                "detail": {"order-id": key}, "traceparent": f"00-{n + 1:02d}{index:030x}-00f067aa0ba902b7-01",
            }  # fmt: skip
            headers = {**auth, "Idempotency-Key": f"{key}/{step}/" + "k" * 60}
            assert (
                client.post("/api/events", event, content_type="application/json", headers=headers).status_code == 200
            )
    page.goto("/transactions/")
    rows = page.locator("#transactions tbody tr")
    assert rows.count() == 6  # the complete ones (every third) are not what needs review
    assert page.locator("#view-review[aria-current=true]").count() == 1
    page.click("#view-all")
    page.wait_for_url("**/transactions/?show=all")
    assert rows.count() == 8
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto("/transactions/?show=all")
        page.wait_for_selector(".funnel-chart .funnel-step")  # the funnel and its timings are drawn
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, (width, page.evaluate("document.documentElement.scrollWidth"))
        # The funnel's text is drawn at its size (not a drawing scaled down to the window), and its
        # names, bars and counts are all inside the window.
        for part, least_height in ((".funnel-name", 12), (".funnel-count", 12), (".funnel-bar", 0)):
            boxes = page.locator(f".funnel-chart {part}").evaluate_all(
                "nodes => nodes.map(n => { const r = n.getBoundingClientRect(); return [r.right, r.height]; })"
            )
            assert len(boxes) == 3, (part, boxes)
            assert all(right <= width and height >= least_height for right, height in boxes), (width, part, boxes)
    assert page.script_errors == []
