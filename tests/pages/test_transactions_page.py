"""``/transactions/``: the report page — filters, funnel, CSV link, lifecycle list and create form."""

from __future__ import annotations

import re
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
    assert '<svg class="funnel-chart"' not in html
    fragment = ops.get("/transactions/funnel", {"lifecycle": "order", "out_of_order": "true"})
    assert fragment.status_code == 200
    chart = fragment.content.decode()
    assert chart.count('<g class="funnel-step">') == 3
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
    page.wait_for_selector("svg.funnel-chart .funnel-step")  # fetched once the page is drawn
    assert page.locator("svg.funnel-chart .funnel-step").count() == 3
    assert page.script_errors == []
